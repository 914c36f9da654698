/* lua_view.c — builds ctx: plain tables made once per request, then frozen behind read-only
 * proxies. Medication tables are shared between ctx.meds and the match records. */
#include "lua_view.h"

#include <ctype.h>
#include <lauxlib.h>
#include <lua.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "condition_match.h"
#include "lua_dose.h"
#include "lua_fields.h"
#include "mp.h"
#include "patient_facts.h"
#include "sandbox.h"

static const char SCOPE_KEY = 'V', MEDS_KEY = 'M', DDI_KEY = 'D', SERIAL_KEY = 'S';
static const char OBS_KEY = 'O';   /* this request's ctx.obs tables, by result number */
/* in a med's real table: (serial << 24) | its index in the view, for the C functions taking a med */
static const char MED_AT_KEY = 'I';
#define MED_INDEX_BITS 24
static lua_Integer current_serial(lua_State *L);

static cds_eval_scope *scope_of(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &SCOPE_KEY);
    cds_eval_scope *s = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (!s) luaL_error(L, "ctx can only be used while a rule is being evaluated");
    return s;
}

static void push_codes(lua_State *L, const cds_coding *c, uint32_t n)
{
    luaL_checkstack(L, 4, "codes");
    lua_createtable(L, (int)n, 0);
    for (uint32_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 3);
        cds_lua_setstr(L, "system", c[i].system);
        cds_lua_setstr(L, "code", c[i].code);
        cds_lua_setstr(L, "display", c[i].display);
        cds_lua_seal(L);
        lua_rawseti(L, -2, i + 1);
    }
    cds_lua_seal(L);
}

static void push_targets(lua_State *L, const cds_kb *kb, const uint32_t *t, uint32_t n)
{
    lua_createtable(L, (int)n, 0);
    for (uint32_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 3);
        if (t[i] & CDS_KB_CLASS) {
            const cds_kb_class *c = cds_kb_class_at(kb, t[i]);
            cds_lua_setstr(L, "class", c->id);
            cds_lua_setstr(L, "name", c->name);
        } else {
            const cds_kb_ingredient *g = cds_kb_ingredient_at(kb, t[i]);
            cds_lua_setstr(L, "code", g->rxcui);
            cds_lua_setstr(L, "name", g->name);
        }
        cds_lua_seal(L);
        lua_rawseti(L, -2, i + 1);
    }
    cds_lua_seal(L);
}

/* --- ctx functions ---------------------------------------------------------------------------- */

/* meds.any(spec) -> first matching medication or nil; meds.all(spec) -> list. spec may be a list
 * of specs: the medications matching any of them, each once, in one pass over the medications
 * (a therapeutic group of several members is one call, not a list per member to merge in Lua). */
#define MAX_SPECS 64
typedef enum { FIND_FIRST, FIND_ALL, FIND_COUNT_LIVE } find_mode;

/* An order still in effect once this request is signed: a draft, or an active order that this
 * request neither stops nor replaces (the duplication check's notion of "live"). */
static bool med_live(const cds_med *m) { return m->source == CDS_MED_DRAFT || !m->stopping; }

static int meds_find(lua_State *L, find_mode mode)
{
    cds_eval_scope *s = scope_of(L);
    cds_med_spec specs[MAX_SPECS];
    int nspecs = 0;
    if (lua_istable(L, 1)) {
        int total = (int)luaL_len(L, 1);
        if (total > MAX_SPECS) return luaL_error(L, "ctx.meds: at most %d drugs in one list (got %d)", MAX_SPECS, total);
        for (int i = 1; i <= total; i++) {
            lua_geti(L, 1, i);
            const char *w = lua_tostring(L, -1);
            if (!w) return luaL_error(L, "ctx.meds: entry %d of the list is not a drug name or code", i);
            cds_screen_spec(s->view, w, &specs[nspecs++]);
            lua_pop(L, 1);
        }
    } else {
        cds_screen_spec(s->view, luaL_checkstring(L, 1), &specs[nspecs++]);
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &MEDS_KEY);   /* the plain list of med tables */
    int list = lua_gettop(L);
    if (mode == FIND_ALL) lua_createtable(L, 0, 0);
    int k = 0;
    for (uint32_t i = 0; i < s->view->nmeds; i++) {
        const cds_med *m = &s->view->meds[i];
        if (mode == FIND_COUNT_LIVE && !med_live(m)) continue;
        int j = 0;
        while (j < nspecs && !cds_screen_med_has(s->view, m, &specs[j])) j++;
        if (j == nspecs) continue;
        if (mode == FIND_COUNT_LIVE) {
            k++;
            continue;
        }
        lua_rawgeti(L, list, i + 1);
        if (mode == FIND_FIRST) return 1;
        lua_rawseti(L, -2, ++k);
    }
    if (mode == FIND_FIRST) lua_pushnil(L);
    if (mode == FIND_COUNT_LIVE) lua_pushinteger(L, k);
    return 1;
}
static int meds_any(lua_State *L) { return meds_find(L, FIND_FIRST); }
static int meds_all(lua_State *L) { return meds_find(L, FIND_ALL); }
/* meds.live_count(spec) -> how many orders in effect once this request is signed hold it (no
 * tables built: a check that needs two or more asks this first) */
static int meds_live_count(lua_State *L) { return meds_find(L, FIND_COUNT_LIVE); }

/* conditions.any(x): x is a code (bare, or sct:/icd10:/loinc: for one system), "text:words", or a list of
 * those -> the first condition (in the order sent) any of them names, or nil (condition_match.h) */
static int conditions_any(lua_State *L)
{
    cds_eval_scope *s = scope_of(L);
    const cds_view *v = s->view;
    bool list = lua_istable(L, 1);
    if (!list) luaL_checkstring(L, 1);
    int total = list ? (int)luaL_len(L, 1) : 1;
    uint32_t best = CDS_NO_CONDITION;
    for (int i = 1; i <= total && best != 0; i++) {
        if (list) lua_rawgeti(L, 1, i);
        else lua_pushvalue(L, 1);
        uint32_t c = cds_view_condition_first(v, lua_tostring(L, -1));
        lua_pop(L, 1);
        if (c == CDS_CONDITION_UNKNOWN) return luaL_error(L, "conditions.any: the conditions could not be indexed (out of memory)");
        if (c < best) best = c;
    }
    if (best == CDS_NO_CONDITION) {
        lua_pushnil(L);
        return 1;
    }
    luaL_checkstack(L, 4, "conditions");
    lua_createtable(L, 0, 3);
    cds_lua_setstr(L, "text", v->conditions[best].text);
    if (v->conditions[best].id) {
        lua_pushfstring(L, "Condition/%s", v->conditions[best].id);
        lua_setfield(L, -2, "ref");
    }
    push_codes(L, v->conditions[best].codes, v->conditions[best].ncodes);
    lua_setfield(L, -2, "codes");
    cds_sandbox_push_readonly(L, -1);
    return 1;
}

/* obs(loinc) -> {value, unit, comparator, text, code, value_date, value_days, date, days_ago} or nil
 * (latest result for the code; code: the coded answer; value_days: a valueDateTime in days from now) */
static int ctx_obs(lua_State *L)
{
    cds_eval_scope *s = scope_of(L);
    const char *code = luaL_checkstring(L, 1);
    const cds_observation *filed = cds_view_obs_by_code(s->view, code);
    if (filed) {
        /* one table per result and request: checks ask for the same potassium or INR order after
         * order (read-only, so sharing it is safe) */
        lua_Integer at = (lua_Integer)(filed - s->view->obs) + 1;
        bool mine = false;   /* the cache is this request's (its serial at [0]), never an earlier one's */
        if (lua_rawgetp(L, LUA_REGISTRYINDEX, &OBS_KEY) == LUA_TTABLE) {
            mine = lua_rawgeti(L, -1, 0) == LUA_TNUMBER && lua_tointeger(L, -1) == current_serial(L);
            lua_pop(L, 1);
        }
        if (!mine) {
            lua_pop(L, 1);
            lua_createtable(L, 0, 4);
            lua_pushinteger(L, current_serial(L));
            lua_rawseti(L, -2, 0);
            lua_pushvalue(L, -1);
            lua_rawsetp(L, LUA_REGISTRYINDEX, &OBS_KEY);
        }
        if (lua_rawgeti(L, -1, at) == LUA_TTABLE) return 1;
        lua_pop(L, 1);
        int cache = lua_gettop(L);
        const cds_observation *o = cds_view_observation(s->view, (uint32_t)(filed - s->view->obs));
        lua_createtable(L, 0, 8);
        const msgpack_object *id = o->resource ? cds_mp_get(o->resource, "id") : NULL;
        if (id && id->type == MSGPACK_OBJECT_STR) {
            lua_pushliteral(L, "Observation/");
            lua_pushlstring(L, id->via.str.ptr, id->via.str.size);
            lua_concat(L, 2);
            lua_setfield(L, -2, "ref");
        }
        if (o->has_value) cds_lua_setnum(L, "value", o->value);
        cds_lua_setstr(L, "unit", o->unit);
        cds_lua_setstr(L, "text", o->value_text ? o->value_text : o->display);
        cds_lua_setstr(L, "code", o->value_code);
        cds_lua_setstr(L, "comparator", o->comparator);
        if (o->value_time) {
            cds_lua_pushtime(L, o->value_time);
            lua_setfield(L, -2, "value_date");
            cds_lua_setnum(L, "value_days", (double)(o->value_time - s->view->now) / 86400.0);
        }
        if (o->when) {
            cds_lua_pushtime(L, o->when);
            lua_setfield(L, -2, "date");
            cds_lua_setnum(L, "days_ago", (double)(s->view->now - o->when) / 86400.0);
        }
        cds_lua_seal(L);
        lua_pushvalue(L, -1);
        lua_rawseti(L, cache, at);
        return 1;
    }
    lua_pushnil(L);
    return 1;
}

/* The view's medication behind a med table of this request's ctx (argument arg), or an error. */
static const cds_med *med_arg(lua_State *L, cds_eval_scope *s, int arg)
{
    lua_Integer at = -1;
    if (cds_sandbox_push_real_raw(L, arg) == LUA_TTABLE) {
        if (lua_rawgetp(L, -1, &MED_AT_KEY) == LUA_TNUMBER) at = lua_tointeger(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (at < 0) luaL_argerror(L, arg, "a medication from ctx is expected");
    if ((at >> MED_INDEX_BITS) != current_serial(L))
        luaL_error(L, "this medication belongs to an earlier request's ctx; read ctx afresh in each evaluation");
    lua_Integer i = at & ((1 << MED_INDEX_BITS) - 1);
    if (i >= (lua_Integer)s->view->nmeds) luaL_argerror(L, arg, "a medication from ctx is expected");
    return &s->view->meds[i];
}

/* ingredient_codes(med) -> a new list of the RxNorm codes of its ingredients (no read-only proxy
 * to build: the list is the caller's own) */
static int ctx_ingredient_codes(lua_State *L)
{
    cds_eval_scope *s = scope_of(L);
    const cds_med *m = med_arg(L, s, 1);
    lua_createtable(L, (int)m->ningredients, 0);
    for (uint32_t i = 0; i < m->ningredients; i++) {
        lua_pushstring(L, cds_kb_ingredient_at(s->view->kb, m->ingredients[i])->rxcui);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* rows_for(med, index) -> the rows that index (RxNorm ingredient code -> list of rows, as
 * index_by_ingredient makes it) holds for the medication's ingredients, each row once, in the
 * order of its ingredients; nil when there are none, which is most orders: a check reads no
 * ingredient table and builds nothing for a drug its table does not name. */
static int ctx_rows_for(lua_State *L)
{
    cds_eval_scope *s = scope_of(L);
    const cds_med *m = med_arg(L, s, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    int n = 0;
    for (uint32_t i = 0; i < m->ningredients; i++) {
        if (lua_getfield(L, 2, cds_kb_ingredient_at(s->view->kb, m->ingredients[i])->rxcui) != LUA_TTABLE) {
            lua_pop(L, 1);
            continue;
        }
        int rows = lua_gettop(L);
        if (!n) lua_createtable(L, 4, 0), lua_insert(L, 3), rows++;   /* the result, below the rows list */
        for (lua_Integer k = 1; lua_geti(L, rows, k) != LUA_TNIL; k++) {
            bool seen = false;
            for (int j = 1; j <= n && !seen; j++) {
                lua_rawgeti(L, 3, j);
                seen = lua_rawequal(L, -1, -2);
                lua_pop(L, 1);
            }
            if (seen) lua_pop(L, 1);
            else lua_rawseti(L, 3, ++n);
        }
        lua_pop(L, 2);   /* the nil ending the list, the rows list */
    }
    if (!n) lua_pushnil(L);
    else lua_settop(L, 3);
    return 1;
}

static bool side_matches(const cds_view *v, uint32_t med, const cds_med_spec *spec)
{
    return cds_screen_med_has(v, &v->meds[med], spec);
}

/* interaction(x, y) -> the first interaction record whose sides match x and y (either order) */
static int ctx_interaction(lua_State *L)
{
    cds_eval_scope *s = scope_of(L);
    cds_med_spec x, y;
    cds_screen_spec(s->view, luaL_checkstring(L, 1), &x);
    const char *ys = luaL_optstring(L, 2, NULL);
    cds_screen_spec(s->view, ys, &y);   /* no second argument: any partner */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &DDI_KEY);   /* plain list of interaction records */
    for (uint32_t i = 0; i < s->nddi; i++) {
        const cds_ddi_hit *h = &s->ddi[i];
        bool ok = (side_matches(s->view, h->med_a, &x) && (!ys || side_matches(s->view, h->med_b, &y))) ||
                  (side_matches(s->view, h->med_b, &x) && (!ys || side_matches(s->view, h->med_a, &y)));
        if (!ok) continue;
        lua_rawgeti(L, -1, i + 1);
        return 1;
    }
    lua_pushnil(L);
    return 1;
}

/* --- building ctx ------------------------------------------------------------------------------ */

/* The number of the evaluation in progress in this state (one per request). */
static lua_Integer current_serial(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &SERIAL_KEY);
    lua_Integer n = lua_tointeger(L, -1);
    lua_pop(L, 1);
    return n;
}

/* Lazy fields (codes, ingredients/substances; conditions' codes): a third of building ctx, and
 * most rules never read them. The filler points into this request's view, so it refuses to run
 * for a table a rule kept from an earlier request (the view is gone by then). */
typedef enum { LAZY_MED, LAZY_ALLERGY, LAZY_CONDITION, LAZY_PATIENT } lazy_kind;

const cds_view *cds_lua_view_current(lua_State *L) { return scope_of(L)->view; }
long long cds_lua_view_serial(lua_State *L) { return current_serial(L); }

/* ref = "Type/id" on the table at index 1 (for explanations), when the resource has an id */
static void push_ref(lua_State *L, const char *type, const char *id)
{
    if (!id) return;
    lua_pushfstring(L, "%s/%s", type, id);
    lua_setfield(L, 1, "ref");
}

static int fill_lazy_fields(lua_State *L)
{
    cds_eval_scope *s = scope_of(L);
    if (lua_tointeger(L, lua_upvalueindex(3)) != current_serial(L))
        return luaL_error(L, "this table belongs to an earlier request's ctx; read ctx afresh in each evaluation");
    const void *e = lua_touserdata(L, lua_upvalueindex(1));
    lua_Integer kind = lua_tointeger(L, lua_upvalueindex(2));
    if (kind == LAZY_CONDITION) {
        const cds_condition *c = e;
        push_codes(L, c->codes, c->ncodes);
        lua_setfield(L, 1, "codes");
        push_ref(L, "Condition", c->id);
    } else if (kind == LAZY_MED) {
        const cds_med *m = e;
        push_codes(L, m->codes, m->ncodes);
        lua_setfield(L, 1, "codes");
        push_targets(L, s->view->kb, m->ingredients, m->ningredients);
        lua_setfield(L, 1, "ingredients");
        cds_lua_dose_set(L, 1, (uint32_t)(m - s->view->meds), current_serial(L));   /* itself lazy */
    } else if (kind == LAZY_PATIENT) {
        cds_lua_patient_facts_fill(L, 1, s->view);
    } else {
        const cds_allergy *a = e;
        push_codes(L, a->codes, a->ncodes);
        lua_setfield(L, 1, "codes");
        push_ref(L, "AllergyIntolerance", a->id);
        push_targets(L, s->view->kb, a->targets, a->ntargets);
        lua_setfield(L, 1, "substances");
    }
    return 0;
}

static void set_lazy(lua_State *L, const void *entity, lazy_kind kind)
{
    lua_pushlightuserdata(L, (void *)entity);
    lua_pushinteger(L, kind);
    lua_pushinteger(L, current_serial(L));
    lua_pushcclosure(L, fill_lazy_fields, 3);
    cds_sandbox_set_lazy(L, -2);
}

static void push_med(lua_State *L, const cds_view *v, const cds_med *m)
{
    luaL_checkstack(L, 6, "med");
    lua_createtable(L, 0, 20);   /* room for the lazy fields too: filling them must not rehash */
    cds_lua_setstr(L, "ref", m->ref);
    cds_lua_setstr(L, "id", m->id);
    cds_lua_setstr(L, "resource_type", m->resource_type);
    cds_lua_setstr(L, "text", m->text);
    cds_lua_setstr(L, "status", m->status);
    cds_lua_setstr(L, "prior", m->prior);          /* the order a draft replaces (priorPrescription) */
    cds_lua_setbool(L, "stopping", m->stopping);   /* an active order this request stops */
    cds_lua_setbool(L, "draft", m->source == CDS_MED_DRAFT);
    cds_lua_setbool(L, "active", m->source == CDS_MED_ACTIVE);
    cds_lua_setbool(L, "selected", m->selected);
    cds_lua_setbool(L, "resolved", m->resolved);
    cds_lua_setbool(L, "name_match", m->name_match);
    set_lazy(L, m, LAZY_MED);   /* codes, ingredients */
    lua_pushinteger(L, (current_serial(L) << MED_INDEX_BITS) | (lua_Integer)(m - v->meds));
    lua_rawsetp(L, -2, &MED_AT_KEY);
    /* A name for cards: the ingredient names ("warfarin"), else the text. */
    if (m->ningredients) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (uint32_t i = 0; i < m->ningredients; i++) {
            if (i) luaL_addstring(&b, " / ");
            luaL_addstring(&b, cds_kb_ingredient_at(v->kb, m->ingredients[i])->name);
        }
        luaL_pushresult(&b);
    } else {
        lua_pushstring(L, m->text);
    }
    lua_setfield(L, -2, "name");
    cds_lua_seal(L);
}

static void push_allergy(lua_State *L, const cds_allergy *a)
{
    luaL_checkstack(L, 6, "allergy");
    lua_createtable(L, 0, 12);
    cds_lua_setstr(L, "id", a->id);
    cds_lua_setstr(L, "text", a->text);
    cds_lua_setstr(L, "type", a->type);
    cds_lua_setstr(L, "category", a->category);
    cds_lua_setstr(L, "criticality", a->criticality);
    cds_lua_setstr(L, "status", a->clinical_status);
    cds_lua_setstr(L, "verification", a->verification_status);
    cds_lua_setstr(L, "reaction", a->reaction);
    cds_lua_setbool(L, "resolved", a->resolved);
    set_lazy(L, a, LAZY_ALLERGY);   /* codes, substances */
    cds_lua_seal(L);
}

static void setfn(lua_State *L, const char *k, lua_CFunction f)
{
    lua_pushcfunction(L, f);
    lua_setfield(L, -2, k);
}

void cds_lua_view_push(lua_State *L, cds_eval_scope *s)
{
    const cds_view *v = s->view;
    luaL_checkstack(L, 24, "ctx");
    lua_pushlightuserdata(L, s);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &SCOPE_KEY);
    lua_pushinteger(L, current_serial(L) + 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &SERIAL_KEY);

    lua_createtable(L, 0, 16);   /* ctx */
    int ctx = lua_gettop(L);
    cds_lua_setstr(L, "hook", v->req->hook);
    cds_lua_setstr(L, "hook_instance", v->req->hook_instance);
    cds_lua_setstr(L, "patient_id", v->req->patient_id);   /* for building resources in suggestions */
    cds_lua_pushtime(L, v->now);
    lua_setfield(L, ctx, "now");
    cds_lua_setbool(L, "order_hook", cds_screen_is_order_hook(v));

    lua_createtable(L, 0, 4);
    if (v->patient.age >= 0) {   /* an integer, so rules print "age 86", not "age 86.0" */
        lua_pushinteger(L, v->patient.age);
        lua_setfield(L, -2, "age");
    }
    cds_lua_setstr(L, "sex", v->patient.sex);
    if (v->patient.weight_kg > 0) cds_lua_setnum(L, "weight", v->patient.weight_kg);
    cds_lua_setbool(L, "known", v->patient.found);
    /* the age now (cheap, and the age checks read it for most orders); the lab-based facts only
     * when a rule asks for one (they walk the results) */
    cds_patient_facts age = {0};
    cds_patient_age(v, &age);
    if (age.age_known) {
        lua_pushinteger(L, age.age_days);
        lua_setfield(L, -2, "age_days");
        lua_pushinteger(L, age.age_months);
        lua_setfield(L, -2, "age_months");
        lua_pushinteger(L, age.age_years);
        lua_setfield(L, -2, "age_years");
        cds_lua_setstr(L, "age_precision", age.age_precision);
    }
    set_lazy(L, &v->patient, LAZY_PATIENT);   /* weight_kg, egfr, crcl, ... (lua_dose.h) */
    cds_lua_seal(L);
    lua_setfield(L, ctx, "patient");

    /* meds: kept plain in the registry too, so functions return the same tables */
    lua_createtable(L, (int)v->nmeds, 2);
    int meds = lua_gettop(L);
    for (uint32_t i = 0; i < v->nmeds; i++) {
        push_med(L, v, &v->meds[i]);
        lua_rawseti(L, meds, i + 1);
    }
    lua_createtable(L, 0, 0);
    int unresolved = lua_gettop(L);
    for (uint32_t i = 0, k = 0; i < v->nmeds; i++) {
        if (v->meds[i].resolved) continue;
        lua_rawgeti(L, meds, i + 1);
        lua_rawseti(L, unresolved, ++k);
    }
    cds_lua_seal(L);
    lua_setfield(L, ctx, "unresolved");

    lua_createtable(L, (int)v->nallergies, 0);
    int allergies = lua_gettop(L);
    for (uint32_t i = 0; i < v->nallergies; i++) {
        push_allergy(L, &v->allergies[i]);
        lua_rawseti(L, allergies, i + 1);
    }

    lua_createtable(L, (int)v->norders, 0);
    for (uint32_t i = 0; i < v->norders; i++) {
        lua_createtable(L, 0, 5);
        cds_lua_setstr(L, "ref", v->orders[i].ref);
        cds_lua_setstr(L, "resource_type", v->orders[i].resource_type);
        cds_lua_setstr(L, "status", v->orders[i].status);
        cds_lua_setstr(L, "text", v->orders[i].text);
        push_codes(L, v->orders[i].codes, v->orders[i].ncodes);
        lua_setfield(L, -2, "codes");
        cds_lua_seal(L);
        lua_rawseti(L, -2, i + 1);
    }
    cds_lua_seal(L);
    lua_setfield(L, ctx, "orders");

    lua_createtable(L, (int)v->nconditions, 1);
    for (uint32_t i = 0; i < v->nconditions; i++) {
        lua_createtable(L, 0, 2);
        cds_lua_setstr(L, "text", v->conditions[i].text);
        set_lazy(L, &v->conditions[i], LAZY_CONDITION);   /* codes */
        cds_lua_seal(L);
        lua_rawseti(L, -2, i + 1);
    }
    setfn(L, "any", conditions_any);
    cds_lua_seal(L);
    lua_setfield(L, ctx, "conditions");

    /* interactions */
    lua_createtable(L, (int)s->nddi, 0);
    int ddi = lua_gettop(L);
    for (uint32_t i = 0; i < s->nddi; i++) {
        const cds_ddi_hit *h = &s->ddi[i];
        const cds_kb_interaction *x = cds_kb_interaction_at(v->kb, h->ix);
        lua_createtable(L, 0, 16);
        cds_lua_setstr(L, "id", x->id);
        cds_lua_setstr(L, "severity", x->severity);
        cds_lua_setstr(L, "list", x->list);
        cds_lua_setstr(L, "mechanism", x->mechanism);
        cds_lua_setstr(L, "consequence", x->consequence);
        cds_lua_setstr(L, "management", x->management);
        cds_lua_setstr(L, "alternative", x->alternative);
        cds_lua_setstr(L, "source", x->source);
        cds_lua_setstr(L, "applies_if", x->applies_if);
        cds_lua_setstr(L, "a_label", x->a_label);
        cds_lua_setstr(L, "b_label", x->b_label);
        cds_lua_setstr(L, "a_ingredient", cds_kb_ingredient_at(v->kb, h->ing_a)->name);
        cds_lua_setstr(L, "b_ingredient", cds_kb_ingredient_at(v->kb, h->ing_b)->name);
        lua_rawgeti(L, meds, h->med_a + 1);
        lua_setfield(L, -2, "a");
        lua_rawgeti(L, meds, h->med_b + 1);
        lua_setfield(L, -2, "b");
        /* the order being placed: a selected draft (b first when both are) */
        const cds_med *mb = &v->meds[h->med_b];
        uint32_t d = (mb->source == CDS_MED_DRAFT && mb->selected) ? h->med_b : h->med_a;
        if (v->meds[d].source == CDS_MED_DRAFT) {
            lua_rawgeti(L, meds, d + 1);
            lua_setfield(L, -2, "draft");
            lua_rawgeti(L, meds, (d == h->med_a ? h->med_b : h->med_a) + 1);
            lua_setfield(L, -2, "other");
        }
        cds_lua_seal(L);
        lua_rawseti(L, ddi, i + 1);
    }
    lua_pushvalue(L, ddi);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &DDI_KEY);   /* the plain list, for ctx.interaction() */
    cds_sandbox_push_readonly(L, ddi);
    lua_setfield(L, ctx, "interactions");

    lua_createtable(L, (int)s->nallergy, 0);
    for (uint32_t i = 0; i < s->nallergy; i++) {
        const cds_allergy_hit *h = &s->allergy[i];
        lua_createtable(L, 0, 8);
        lua_rawgeti(L, allergies, h->allergy + 1);
        lua_setfield(L, -2, "allergy");
        lua_rawgeti(L, meds, h->med + 1);
        lua_setfield(L, -2, "med");
        cds_lua_setstr(L, "ingredient", cds_kb_ingredient_at(v->kb, h->ingredient)->name);
        cds_lua_setstr(L, "via", cds_kb_target_name(v->kb, h->via));
        cds_lua_setbool(L, "cross", h->cross);
        cds_lua_setstr(L, "level", h->level);
        cds_lua_setstr(L, "note", h->note);
        cds_lua_seal(L);
        lua_rawseti(L, -2, i + 1);
    }
    cds_lua_seal(L);
    lua_setfield(L, ctx, "allergy_matches");

    cds_sandbox_push_readonly(L, allergies);
    lua_setfield(L, ctx, "allergies");
    lua_createtable(L, 0, 0);
    for (uint32_t i = 0, k = 0; i < v->nallergies; i++) {
        if (v->allergies[i].resolved) continue;
        lua_rawgeti(L, allergies, i + 1);
        lua_rawseti(L, -2, ++k);
    }
    cds_lua_seal(L);
    lua_setfield(L, ctx, "unresolved_allergies");
    /* prefetch values that were OperationOutcomes, less the required keys the engine answers
     * with a "did not run" card of their own (said once, not twice) */
    lua_Integer perr = v->prefetch_errors;
    for (size_t k = 0; k < s->nprefetch; k++) perr -= s->prefetch[k].required && s->prefetch[k].state == CDS_PF_ERROR;
    lua_pushinteger(L, perr > 0 ? perr : 0);
    lua_setfield(L, ctx, "prefetch_errors");
    /* ctx.prefetch.KEY: "sent", "none" (null: no data), "partial", "error" or "absent" for each
     * of the service's keys: a rule that needs a list checks it was looked at before it claims
     * that something is missing from it */
    lua_createtable(L, 0, (int)s->nprefetch);
    for (size_t k = 0; k < s->nprefetch; k++) cds_lua_setstr(L, s->prefetch[k].key, cds_prefetch_state_name(s->prefetch[k].state));
    cds_lua_seal(L);
    lua_setfield(L, ctx, "prefetch");

    /* ctx.selected: the orders being placed (order-select: the selections; order-sign: every
     * draft; patient-view: none), the same tables as in ctx.meds: the order checks iterate
     * these few instead of the whole medication list */
    lua_createtable(L, 4, 0);
    for (uint32_t i = 0, k = 0; i < v->nmeds; i++) {
        if (!v->meds[i].selected) continue;
        lua_rawgeti(L, meds, i + 1);
        lua_rawseti(L, -2, ++k);
    }
    cds_lua_seal(L);
    lua_setfield(L, ctx, "selected");

    lua_pushvalue(L, meds);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &MEDS_KEY);   /* the plain list, for meds.any/all */
    lua_pushvalue(L, meds);
    setfn(L, "any", meds_any);
    setfn(L, "all", meds_all);
    setfn(L, "live_count", meds_live_count);
    cds_lua_seal(L);
    lua_setfield(L, ctx, "meds");
    lua_pushvalue(L, ctx);
    setfn(L, "obs", ctx_obs);
    setfn(L, "rows_for", ctx_rows_for);
    setfn(L, "ingredient_codes", ctx_ingredient_codes);
    setfn(L, "interaction", ctx_interaction);
    cds_lua_dose_functions(L);   /* dose_limits, renal_dosing, routes, daily_total, convert */
    cds_lua_seal(L);
    lua_replace(L, ctx);        /* ctx slot <- proxy */
    lua_settop(L, ctx);
}

void cds_lua_view_done(lua_State *L)
{
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &OBS_KEY);
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &SCOPE_KEY);
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &MEDS_KEY);
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &DDI_KEY);
}
