/* rule_decl.c — running rule files' declarations: a rule state (sandbox, prelude, `rule`)
 * and the rules each file declares, with their metadata and evaluate functions. */
#include "rule_decl.h"


#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "kb.h"
#include "lua_explain.h"
#include "lua_table.h"
#include "pair_index.h"
#include "rule_tables.h"
#include "screen.h"

#define LOAD_BUDGET_FACTOR 10   /* a rule file's top level: ten evaluations' time budget */

extern const char cds_prelude_lua[];

static const char PENDING_KEY = 'R';
static const char KB_KEY = 'K';

/* The closest of the knowledge base's class ids (classes true) or ingredient names to s, or NULL. */
static const char *kb_closest(const cds_kb *kb, const char *s, bool classes)
{
    size_t n = 0;
    if (classes) while (cds_kb_class_at(kb, (uint32_t)n)) n++;
    else n = cds_kb_ningredients(kb);
    const char **names = calloc(n + 1, sizeof *names);
    if (!names) return NULL;
    for (size_t i = 0; i < n; i++)
        names[i] = classes ? cds_kb_class_at(kb, (uint32_t)i)->id : cds_kb_ingredient_at(kb, (uint32_t)i)->name;
    const char *near = cds_ltab_closest(s, names);
    free(names);
    return near;
}

/* __kb_resolves(spec), captured by the prelude for order_set { }: true when the knowledge base
 * knows what a drug reference ("class:ID", an RxNorm ingredient or product code, a name) names,
 * the way ctx.meds resolves it at run time; false and why when it does not; nil when no knowledge
 * base is attached (a worker's state: the loader has checked the same files against the same
 * knowledge base). */
static int kb_resolves(lua_State *L)
{
    const char *spec = luaL_checkstring(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KB_KEY);
    const cds_kb *kb = lua_touserdata(L, -1);
    if (!kb) return 0;
    cds_med_spec ms;
    cds_screen_spec_kb(kb, spec, &ms);
    if (ms.cls != CDS_KB_NONE || ms.nwant > 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    bool cls = strncmp(spec, "class:", 6) == 0;
    bool digits = *spec != '\0';
    for (const char *p = spec; *p; p++) digits &= *p >= '0' && *p <= '9';
    const char *near = digits ? NULL : kb_closest(kb, cls ? spec + 6 : spec, cls);
    lua_pushboolean(L, 0);
    if (cls) lua_pushfstring(L, "no class '%s' in the knowledge base", spec + 6);
    else if (digits) lua_pushfstring(L, "RxNorm code %s is no ingredient or product of the knowledge base", spec);
    else lua_pushfstring(L, "no ingredient named '%s' in the knowledge base", spec);
    if (near) {
        lua_pushfstring(L, " (did you mean '%s%s'?)", cls ? "class:" : "", near);
        lua_concat(L, 2);
    }
    return 2;
}

/* __kb_members(spec), captured by the prelude for knowledge_table(): the RxNorm ingredient codes
 * a drug reference stands for (a class's members, a product's ingredients, an ingredient), so
 * a rule indexes its table rows by ingredient once, at load; nil when no knowledge base is
 * attached, and false with why when the reference names nothing. */
static int kb_members(lua_State *L)
{
    const char *spec = luaL_checkstring(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KB_KEY);
    const cds_kb *kb = lua_touserdata(L, -1);
    if (!kb) return 0;
    cds_med_spec ms;
    cds_screen_spec_kb(kb, spec, &ms);
    if (ms.cls == CDS_KB_NONE && ms.nwant == 0) {
        lua_settop(L, 1);
        return kb_resolves(L);
    }
    const cds_kb_class *c = ms.cls != CDS_KB_NONE ? cds_kb_class_at(kb, ms.cls) : NULL;
    uint32_t n = c ? c->nmembers : (uint32_t)ms.nwant;
    lua_createtable(L, (int)n, 0);
    for (uint32_t i = 0; i < n; i++) {
        lua_pushstring(L, cds_kb_ingredient_at(kb, c ? c->members[i] : ms.want[i])->rxcui);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

void cds_rule_state_set_kb(cds_sandbox *sb, const cds_kb *kb)
{
    lua_State *L = cds_sandbox_L(sb);
    if (kb) lua_pushlightuserdata(L, (void *)kb);
    else lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &KB_KEY);
}

/* rule { ... }: validated at load, queued for the loader with its location. */
static int rule_fn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &PENDING_KEY);
    if (!lua_istable(L, -1)) return luaL_error(L, "rules can only be declared while a pack loads");
    lua_createtable(L, 2, 0);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    luaL_where(L, 1);
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    return 0;
}

/* "90d", "12h", "2w" -> seconds (at most ten years); 0 when not a duration. */
static long duration_s(const char *s)
{
    char *end;
    long n = strtol(s, &end, 10);
    long unit = !strcmp(end, "h") ? 3600 : !strcmp(end, "d") ? 86400 : !strcmp(end, "w") ? 7 * 86400 : 0;
    if (end == s || *s < '1' || *s > '9' || !unit || n > 3650L * 86400 / unit) return 0;
    return n * unit;
}

/* suppress = { ... } and once_per = "encounter" of the rule table at t->idx. */
static void parse_suppress(cds_ltab *t, cds_rule_suppress *out)
{
    lua_State *L = t->L;
    char *once = cds_ltab_str(t, "once_per", false);
    if (once && strcmp(once, "encounter") != 0)
        cds_ltab_error_at(t, "once_per", "once_per must be \"encounter\", got \"%s\"", once);
    out->once_per_encounter = once != NULL;
    free(once);
    int ty = lua_getfield(L, t->idx, "suppress");
    if (ty == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (ty != LUA_TTABLE) {
        cds_ltab_error_at(t, "suppress", "'suppress' must be a table, e.g. { after_override = \"90d\", scope = \"patient\" }");
        lua_pop(L, 1);
        return;
    }
    cds_ltab s = *t;
    char at[600];
    s.where = cds_ltab_field_where(t, "suppress", at, sizeof at);   /* its fields' errors: from its line on */
    s.idx = lua_gettop(L);
    s.errors = 0;
    static const char *const allowed[] = {"after_override", "scope", "action", "critical", NULL};
    cds_ltab_allow(&s, allowed);
    char *after = cds_ltab_str(&s, "after_override", false);
    char *scope = cds_ltab_str(&s, "scope", false);
    char *action = cds_ltab_str(&s, "action", false);
    char *critical = cds_ltab_str(&s, "critical", false);
    if (after && !(out->after_override_s = duration_s(after)))
        cds_ltab_error_at(&s, "after_override",
                          "after_override must be a duration such as \"90d\", \"12h\" or \"2w\" (at most 10 years), got \"%s\"",
                          after);
    if (!after && !out->once_per_encounter)
        cds_ltab_error_at(&s, "suppress", "'suppress' needs after_override (e.g. \"90d\") or the rule once_per = \"encounter\"");
    if (scope && strcmp(scope, "patient") != 0)
        cds_ltab_error_at(&s, "scope", "scope must be \"patient\" (the only scope), got \"%s\"", scope);
    if (action && strcmp(action, "demote") != 0 && strcmp(action, "drop") != 0)
        cds_ltab_error_at(&s, "action", "action must be \"demote\" (to info) or \"drop\", got \"%s\"", action);
    if (critical && strcmp(critical, "also") != 0)
        cds_ltab_error_at(&s, "critical",
                          "critical must be \"also\" (critical cards suppressed too) or left out (never), got \"%s\"", critical);
    out->drop = action && strcmp(action, "drop") == 0;
    out->critical = critical != NULL;
    free(after); free(scope); free(action); free(critical);
    t->errors += s.errors;
    lua_pop(L, 1);
}

/* service_notes = { ["order-sign"] = "text", ... }: each key a hook of the rule, each value text. */
static void parse_service_notes(cds_ltab *t, cds_rule_info *ri)
{
    lua_State *L = t->L;
    int type = lua_getfield(L, t->idx, "service_notes");
    if (type == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (type != LUA_TTABLE) {
        cds_ltab_error(t, "'service_notes' must be a table { [hook] = text }");
        lua_pop(L, 1);
        return;
    }
    size_t cap_hooks = 0, cap_notes = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        const char *hook = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        const char *text = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        bool known = false;
        for (size_t h = 0; hook && h < ri->nhooks; h++) known |= strcmp(ri->hooks[h], hook) == 0;
        if (!hook || !text) cds_ltab_error(t, "'service_notes': each entry must be [hook] = text");
        else if (!known) cds_ltab_error(t, "'service_notes': '%s' is not one of the rule's hooks", hook);
        else if (!cds_grow(&ri->note_hooks, &cap_hooks, ri->nnotes + 1, sizeof *ri->note_hooks) ||
                 !cds_grow(&ri->notes, &cap_notes, ri->nnotes + 1, sizeof *ri->notes))
            cds_ltab_error(t, "out of memory reading 'service_notes'");
        else {
            ri->note_hooks[ri->nnotes] = strdup(hook);
            ri->notes[ri->nnotes] = strdup(text);
            if (ri->note_hooks[ri->nnotes] && ri->notes[ri->nnotes]) ri->nnotes++;
            else {
                free(ri->note_hooks[ri->nnotes]);
                free(ri->notes[ri->nnotes]);
                cds_ltab_error(t, "out of memory reading 'service_notes'");
            }
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static bool parse_rule(lua_State *L, int idx, const char *where, const char *src, cds_rule_info *ri, int *ref,
                       cds_strbuf *diag)
{
    cds_ltab t = {L, idx, where, "rule", diag, 0, src};
    memset(ri, 0, sizeof *ri);
    ri->id = cds_ltab_str(&t, "id", true);
    char what[200];
    if (ri->id) {
        snprintf(what, sizeof what, "rule '%s'", ri->id);
        t.what = what;
        for (const char *p = ri->id; *p; p++)
            if (!(*p == '.' || *p == '-' || *p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))) {
                cds_ltab_error(&t, "id may use only lower-case letters, digits, '.', '-' and '_'");
                break;
            }
    }
    static const char *const allowed[] = {"id", "version", "title", "description", "hooks", "owner",
                                           "references", "service_notes", "evaluate", "suppress", "once_per", NULL};
    cds_ltab_allow(&t, allowed);
    ri->version = cds_ltab_str(&t, "version", true);
    ri->title = cds_ltab_str(&t, "title", true);
    ri->owner = cds_ltab_str(&t, "owner", false);
    free(cds_ltab_str(&t, "description", false));
    ri->nhooks = cds_ltab_strlist(&t, "hooks", true, &ri->hooks);
    ri->nreferences = cds_ltab_strlist(&t, "references", false, &ri->references);
    parse_suppress(&t, &ri->suppress);
    parse_service_notes(&t, ri);
    if (lua_getfield(L, idx, "evaluate") != LUA_TFUNCTION) {
        cds_ltab_error(&t, "'evaluate' must be a function(ctx)");
        lua_pop(L, 1);
    } else {
        *ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    return t.errors == 0;
}

void cds_rule_info_free(cds_rule_info *r)
{
    free(r->id); free(r->version); free(r->title); free(r->owner); free(r->file);
    cds_free_strlist(r->hooks, r->nhooks);
    cds_free_strlist(r->references, r->nreferences);
    cds_free_strlist(r->note_hooks, r->nnotes);
    cds_free_strlist(r->notes, r->nnotes);
}

cds_sandbox *cds_rule_state_new(const cds_sb_limits *limits, cds_strbuf *diag)
{
    cds_error err;
    cds_sandbox *sb = cds_sandbox_new(limits, &err);
    if (!sb) {
        cds_strbuf_printf(diag, "%s\n", err.message);
        return NULL;
    }
    lua_State *L = cds_sandbox_L(sb);
    lua_pushcfunction(L, rule_fn);
    cds_sandbox_set_global(sb, "rule");
    lua_pushcfunction(L, kb_resolves);   /* the prelude takes these private and removes the globals */
    cds_sandbox_set_global(sb, "__kb_resolves");
    lua_pushcfunction(L, kb_members);
    cds_sandbox_set_global(sb, "__kb_members");
    lua_pushcfunction(L, cds_rule_table_raw);
    cds_sandbox_set_global(sb, "__table_raw");
    lua_pushcfunction(L, cds_pair_index_build);
    cds_sandbox_set_global(sb, "__pair_index");
    cds_lua_push_explain_pack(L);
    cds_sandbox_set_global(sb, "__explain_pack");
    if (cds_sandbox_run_privileged(sb, cds_prelude_lua, "prelude.lua", &err) != CDS_OK) {
        cds_strbuf_printf(diag, "prelude: %s\n", err.message);
        cds_sandbox_free(sb);
        return NULL;
    }
    cds_sandbox_lock(sb);
    return sb;
}

void cds_rule_infos_free(cds_rule_info *list, size_t n)
{
    for (size_t i = 0; i < n; i++) cds_rule_info_free(&list[i]);
    free(list);
}

bool cds_rule_decls_run(cds_sandbox *sb, const cds_source_file *files, size_t nfiles, cds_rule_info **infos, int **refs_out,
                        size_t *ninfos, cds_strbuf *diag)
{
    cds_error err;
    lua_State *L = cds_sandbox_L(sb);

    int errors = 0;
    cds_rule_info *list = NULL;
    int *refs = NULL;
    size_t n = 0, cap = 0;
    for (size_t f = 0; f < nfiles; f++) {
        const cds_source_file *sf = &files[f];
        lua_createtable(L, 0, 0);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &PENDING_KEY);
        cds_error_clear(&err);
        /* A file's top level builds its knowledge tables once per load (the public interaction
         * lists: ~10 ms of CPU, several times that under a sanitizer): it gets ten evaluations'
         * time; an endless loop there still fails, at file:line. */
        double eval_budget = cds_sandbox_set_time_budget(sb, 0);
        cds_sandbox_set_time_budget(sb, LOAD_BUDGET_FACTOR * eval_budget);
        bool loaded = cds_sandbox_load(sb, sf->src, sf->len, sf->path, &err) == CDS_OK &&
                      cds_sandbox_call(sb, 0, 0, NULL, &err) == CDS_OK;
        cds_sandbox_set_time_budget(sb, eval_budget);
        if (!loaded) {
            cds_strbuf_printf(diag, "%s\n", err.message);
            errors++;
            continue;
        }
        lua_rawgetp(L, LUA_REGISTRYINDEX, &PENDING_KEY);
        int pend = lua_gettop(L);
        size_t np = lua_rawlen(L, pend);
        if (np == 0) {
            cds_strbuf_printf(diag, "%s:1: the file declares no rule { ... }\n", sf->path);
            errors++;
        }
        for (size_t i = 1; i <= np; i++) {
            lua_rawgeti(L, pend, (lua_Integer)i);
            lua_rawgeti(L, -1, 1);
            lua_rawgeti(L, -2, 2);
            char where[600];
            snprintf(where, sizeof where, "%s", lua_tostring(L, -1));
            lua_pop(L, 1);
            if (n == cap) {
                cap = cap * 2 + 16;
                cds_rule_info *nl = realloc(list, cap * sizeof *list);
                if (nl) list = nl;
                int *nr = nl ? realloc(refs, cap * sizeof *refs) : NULL;
                if (nr) refs = nr;
                if (!nl || !nr) {
                    cds_strbuf_printf(diag, "%s: out of memory reading its rules\n", sf->path);
                    errors++;
                    lua_pop(L, 2);   /* the entry and its declaration */
                    break;
                }
            }
            refs[n] = LUA_NOREF;
            char at[160];
            int plain = cds_sandbox_declaration_plain(sb, -1, "rule", at, sizeof at);
            if (plain != 1) {   /* the loader below would run its metamethods unprotected */
                cds_strbuf_printf(diag, "%srule { ... }: %s%s\n", where, plain ? "out of memory checking it" : at,
                                  plain ? "" : " (declarations are plain tables of UTF-8 text)");
                memset(&list[n], 0, sizeof list[n]);
                errors++;
            } else if (!parse_rule(L, lua_gettop(L), where, sf->src, &list[n], &refs[n], diag)) {
                errors++;
            }
            list[n].file = strdup(sf->path);
            for (size_t k = 0; k < n && list[n].id; k++)
                if (list[k].id && strcmp(list[k].id, list[n].id) == 0) {
                    cds_strbuf_printf(diag, "%s rule '%s': id already used in %s\n", where, list[n].id, list[k].file);
                    errors++;
                }
            n++;
            lua_pop(L, 2);
        }
        lua_pop(L, 1);
    }
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &PENDING_KEY);
    if (errors) {
        cds_rule_infos_free(list, n);
        free(refs);
        return false;
    }
    *infos = list;
    *ninfos = n;
    if (refs_out) *refs_out = refs;
    else free(refs);
    return true;
}
