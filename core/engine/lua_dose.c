/* lua_dose.c — med.dose, the patient's dose facts and the dosing-table lookups for rules
 * (the API is described in lua_dose.h). */
#include "lua_dose.h"

#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "dose.h"
#include "patient_facts.h"
#include "lua_fields.h"
#include "sandbox.h"
#include "units.h"

/* An ISO date-time, UTC, as ctx.now writes it; nothing for an unknown time (0). */
static void setdate(lua_State *L, const char *k, time_t t)
{
    if (!t) return;
    cds_lua_pushtime(L, t);
    lua_setfield(L, -2, k);
}

/* --- med.dose ------------------------------------------------------------------------------- */

static int fill_dose(lua_State *L)
{
    const cds_view *v = cds_lua_view_current(L);
    if (lua_tointeger(L, lua_upvalueindex(2)) != cds_lua_view_serial(L))
        return luaL_error(L, "this table belongs to an earlier request's ctx; read ctx afresh in each evaluation");
    const cds_dose *d = cds_view_dose(v, (uint32_t)lua_tointeger(L, lua_upvalueindex(1)));
    luaL_checkstack(L, 8, "dose");
    lua_settop(L, 1);
    cds_lua_setnum(L, "amount", d->amount);
    cds_lua_setstr(L, "unit", d->unit);
    cds_lua_setnum(L, "doses_per_day", d->doses_per_day);
    cds_lua_setnum(L, "doses_per_day_min", d->doses_per_day_min);
    cds_lua_setnum(L, "interval_h", d->interval_h);
    cds_lua_setstr(L, "schedule", d->schedule);
    cds_lua_setstr(L, "route", d->route);
    cds_lua_setstr(L, "route_text", d->route_text);
    cds_lua_setstr(L, "route_from", d->route_from);
    cds_lua_setbool(L, "prn", d->prn);
    cds_lua_setbool(L, "per_kg", d->per_kg);
    if (d->per_kg) cds_lua_setnum(L, "weight_kg", d->weight_kg);
    cds_lua_setstr(L, "text", d->text);
    cds_lua_setstr(L, "not_computed", d->not_computed);
    cds_lua_setstr(L, "daily_not_computed", d->not_computed ? NULL : d->daily_not_computed);
    if (d->not_computed) return 0;
    static const char *const names[] = {"mg", "daily", "units"};
    for (int t = 0; t < 3; t++) {
        lua_createtable(L, 0, (int)d->ningredients);
        for (uint32_t g = 0; g < d->ningredients; g++) {
            const cds_dose_ingredient *di = &d->ingredients[g];
            const char *code = cds_kb_ingredient_at(v->kb, di->ingredient)->rxcui;
            double x = t == 0 ? di->per_admin : di->daily;
            if (t == 2) lua_pushstring(L, di->unit ? di->unit : "");
            else if (isnan(x)) continue;
            else lua_pushnumber(L, x);
            lua_setfield(L, -2, code);
        }
        cds_lua_seal(L);
        lua_setfield(L, 1, names[t]);
    }
    return 0;
}

void cds_lua_dose_set(lua_State *L, int idx, uint32_t med, long long serial)
{
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 4, "dose");
    lua_createtable(L, 0, 20);
    lua_pushinteger(L, med);
    lua_pushinteger(L, serial);
    lua_pushcclosure(L, fill_dose, 2);
    cds_sandbox_set_lazy(L, -2);
    cds_lua_seal(L);
    lua_setfield(L, idx, "dose");
}

/* --- ctx.patient ---------------------------------------------------------------------------- */

/* name, name_date, name_comparator when known; name_unknown (why) when not. */
static void fact(lua_State *L, const char *name, const char *date, const char *cmp, const char *unknown, const cds_fact *f)
{
    if (f->known) {
        cds_lua_setnum(L, name, f->value);
        if (date) setdate(L, date, f->when);
        cds_lua_setstr(L, cmp, f->comparator);
    } else {
        cds_lua_setstr(L, unknown, f->why ? f->why : "unknown");
    }
}

void cds_lua_patient_facts_fill(lua_State *L, int idx, const cds_view *v)
{
    const cds_patient_facts *f = cds_view_patient_facts(v);
    luaL_checkstack(L, 4, "patient");
    lua_pushvalue(L, idx);
    if (f->age_known) {
        lua_pushinteger(L, f->age_days);
        lua_setfield(L, -2, "age_days");
        lua_pushinteger(L, f->age_months);
        lua_setfield(L, -2, "age_months");
        lua_pushinteger(L, f->age_years);
        lua_setfield(L, -2, "age_years");
        cds_lua_setstr(L, "age_precision", f->age_precision);
    } else {
        cds_lua_setstr(L, "age_unknown", f->age_why);
    }
    fact(L, "weight_kg", "weight_date", "weight_kg_comparator", "weight_kg_unknown", &f->weight_kg);
    if (!f->weight_kg.known) cds_lua_setstr(L, "weight_unknown", f->weight_kg.why);
    fact(L, "height_cm", "height_date", "height_cm_comparator", "height_cm_unknown", &f->height_cm);
    if (!f->height_cm.known) cds_lua_setstr(L, "height_unknown", f->height_cm.why);
    fact(L, "bsa", NULL, "bsa_comparator", "bsa_unknown", &f->bsa);
    fact(L, "egfr", "egfr_date", "egfr_comparator", "egfr_unknown", &f->egfr);
    fact(L, "creatinine", "creatinine_date", "creatinine_comparator", "creatinine_unknown", &f->creatinine);
    fact(L, "crcl", "crcl_date", "crcl_comparator", "crcl_unknown", &f->crcl);
    cds_lua_setstr(L, "crcl_weight", f->crcl_weight);
    cds_lua_setbool(L, "dialysis", f->dialysis);
    cds_lua_setstr(L, "dialysis_condition", f->dialysis_condition);
    lua_pop(L, 1);
}

/* --- table lookups -------------------------------------------------------------------------- */
/* Each lookup builds new tables, the calling rule's own (as ctx.ingredient_codes): no other rule
 * sees them, so they are not sealed behind read-only proxies, which would cost a proxy per table
 * and a C call per read. */

#define MAXROWS 256

static const char *drug_arg(lua_State *L) { return luaL_checkstring(L, 1); }

static bool route_matches(const char *row, const char *want)
{
    return !want || !row || strcmp(row, "any") == 0 || strcmp(row, want) == 0;
}

static void push_list(lua_State *L, const char *s)   /* "a;b" -> {"a","b"} */
{
    lua_createtable(L, 4, 0);
    int n = 0;
    while (s && *s) {
        const char *e = strchr(s, ';');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        while (l && (*s == ' ')) { s++; l--; }
        while (l && s[l - 1] == ' ') l--;
        if (l) {
            lua_pushlstring(L, s, l);
            lua_rawseti(L, -2, ++n);
        }
        s = e ? e + 1 : NULL;
    }
}

/* Adds a reason to the skipped text at stack index `buf` (a string or nil). */
static void skip(lua_State *L, int buf, const char *id, const char *why)
{
    if (lua_isnil(L, buf)) lua_pushfstring(L, "%s: %s", id, why);
    else lua_pushfstring(L, "%s; %s: %s", lua_tostring(L, buf), id, why);
    lua_replace(L, buf);
}

static bool in_band(double x, double lo, double hi) { return (isnan(lo) || x >= lo) && (isnan(hi) || x < hi); }

static int ctx_dose_limits(lua_State *L)
{
    const cds_view *v = cds_lua_view_current(L);
    const char *drug = drug_arg(L), *route = luaL_optstring(L, 2, NULL);
    bool all = false;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "all");
        all = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    const cds_kb_dose_limit *rows[MAXROWS];
    size_t n = cds_kb_dose_limits(v->kb, drug, rows, MAXROWS);
    if (n > MAXROWS) n = MAXROWS;
    const cds_patient_facts *f = n && !all ? cds_view_patient_facts(v) : NULL;
    luaL_checkstack(L, 8, "dose_limits");
    lua_settop(L, 3);
    lua_pushnil(L);   /* 4: skipped */
    lua_createtable(L, (int)n, 0);   /* 5 */
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        const cds_kb_dose_limit *r = rows[i];
        if (!all) {
            if (!route_matches(r->route, route)) continue;
            bool aged = !isnan(r->age_min_days) || !isnan(r->age_max_days);
            bool weighed = !isnan(r->weight_min_kg) || !isnan(r->weight_max_kg);
            if (aged && !f->age_known) { skip(L, 4, r->id, f->age_why); continue; }
            if (aged && !in_band((double)f->age_days, r->age_min_days, r->age_max_days)) continue;
            if (weighed && !f->weight_kg.known) { skip(L, 4, r->id, f->weight_kg.why); continue; }
            if (weighed && !in_band(f->weight_kg.value, r->weight_min_kg, r->weight_max_kg)) continue;
        }
        lua_createtable(L, 0, 18);
        cds_lua_setstr(L, "id", r->id);
        cds_lua_setstr(L, "drug", r->drug);
        cds_lua_setstr(L, "drug_label", r->drug_label);
        cds_lua_setstr(L, "route", r->route);
        cds_lua_setstr(L, "unit", r->unit);
        cds_lua_setstr(L, "schedule", r->schedule);
        cds_lua_setstr(L, "indication", r->indication);
        cds_lua_setstr(L, "note", r->note);
        cds_lua_setstr(L, "source", r->source);
        cds_lua_setnum(L, "age_min_days", r->age_min_days);
        cds_lua_setnum(L, "age_max_days", r->age_max_days);
        cds_lua_setnum(L, "weight_min_kg", r->weight_min_kg);
        cds_lua_setnum(L, "weight_max_kg", r->weight_max_kg);
        cds_lua_setnum(L, "max_single", r->max_single);
        cds_lua_setnum(L, "max_daily", r->max_daily);
        cds_lua_setnum(L, "min_daily", r->min_daily);
        cds_lua_setnum(L, "max_single_per_kg", r->max_single_per_kg);
        cds_lua_setnum(L, "max_daily_per_kg", r->max_daily_per_kg);
        lua_rawseti(L, 5, ++k);
    }
    lua_pushvalue(L, 4);
    return 2;
}

static int ctx_renal_dosing(lua_State *L)
{
    const cds_view *v = cds_lua_view_current(L);
    const char *drug = drug_arg(L), *route = luaL_optstring(L, 2, NULL);
    const cds_kb_renal *rows[MAXROWS];
    size_t n = cds_kb_renal_dosing(v->kb, drug, rows, MAXROWS);
    if (n > MAXROWS) n = MAXROWS;
    const cds_patient_facts *f = n ? cds_view_patient_facts(v) : NULL;
    luaL_checkstack(L, 8, "renal_dosing");
    lua_settop(L, 2);
    lua_pushnil(L);   /* 3: skipped */
    lua_createtable(L, (int)n, 0);   /* 4 */
    int k = 0;
    bool unusable = false;
    for (size_t i = 0; i < n; i++) {
        const cds_kb_renal *r = rows[i];
        if (!route_matches(r->route, route)) continue;
        const cds_fact *m = NULL;
        if (strcmp(r->measure, "dialysis") == 0) {
            if (!f->dialysis) continue;
        } else {
            m = strcmp(r->measure, "crcl") == 0 ? &f->crcl : &f->egfr;
            if (!m->known) {
                skip(L, 3, r->id, lua_pushfstring(L, "%s unknown (%s)", r->measure, m->why));
                lua_pop(L, 1);
                unusable = unusable || m->unusable;
                continue;
            }
            if (!in_band(m->value, r->min, r->max)) continue;
        }
        lua_createtable(L, 0, 16);
        cds_lua_setstr(L, "id", r->id);
        cds_lua_setstr(L, "drug", r->drug);
        cds_lua_setstr(L, "drug_label", r->drug_label);
        cds_lua_setstr(L, "route", r->route);
        cds_lua_setstr(L, "measure", r->measure);
        cds_lua_setstr(L, "action", r->action);
        cds_lua_setstr(L, "unit", r->unit);
        cds_lua_setstr(L, "note", r->note);
        cds_lua_setstr(L, "source", r->source);
        cds_lua_setnum(L, "min", r->min);
        cds_lua_setnum(L, "max", r->max);
        cds_lua_setnum(L, "max_daily", r->max_daily);
        cds_lua_setnum(L, "interval_h", r->interval_h);
        if (m) {
            cds_lua_setnum(L, "value", m->value);
            setdate(L, "value_date", m->when);
            cds_lua_setstr(L, "value_comparator", m->comparator);
        } else {
            cds_lua_setstr(L, "value_condition", f->dialysis_condition);
        }
        lua_rawseti(L, 4, ++k);
    }
    lua_pushvalue(L, 3);
    lua_pushboolean(L, unusable);
    return 3;
}

static int ctx_routes(lua_State *L)
{
    const cds_view *v = cds_lua_view_current(L);
    const cds_kb_route_rule *rows[MAXROWS];
    size_t n = cds_kb_route_rules(v->kb, drug_arg(L), rows, MAXROWS);
    if (n > MAXROWS) n = MAXROWS;
    luaL_checkstack(L, 8, "routes");
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        const cds_kb_route_rule *r = rows[i];
        lua_createtable(L, 0, 8);
        cds_lua_setstr(L, "id", r->id);
        cds_lua_setstr(L, "drug", r->drug);
        cds_lua_setstr(L, "drug_label", r->drug_label);
        push_list(L, r->allowed);
        lua_setfield(L, -2, "allowed");
        push_list(L, r->forbidden);
        lua_setfield(L, -2, "forbidden");
        cds_lua_setstr(L, "severity", r->severity);
        cds_lua_setstr(L, "note", r->note);
        cds_lua_setstr(L, "source", r->source);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int ctx_daily_total(lua_State *L)
{
    const cds_view *v = cds_lua_view_current(L);
    uint32_t g = cds_kb_ingredient_by_code(v->kb, luaL_checkstring(L, 1));
    const char *route = luaL_optstring(L, 2, NULL);
    cds_daily_total t = {0};
    if (g != CDS_KB_NONE) cds_dose_daily_total(v, g, route, &t);
    luaL_checkstack(L, 8, "daily_total");
    if (t.nmeds) lua_pushnumber(L, t.amount);
    else lua_pushnil(L);
    if (t.unit) lua_pushstring(L, t.unit);
    else lua_pushnil(L);
    lua_createtable(L, (int)t.nmeds, 0);
    for (uint32_t i = 0; i < t.nmeds; i++) {
        lua_pushstring(L, v->meds[t.meds[i]].ref);
        lua_rawseti(L, -2, i + 1);
    }
    lua_createtable(L, (int)t.nuncounted, 0);
    for (uint32_t i = 0; i < t.nuncounted; i++) {
        lua_createtable(L, 0, 2);
        cds_lua_setstr(L, "ref", v->meds[t.uncounted[i]].ref);
        cds_lua_setstr(L, "reason", t.reasons[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 4;
}

static int ctx_convert(lua_State *L)
{
    double x = luaL_checknumber(L, 1), out;
    if (cds_unit_convert(x, luaL_checkstring(L, 2), luaL_checkstring(L, 3), &out)) lua_pushnumber(L, out);
    else lua_pushnil(L);
    return 1;
}

void cds_lua_dose_functions(lua_State *L)
{
    static const luaL_Reg fns[] = {{"dose_limits", ctx_dose_limits}, {"renal_dosing", ctx_renal_dosing},
                                   {"routes", ctx_routes}, {"daily_total", ctx_daily_total},
                                   {"convert", ctx_convert}, {NULL, NULL}};
    luaL_checkstack(L, 2, "ctx");
    for (const luaL_Reg *f = fns; f->name; f++) {
        lua_pushcfunction(L, f->func);
        lua_setfield(L, -2, f->name);
    }
}
