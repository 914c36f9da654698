/* lua_table.c — declarative table reading with file:line errors. */
#include "lua_table.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cds_ltab_error(cds_ltab *t, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t wl = strlen(t->where);
    /* luaL_where gives "file:line: " (with a trailing space) */
    cds_strbuf_printf(t->diag, "%s%s%s: %s\n", t->where, wl && t->where[wl - 1] != ' ' ? " " : "", t->what, msg);
    t->errors++;
}

/* Closest allowed name, for "did you mean". */
const char *cds_ltab_closest(const char *k, const char *const *allowed)
{
    const char *best = NULL;
    size_t bestd = 3;
    for (const char *const *a = allowed; *a; a++) {
        size_t la = strlen(*a), lk = strlen(k), d[64];
        if (la > 60 || lk > 60) continue;
        for (size_t j = 0; j <= la; j++) d[j] = j;
        for (size_t i = 1; i <= lk; i++) {
            size_t prev = d[0];
            d[0] = i;
            for (size_t j = 1; j <= la; j++) {
                size_t tmp = d[j];
                size_t sub = prev + (k[i - 1] != (*a)[j - 1]);
                size_t del = d[j] + 1, ins = d[j - 1] + 1;
                d[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
                prev = tmp;
            }
        }
        if (d[la] < bestd) { bestd = d[la]; best = *a; }
    }
    return best;
}

/* The line, at or after the declaration's line, where `key = ` is written; 0 if not found.
 * Lua reports the line of `rule {` only; pharmacists want the line of the misspelt field. */
static int field_line(const cds_ltab *t, const char *key, char *file, size_t filelen)
{
    if (!t->src) return 0;
    /* where is "file:line:" (maybe with a trailing space): find the line number before the last ':' */
    char w[512];
    snprintf(w, sizeof w, "%s", t->where);
    size_t wl = strlen(w);
    while (wl && (w[wl - 1] == ' ' || w[wl - 1] == ':')) w[--wl] = '\0';
    char *lc = strrchr(w, ':');
    if (!lc) return 0;
    int start = atoi(lc + 1);
    *lc = '\0';
    snprintf(file, filelen, "%s", w);
    size_t kl = strlen(key);
    int line = 1;
    for (const char *p = t->src; *p; line++) {
        const char *nl = strchr(p, '\n');
        if (line >= start) {
            const char *q = p;
            while (*q == ' ' || *q == '\t') q++;
            if (strncmp(q, key, kl) == 0) {
                q += kl;
                while (*q == ' ' || *q == '\t') q++;
                if (*q == '=' && q[1] != '=') return line;
            }
        }
        if (!nl) break;
        p = nl + 1;
    }
    return 0;
}

const char *cds_ltab_field_where(const cds_ltab *t, const char *key, char *buf, size_t len)
{
    char file[512];
    int line = field_line(t, key, file, sizeof file);
    if (!line) return t->where;
    snprintf(buf, len, "%s:%d:", file, line);
    return buf;
}

void cds_ltab_error_at(cds_ltab *t, const char *key, const char *fmt, ...)
{
    char msg[512], at[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *saved = t->where;
    t->where = cds_ltab_field_where(t, key, at, sizeof at);
    cds_ltab_error(t, "%s", msg);
    t->where = saved;
}

void cds_ltab_allow(cds_ltab *t, const char *const *allowed)
{
    lua_State *L = t->L;
    lua_pushnil(L);
    while (lua_next(L, t->idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            cds_ltab_error(t, "unexpected list entry (fields must be named)");
            continue;
        }
        const char *k = lua_tostring(L, -1);
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++) ok = strcmp(*a, k) == 0;
        if (ok) continue;
        const char *c = cds_ltab_closest(k, allowed);
        char file[512], at[600];
        int line = field_line(t, k, file, sizeof file);
        const char *saved = t->where;
        if (line) {
            snprintf(at, sizeof at, "%s:%d:", file, line);
            t->where = at;
        }
        if (c) cds_ltab_error(t, "unknown field '%s' (did you mean '%s'?)", k, c);
        else cds_ltab_error(t, "unknown field '%s'", k);
        t->where = saved;
    }
}

char *cds_ltab_str(cds_ltab *t, const char *key, bool required)
{
    lua_State *L = t->L;
    int ty = lua_getfield(L, t->idx, key);
    char *s = NULL;
    if (ty == LUA_TSTRING) {
        s = strdup(lua_tostring(L, -1));
        if (required && !*s) cds_ltab_error(t, "'%s' must not be empty", key);
    } else if (ty != LUA_TNIL || required) {
        cds_ltab_error(t, ty == LUA_TNIL ? "'%s' is required" : "'%s' must be a string", key);
    }
    lua_pop(L, 1);
    return s;
}

size_t cds_ltab_strlist(cds_ltab *t, const char *key, bool required, char ***out)
{
    lua_State *L = t->L;
    *out = NULL;
    int ty = lua_getfield(L, t->idx, key);
    if (ty != LUA_TTABLE) {
        if (ty != LUA_TNIL || required) cds_ltab_error(t, "'%s' must be a list of strings", key);
        lua_pop(L, 1);
        return 0;
    }
    size_t n = (size_t)lua_rawlen(L, -1);
    char **list = calloc(n ? n : 1, sizeof *list);
    size_t k = 0;
    for (size_t i = 1; list && i <= n; i++) {
        if (lua_rawgeti(L, -1, (lua_Integer)i) == LUA_TSTRING) list[k++] = strdup(lua_tostring(L, -1));
        else cds_ltab_error(t, "'%s' entry %zu must be a string", key, i);
        lua_pop(L, 1);
    }
    if (required && k == 0) cds_ltab_error(t, "'%s' must list at least one entry", key);
    lua_pop(L, 1);
    *out = list;
    return k;
}

size_t cds_ltab_strmap(cds_ltab *t, const char *key, char ***keys, char ***vals)
{
    lua_State *L = t->L;
    *keys = *vals = NULL;
    int ty = lua_getfield(L, t->idx, key);
    if (ty != LUA_TTABLE) {
        if (ty != LUA_TNIL) cds_ltab_error(t, "'%s' must be a table of name = \"template\"", key);
        lua_pop(L, 1);
        return 0;
    }
    size_t n = 0, cap = 0;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
            cds_ltab_error(t, "'%s' entries must be name = \"template\"", key);
        } else {
            if (n == cap) {
                char **k = realloc(*keys, (cap * 2 + 8) * sizeof *k);
                if (k) *keys = k;
                char **v = k ? realloc(*vals, (cap * 2 + 8) * sizeof *v) : NULL;
                if (v) *vals = v;
                if (!v) {
                    cds_ltab_error(t, "'%s': out of memory", key);
                    lua_pop(L, 2);
                    break;
                }
                cap = cap * 2 + 8;
            }
            (*keys)[n] = strdup(lua_tostring(L, -2));
            (*vals)[n] = strdup(lua_tostring(L, -1));
            if (!(*keys)[n++] || !(*vals)[n - 1]) {
                cds_ltab_error(t, "'%s': out of memory", key);
                lua_pop(L, 2);
                break;
            }
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    /* sort keys for deterministic discovery output */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp((*keys)[j - 1], (*keys)[j]) > 0; j--) {
            char *tk = (*keys)[j], *tv = (*vals)[j];
            (*keys)[j] = (*keys)[j - 1];
            (*vals)[j] = (*vals)[j - 1];
            (*keys)[j - 1] = tk;
            (*vals)[j - 1] = tv;
        }
    return n;
}

void cds_free_strlist(char **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) free(list[i]);
    free(list);
}
