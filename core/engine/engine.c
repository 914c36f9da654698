/* engine.c — per-worker evaluation: compiled rules in a sandboxed state, request -> cards. */
#include "engine.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "card.h"
#include "clock.h"
#include "rule_decl.h"
#include "rule_tables.h"
#include "lua_table.h"
#include "lua_view.h"
#include "mp.h"
#include "request.h"
#include "sandbox.h"
#include "screen.h"
#include "unavailable_card.h"
#include "view.h"

struct cds_engine {
    const cds_ruleset *rs;
    cds_sandbox *sb;
    int *evaluate_refs;       /* per rule in rs->rules order */
    size_t nrules;
};

/* A safety valve against runaway loops, well above clinical counts (one card per interacting
 * pair): 30 000 cards made an 11 MB response and as many audit rows, holding up every other
 * reply behind that commit. Over it, the rule fails visibly ("did not run", with the reason). */
#define MAX_CARDS_PER_RULE 200

cds_engine *cds_engine_new(const cds_ruleset *rs, cds_strbuf *diag)
{
    cds_engine *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->rs = rs;
    if (!(e->sb = cds_rule_state_new(&rs->limits, diag))) {
        free(e);
        return NULL;
    }
    /* the same knowledge base and tables the loader checked the files against */
    cds_rule_state_set_kb(e->sb, rs->kb);
    cds_rule_state_set_tables(e->sb, rs->tables, rs->ntables);
    cds_rule_info *list = NULL;
    size_t n = 0;
    bool ok = cds_rule_decls_run(e->sb, rs->files, rs->nfiles, &list, &e->evaluate_refs, &n, diag);
    /* the files were read once, at load: the same rules in the same order, or a broken set */
    if (ok && n != rs->nrules) {
        cds_strbuf_printf(diag, "rule set changed while loading (%zu rules, expected %zu)\n", n, rs->nrules);
        ok = false;
    }
    for (size_t i = 0; ok && i < n; i++)
        if (strcmp(list[i].id, rs->rules[i].id) != 0) ok = false;
    cds_rule_infos_free(list, n);
    e->nrules = n;
    if (!ok) {
        cds_engine_free(e);
        return NULL;
    }
    return e;
}


void cds_engine_free(cds_engine *e)
{
    if (!e) return;
    cds_sandbox_free(e->sb);
    free(e->evaluate_refs);
    free(e);
}

const cds_ruleset *cds_engine_ruleset(const cds_engine *e) { return e->rs; }

/* evaluate(ctx), then a check of its result, both inside the rule's protected, budgeted call:
 * the engine reads the result afterwards, unprotected, so a metamethod a rule attached there
 * (an __index that errors or never ends) would abort or hang the process. */
static int evaluate_checked(lua_State *L)
{
    lua_call(L, 1, 1);
    char where[160];
    const char *why = cds_sandbox_result_plain(L, 1, where, sizeof where);
    if (why) return luaL_error(L, "evaluate returned %s at result%s", why, where);
    return 1;
}

static bool has_hook(const cds_rule_info *r, const char *hook)
{
    for (size_t i = 0; i < r->nhooks; i++)
        if (strcmp(r->hooks[i], hook) == 0) return true;
    return false;
}

/* Collected output of one rule: Lua card tables on a list in the registry. */
typedef struct pending_card { size_t rule; int ref; const char *key; } pending_card;

cds_rc cds_call_prepare(const cds_ruleset *rs, const char *service, const msgpack_object *request,
                        const char *base_path, cds_arena *a, cds_call *c, cds_error *err)
{
    memset(c, 0, sizeof *c);
    c->rs = rs;
    c->request = request;
    c->base_path = base_path;
    c->service = cds_ruleset_service(rs, service);
    if (!c->service)
        return cds_error_set(err, CDS_EUNKNOWN_SVC, "service", "unknown service '%s'", service ? service : "");
    cds_rc rc = cds_request_parse(request, base_path, a, &c->req, err);
    if (rc) return rc;
    const cds_service *svc = c->service;
    if (strcmp(c->req.hook, svc->hook) != 0) {
        char path[300];
        snprintf(path, sizeof path, "%s.hook", base_path);
        return cds_error_set(err, CDS_EHOOK, path, "service '%s' answers the '%s' hook, not '%s'", svc->id, svc->hook,
                             c->req.hook);
    }
    c->ngaps = cds_prefetch_gaps(svc, request, c->gaps, CDS_PREFETCH_MAX_KEYS);
    return CDS_OK;
}

void cds_call_complete(cds_call *c, const msgpack_object *completed)
{
    /* Only the prefetch differs from the request that was validated: the other fields still
     * point into the original, which lives as long as the call. */
    c->request = completed;
    c->req.root = completed;
    const msgpack_object *p = cds_mp_get(completed, "prefetch");
    c->req.prefetch = p && p->type == MSGPACK_OBJECT_MAP ? p : NULL;
    c->ngaps = cds_prefetch_gaps(c->service, completed, c->gaps, CDS_PREFETCH_MAX_KEYS);
}

cds_rc cds_engine_call(cds_engine *e, const char *service, const msgpack_object *request, const char *base_path,
                       time_t now, cds_arena *a, msgpack_packer *pk, cds_eval_info *info, cds_error *err)
{
    cds_call c;
    memset(info, 0, sizeof *info);
    cds_rc rc = cds_call_prepare(e->rs, service, request, base_path, a, &c, err);
    if (rc) {
        info->hook = c.req.hook;
        info->hook_instance = c.req.hook_instance;
        info->patient_id = c.req.patient_id;
        return rc;
    }
    return cds_engine_run(e, &c, now, a, pk, info, err);
}

/* 0 critical, 1 warning, 2 info (cards are checked to carry one of the three). */
static int tier_of(const char *indicator)
{
    if (indicator && strcmp(indicator, "critical") == 0) return 0;
    if (indicator && strcmp(indicator, "warning") == 0) return 1;
    return 2;
}

/* An order hook's drafts name a medication (a code or a text): then the lists it is screened
 * against matter. */
static bool has_medication_draft(const cds_view *v)
{
    for (uint32_t i = 0; i < v->nmeds; i++)
        if (v->meds[i].source == CDS_MED_DRAFT && (v->meds[i].ncodes || strcmp(v->meds[i].text, "unnamed medication")))
            return true;
    return false;
}

/* The rule's key for the collected card at idx (its `key`, else "#i"): rule + key is "the same alert". */
static void card_key(lua_State *L, int idx, size_t i, char *key, size_t len)
{
    lua_getfield(L, idx, "_key");
    if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) snprintf(key, len, "%s", lua_tostring(L, -1));
    else snprintf(key, len, "#%zu", i);
    lua_pop(L, 1);
}

/* Repeat suppression (README "Repeat suppression"): for each collected card of a rule that
 * declares it (critical cards only when the rule says critical = "also"), asks the service
 * whether it repeats an alert; a repeat is demoted to info with the extension
 * "org.cdsd.suppression" (why, the indicator it had, not interrupting), or dropped. The entry
 * ({card, rule index}) gets why at [3] and, when dropped, true at [4]. Returns how many dropped. */
static size_t suppress_repeats(lua_State *L, int cards, size_t ncards, const cds_ruleset *rs, const cds_call *c,
                               cds_arena *a)
{
    size_t dropped = 0;
    for (size_t i = 1; c->suppress && i <= ncards; i++) {
        lua_rawgeti(L, cards, (lua_Integer)i);
        int entry = lua_gettop(L);
        lua_rawgeti(L, entry, 2);
        const cds_rule_info *ri = &rs->rules[(size_t)lua_tointeger(L, -1)];
        const cds_rule_suppress *sp = &ri->suppress;
        lua_rawgeti(L, entry, 1);
        int card = lua_gettop(L);
        lua_getfield(L, card, "indicator");
        const char *was = lua_tostring(L, -1);
        char key[256], uuid[37];
        const char *why = NULL;
        if ((sp->after_override_s || sp->once_per_encounter) && (sp->critical || tier_of(was) != 0)) {
            card_key(L, card, i, key, sizeof key);
            cds_uuid(c->req.hook_instance, ri->id, key, uuid);
            why = c->suppress->repeat(c->suppress->arg, ri, key, uuid, a);
        }
        if (why && sp->drop) {
            lua_pushboolean(L, 1);
            lua_rawseti(L, entry, 4);
            dropped++;
        } else if (why) {
            if (lua_getfield(L, card, "extension") != LUA_TTABLE) {
                lua_pop(L, 1);
                lua_createtable(L, 0, 1);
                lua_pushvalue(L, -1);
                lua_setfield(L, card, "extension");
            }
            lua_createtable(L, 0, 4);
            lua_pushliteral(L, "demoted");
            lua_setfield(L, -2, "action");
            lua_pushvalue(L, -3);   /* the indicator it had */
            lua_setfield(L, -2, "indicator");
            lua_pushstring(L, why);
            lua_setfield(L, -2, "reason");
            lua_pushboolean(L, 0);
            lua_setfield(L, -2, "interrupts");
            lua_setfield(L, -2, "org.cdsd.suppression");
            lua_pushliteral(L, "info");
            lua_setfield(L, card, "indicator");
        }
        if (why) {
            lua_pushstring(L, why);
            lua_rawseti(L, entry, 3);
        }
        lua_settop(L, cards);
    }
    return dropped;
}

/* Dropped repeats, after the cards shown: not in the response, but in the audit row (a card row
 * with indicator "suppressed" and why in its ext), so the rule still counts as firing while the
 * burden by indicator counts only what clinicians saw. */
static void dropped_cards_out(lua_State *L, int cards, size_t ncards, const cds_ruleset *rs, const char *hook_instance,
                              cds_arena *a, cds_eval_info *info)
{
    for (size_t i = 1; i <= ncards; i++) {
        lua_rawgeti(L, cards, (lua_Integer)i);
        int entry = lua_gettop(L);
        lua_rawgeti(L, entry, 4);
        if (lua_toboolean(L, -1)) {
            lua_rawgeti(L, entry, 2);
            const cds_rule_info *ri = &rs->rules[(size_t)lua_tointeger(L, -1)];
            lua_rawgeti(L, entry, 1);
            char key[256], uuid[37];
            card_key(L, lua_gettop(L), i, key, sizeof key);
            cds_uuid(hook_instance, ri->id, key, uuid);
            lua_getfield(L, -1, "summary");
            lua_rawgeti(L, entry, 3);
            cds_card_out *co = &info->cards[info->ncards++];
            co->uuid = cds_arena_strdup(a, uuid);
            co->rule = ri->id;
            co->key = cds_arena_strdup(a, key);
            co->indicator = "suppressed";
            co->summary = cds_arena_strdup(a, lua_tostring(L, -2));
            co->suppressed = cds_arena_strdup(a, lua_tostring(L, -1));
        }
        lua_settop(L, cards);
    }
}

#define NO_DECISION "out of memory %s; no decision was made"

/* What the rules' part of an evaluation works on (passed through lua_pcall). */
typedef struct run_args {
    cds_engine *e;
    const cds_call *c;
    cds_eval_scope *scope;
    cds_arena *a;
    msgpack_packer *pk;
    cds_eval_info *info;
    cds_error *err;
    cds_rc rc;
} run_args;

/* Runs the service's rules over ctx and packs the response. Everything it does outside a rule's
 * own protected call (building ctx, collecting and packing cards) can still fail in Lua (out of
 * memory under the rule memory limit): it runs inside run_rules_protected, so such a failure is
 * an error return, not a Lua panic that aborts the process. */
static cds_rc run_rules(lua_State *L, run_args *r)
{
    cds_engine *e = r->e;
    const cds_ruleset *rs = e->rs;
    const cds_service *svc = r->c->service;
    const cds_request req = r->c->req;
    cds_arena *a = r->a;
    msgpack_packer *pk = r->pk;
    cds_eval_info *info = r->info;
    cds_error *err = r->err;
    int top = lua_gettop(L);
    luaL_checkstack(L, 16, "engine");
    cds_lua_view_push(L, r->scope);
    int ctx = lua_gettop(L);
    lua_createtable(L, 8, 0);   /* cards collected: {card table, rule index} */
    int cards = lua_gettop(L);
    size_t ncards = 0;
    info->runs = cds_arena_alloc(a, (svc->nrules + 1) * sizeof *info->runs);
    if (!info->runs) {
        lua_settop(L, top);
        cds_lua_view_done(L);
        return cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory");
    }
    for (size_t k = 0; k < svc->nrules; k++) {
        size_t r = svc->rules[k];
        const cds_rule_info *ri = &rs->rules[r];
        if (!has_hook(ri, req.hook)) continue;
        cds_rule_run *run = &info->runs[info->nruns++];
        run->rule = ri->id;
        run->version = ri->version;
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        lua_pushcfunction(L, evaluate_checked);
        lua_rawgeti(L, LUA_REGISTRYINDEX, e->evaluate_refs[r]);
        lua_pushvalue(L, ctx);
        cds_error rerr;
        cds_error_clear(&rerr);
        cds_sb_fail why;
        if (cds_sandbox_call(e->sb, 2, 1, &why, &rerr) != CDS_OK) {
            run->error = cds_arena_strdup(a, rerr.message);
        } else {
            int res = lua_gettop(L);
            if (lua_istable(L, res)) {
                /* one card, or a list of cards (nil entries skipped) */
                bool single = lua_getfield(L, res, "summary") != LUA_TNIL;
                lua_pop(L, 1);
                lua_Integer n = single ? 1 : luaL_len(L, res);
                if (n > MAX_CARDS_PER_RULE) {
                    run->error = cds_arena_printf(a, "%s: evaluate returned %lld cards; at most %d per rule", ri->file,
                                                  (long long)n, MAX_CARDS_PER_RULE);
                    n = 0;
                }
                for (lua_Integer i = 1; i <= n && !run->error; i++) {
                    if (single) lua_pushvalue(L, res);
                    else lua_geti(L, res, i);
                    char msg[300];
                    if (lua_isnil(L, -1)) { lua_pop(L, 1); continue; }
                    if (!cds_card_check(L, -1, msg, sizeof msg)) {
                        run->error = cds_arena_printf(a, "%s: card %lld: %s", ri->file, (long long)i, msg);
                        lua_pop(L, 1);
                        break;
                    }
                    lua_createtable(L, 2, 0);
                    lua_insert(L, -2);
                    lua_rawseti(L, -2, 1);
                    lua_pushinteger(L, (lua_Integer)r);
                    lua_rawseti(L, -2, 2);
                    lua_rawseti(L, cards, (lua_Integer)++ncards);
                    run->cards++;
                }
                if (run->error) {
                    /* a rule's output is all or nothing */
                    for (; run->cards > 0; run->cards--) {
                        lua_pushnil(L);
                        lua_rawseti(L, cards, (lua_Integer)ncards--);
                    }
                }
            } else if (!lua_isnil(L, res)) {
                run->error = cds_arena_printf(a, "%s: evaluate returned a %s; return card{...}, a list of cards, or nil",
                                              ri->file, luaL_typename(L, res));
            }
            lua_settop(L, cards);
        }
        run->micros = cds_us_since(&t0);
        if (run->error) info->nerrors++;
    }
    cds_lua_view_done(L);

    /* Pack the response: rule cards, one warning card per required list that could not be had
     * and one per failed rule, so a safety check that did not run is visible to the clinician
     * rather than silent. */
    const cds_eval_scope *sc = r->scope;
    for (size_t k = 0; k < sc->nprefetch; k++) info->nunavailable += cds_unavailable(&sc->prefetch[k]);
    size_t ndropped = suppress_repeats(L, cards, ncards, rs, r->c, a);
    size_t total = ncards - ndropped + info->nerrors + info->nunavailable;
    info->cards = cds_arena_alloc(a, (total + ndropped + 1) * sizeof *info->cards);
    if (!info->cards) {
        lua_settop(L, top);
        return cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory");
    }
    memset(info->cards, 0, (total + ndropped + 1) * sizeof *info->cards);   /* fields a card kind does not set stay NULL */
    msgpack_pack_map(pk, info->nerrors ? 2 : 1);
    cds_mp_pack_str(pk, "cards");
    msgpack_pack_array(pk, total);
    /* Critical, then warning, then info: a client shows cards in the order given, and an info
     * card must not sit above a bleeding-risk warning. Within a tier, the service's rule order
     * and each rule's own order (deterministic); a rule that did not run is a warning, after
     * the rules' warnings. */
    for (int tier = 0; tier < 3; tier++) {
        /* a list that could not be had heads the warnings: it affects every check after it */
        for (size_t k = 0; tier == 1 && k < sc->nprefetch; k++)
            if (cds_unavailable(&sc->prefetch[k]))
                cds_unavailable_card_pack(pk, &sc->prefetch[k], req.hook, req.hook_instance, rs->source_label, a,
                                          &info->cards[info->ncards++]);
        for (size_t i = 1; i <= ncards; i++) {
            lua_rawgeti(L, cards, (lua_Integer)i);
            lua_rawgeti(L, -1, 4);
            bool dropped = lua_toboolean(L, -1);
            lua_pop(L, 1);
            lua_rawgeti(L, -1, 1);
            lua_getfield(L, -1, "indicator");
            bool here = !dropped && tier_of(lua_tostring(L, -1)) == tier;
            lua_pop(L, 1);
            if (!here) {
                lua_settop(L, cards);
                continue;
            }
            lua_rawgeti(L, -2, 2);
            size_t r = (size_t)lua_tointeger(L, -1);
            lua_pop(L, 1);
            const cds_rule_info *ri = &rs->rules[r];
            int c = lua_gettop(L);
            char key[256];
            card_key(L, c, i, key, sizeof key);
            char uuid[37];
            cds_uuid(req.hook_instance, ri->id, key, uuid);
            cds_card_source src = {rs->source_label, ri->id, ri->title};
            cds_card_pack(L, c, pk, uuid, &src);
            cds_card_out *co = &info->cards[info->ncards++];
            co->uuid = cds_arena_strdup(a, uuid);
            co->rule = ri->id;
            co->key = cds_arena_strdup(a, key);
            lua_getfield(L, c, "indicator");
            co->indicator = cds_arena_strdup(a, lua_tostring(L, -1));
            lua_getfield(L, c, "summary");
            co->summary = cds_arena_strdup(a, lua_tostring(L, -1));
            lua_rawgeti(L, c - 1, 3);
            co->suppressed = lua_isstring(L, -1) ? cds_arena_strdup(a, lua_tostring(L, -1)) : NULL;
            cds_explain ex = cds_card_explain_of(L, c, a);
            co->explain = ex.data;
            co->explain_len = ex.len;
            lua_settop(L, cards);
        }
        if (tier == 1) {
            for (size_t i = 0; i < info->nruns; i++) {
                const cds_rule_run *run = &info->runs[i];
                if (!run->error) continue;
                const cds_rule_info *ri = NULL;
                for (size_t k = 0; k < rs->nrules; k++)
                    if (strcmp(rs->rules[k].id, run->rule) == 0) ri = &rs->rules[k];
                char uuid[37], summary[160];
                cds_uuid(req.hook_instance, run->rule, "error", uuid);
                snprintf(summary, sizeof summary, "Safety check did not run: %.100s", ri->title);
                cds_card_source src = {rs->source_label, run->rule, ri->title};
                cds_explain ex = cds_card_explain_rule_failed(run->rule, a);
                cds_card_pack_warning(pk, uuid, summary,
                                      "This automated check failed and gave no answer. Review the order manually; "
                                      "the failure has been recorded for pharmacy informatics.", &src, ex);
                cds_card_out *co = &info->cards[info->ncards++];
                co->uuid = cds_arena_strdup(a, uuid);
                co->rule = run->rule;
                co->indicator = "warning";
                co->summary = cds_arena_strdup(a, summary);
                co->explain = ex.data;
                co->explain_len = ex.len;
            }
        }
    }
    dropped_cards_out(L, cards, ncards, rs, req.hook_instance, a, info);
    if (info->nerrors) {
        cds_mp_pack_str(pk, "extension");
        msgpack_pack_map(pk, 1);
        cds_mp_pack_str(pk, "org.cdsd.rule-errors");
        msgpack_pack_array(pk, info->nerrors);
        for (size_t i = 0; i < info->nruns; i++) {
            if (!info->runs[i].error) continue;
            msgpack_pack_map(pk, 2);
            cds_mp_pack_str(pk, "rule");
            cds_mp_pack_str(pk, info->runs[i].rule);
            cds_mp_pack_str(pk, "message");
            cds_mp_pack_str(pk, info->runs[i].error);
        }
    }
    lua_settop(L, top);
    return CDS_OK;
}

static int run_rules_protected(lua_State *L)
{
    run_args *r = lua_touserdata(L, 1);
    lua_settop(L, 0);
    r->rc = run_rules(L, r);
    return 0;
}

cds_rc cds_engine_run(cds_engine *e, const cds_call *c, time_t now, cds_arena *a, msgpack_packer *pk,
                      cds_eval_info *info, cds_error *err)
{
    const cds_ruleset *rs = e->rs;
    memset(info, 0, sizeof *info);
    const cds_request req = c->req;
    info->hook = req.hook;
    info->hook_instance = req.hook_instance;
    info->patient_id = req.patient_id;
    if (c->rs != rs) return cds_error_set(err, CDS_EINTERNAL, NULL, "the call was prepared for another rule set");
    cds_rc rc;
    cds_view view;
    if ((rc = cds_view_build(&req, rs->kb, now, a, &view, err))) return rc;
    cds_prefetch_status pstatus[CDS_PREFETCH_MAX_KEYS];
    cds_prefetch_status_of(c->service, req.prefetch, pstatus);
    if (cds_screen_is_order_hook(&view) && !has_medication_draft(&view))
        for (size_t k = 0; k < c->service->nprefetch && k < CDS_PREFETCH_MAX_KEYS; k++)
            pstatus[k].required = false;   /* an MRI order, or a form with no drug chosen yet: nothing was to be screened */
    cds_eval_scope scope = {.view = &view, .prefetch = pstatus,
                            .nprefetch = c->service->nprefetch < CDS_PREFETCH_MAX_KEYS ? c->service->nprefetch
                                                                                      : CDS_PREFETCH_MAX_KEYS};
    scope.nddi = cds_screen_interactions(&view, a, (cds_ddi_hit **)&scope.ddi);
    scope.nallergy = cds_screen_allergies(&view, a, (cds_allergy_hit **)&scope.allergy);
    if (a->failed) return cds_error_set(err, CDS_EINTERNAL, NULL, NO_DECISION, "screening the request");

    lua_State *L = cds_sandbox_L(e->sb);
    int top = lua_gettop(L);
    run_args r = {e, c, &scope, a, pk, info, err, CDS_OK};
    if (!lua_checkstack(L, 2)) return cds_error_set(err, CDS_EINTERNAL, NULL, NO_DECISION, "evaluating the rules");
    lua_pushcfunction(L, run_rules_protected);
    lua_pushlightuserdata(L, &r);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        lua_settop(L, top);
        cds_lua_view_done(L);
        return cds_error_set(err, CDS_EINTERNAL, NULL, NO_DECISION, "evaluating the rules");
    }
    if (r.rc == CDS_OK && a->failed) return cds_error_set(err, CDS_EINTERNAL, NULL, NO_DECISION, "evaluating the rules");
    return r.rc;
}
