/* lua_explain.c — card{explain = ...} checked and packed in C (see lua_explain.h).
 *
 * Done in the prelude, in Lua, the normalised table was built, walked by the result check, packed
 * for the reply and packed again for the audit row: ~5% of every request's instructions. Here
 * one pass checks the rule's table and writes the MessagePack map both use. The error texts are
 * those a pharmacist saw before, at the rule's file:line. */
#include "lua_explain.h"

#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "mp.h"

#define EXPLAIN_MAX 16   /* entries per part: an explanation names what matched, not a whole list */
#define SOURCE_MAX 40    /* a row's source is kept when it is a name ("onc-high-priority"), not a citation */

/* The bytes being written: on the C stack while small, then in a userdata at stack slot `slot`
 * (the Lua state owns it, so an error raised midway leaks nothing). */
typedef struct writer {
    lua_State *L;
    int slot;
    char *data;
    size_t len, cap;
    char small[1024];
} writer;

static int write_bytes(void *p, const char *buf, size_t len)
{
    writer *w = p;
    if (w->len + len > w->cap) {
        size_t cap = w->cap * 2;
        while (cap < w->len + len) cap *= 2;
        char *d = lua_newuserdatauv(w->L, cap, 0);   /* raises on out of memory */
        memcpy(d, w->data, w->len);
        lua_replace(w->L, w->slot);
        w->data = d;
        w->cap = cap;
    }
    memcpy(w->data + w->len, buf, len);
    w->len += len;
    return 0;
}

/* Raises "<rule file>:<line>: card: ..." (level 2: the rule that called card{}). */
static int fail(lua_State *L, const char *fmt, ...)
{
    luaL_where(L, 2);
    va_list ap;
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_concat(L, 2);
    return lua_error(L);
}

/* The value on top as a text for the explanation (a number as Lua's tostring writes it); raises
 * with `what` (a format taking a and b) unless it is a non-empty text or a number. Pops it. */
static void pack_text(lua_State *L, msgpack_packer *pk, const char *what, int a, int b)
{
    int t = lua_type(L, -1);
    size_t n = 0;
    const char *s = NULL;
    if (t == LUA_TSTRING || t == LUA_TNUMBER) s = lua_tolstring(L, -1, &n);   /* a number converts in place */
    if (!s || (t == LUA_TSTRING && n == 0)) {
        char where[64];
        snprintf(where, sizeof where, what, a, b);
        fail(L, "card: %s must be a non-empty text", where);
    }
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
    lua_pop(L, 1);
}

/* Checks the list part at idx (keys 1..n only; nil entries drop out); returns its highest index and
 * sets *count to its entries. */
static lua_Integer list_part(lua_State *L, int idx, const char *part, int *count)
{
    if (!lua_istable(L, idx)) fail(L, "card: explain.%s must be a list", part);
    lua_Integer max = 0;
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) fail(L, "card: explain.%s must be a list (named fields found)", part);
        if (lua_tointeger(L, -1) > max) max = lua_tointeger(L, -1);
        n++;
    }
    if (n > EXPLAIN_MAX) fail(L, "card: explain.%s lists %d entries; at most %d", part, n, EXPLAIN_MAX);
    *count = n;
    return max;
}

/* An empty part packs as an empty map, as the table packer wrote `{}` before. */
static void pack_list_header(msgpack_packer *pk, int n)
{
    if (n) msgpack_pack_array(pk, (size_t)n);
    else msgpack_pack_map(pk, 0);
}

/* matched[i] on top: a resource from ctx (its ref), a "Type/id" text, or { that, code, ... }:
 * packed as [ref, code...] ("unidentified" for a resource sent without an id). Pops it. */
static void pack_matched(lua_State *L, msgpack_packer *pk, int i)
{
    int m = lua_gettop(L), r = m;
    lua_Integer ncodes = 0;
    if (lua_type(L, m) == LUA_TTABLE) {
        bool no_ref = lua_getfield(L, m, "ref") == LUA_TNIL;
        bool first = lua_geti(L, m, 1) != LUA_TNIL;
        if (no_ref && first) {   /* { resource, code, ... }: its first entry is the resource */
            r = lua_gettop(L);
            ncodes = luaL_len(L, m) - 1;
            if (ncodes < 0) ncodes = 0;
            if (ncodes > EXPLAIN_MAX) fail(L, "card: explain.matched[%d] names %d codes; at most %d", i, (int)ncodes, EXPLAIN_MAX);
        } else {
            lua_settop(L, m);
        }
    }
    msgpack_pack_array(pk, (size_t)(1 + ncodes));
    if (lua_type(L, r) == LUA_TSTRING) {
        lua_pushvalue(L, r);
        pack_text(L, pk, "explain.matched[%d]", i, 0);
    } else if (lua_type(L, r) == LUA_TTABLE) {
        if (lua_getfield(L, r, "ref") == LUA_TSTRING) {
            size_t n;
            const char *s = lua_tolstring(L, -1, &n);
            msgpack_pack_str(pk, n);
            msgpack_pack_str_body(pk, s, n);
        } else {
            cds_mp_pack_str(pk, "unidentified");   /* a resource the request sent without an id */
        }
        lua_pop(L, 1);
    } else {
        fail(L, "card: explain.matched[%d] must be a resource from ctx (with a ref), a \"Type/id\" text, or { resource, "
                "code, ... }", i);
    }
    for (lua_Integer k = 2; k <= ncodes + 1; k++) {
        lua_geti(L, m, k);
        pack_text(L, pk, "explain.matched[%d][%d]", i, (int)k);
    }
    lua_settop(L, m - 1);
}

/* rows[i] on top: { table, key, source } (kb_row gives one), packed as [table, key(, source)]:
 * the source only when a name of at most SOURCE_MAX bytes. Pops it. */
static void pack_row(lua_State *L, msgpack_packer *pk, int i)
{
    int r = lua_gettop(L);
    if (!lua_istable(L, r)) fail(L, "card: explain.rows[%d] must be { table, key, source } or kb_row(\"table\", r)", i);
    bool source = false;
    if (lua_geti(L, r, 3) != LUA_TNIL) {   /* checked first, as before */
        int t = lua_type(L, -1);
        size_t n = 0;
        const char *s = t == LUA_TSTRING || t == LUA_TNUMBER ? lua_tolstring(L, -1, &n) : NULL;
        if (!s || (t == LUA_TSTRING && n == 0)) fail(L, "card: explain.rows[%d] source must be a non-empty text", i);
        source = n <= SOURCE_MAX;   /* a citation: the row's key finds it */
    }
    msgpack_pack_array(pk, 2 + source);
    lua_geti(L, r, 1);
    pack_text(L, pk, "explain.rows[%d] table", i, 0);
    lua_geti(L, r, 2);
    pack_text(L, pk, "explain.rows[%d] key", i, 0);
    if (source) pack_text(L, pk, "explain.rows[%d] source", i, 0);   /* the source, still on top */
    lua_settop(L, r - 1);
}

/* The list part `name` of the explanation (at 1): its entries in order, nil ones dropped. */
static void pack_list(lua_State *L, msgpack_packer *pk, const char *name, void (*entry)(lua_State *, msgpack_packer *, int))
{
    int v = lua_gettop(L), n;
    lua_Integer max = list_part(L, v, name, &n);
    cds_mp_pack_str(pk, name);
    pack_list_header(pk, n);
    for (lua_Integer i = 1, k = 0; i <= max; i++) {
        if (lua_geti(L, v, i) == LUA_TNIL) {
            lua_pop(L, 1);
            continue;
        }
        entry(L, pk, (int)++k);
    }
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* values (on top): name = number, text or boolean, at most EXPLAIN_MAX; packed with their names
 * sorted (the same bytes in every Lua state, whose string hashes differ). */
static void pack_values(lua_State *L, msgpack_packer *pk)
{
    int v = lua_gettop(L);
    if (!lua_istable(L, v)) fail(L, "card: explain.values must be a table of name = value");
    const char *names[EXPLAIN_MAX];
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, v)) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_tostring(L, -2)[0] == '_') {
            lua_pushvalue(L, -2);
            fail(L, "card: explain.values: names must be texts not starting with '_', got %s", luaL_tolstring(L, -1, NULL));
        }
        const char *k = lua_tostring(L, -2);
        int t = lua_type(L, -1);
        if (t != LUA_TNUMBER && t != LUA_TSTRING && t != LUA_TBOOLEAN)
            fail(L, "card: explain.values.%s must be a number, text or boolean, got %s", k, lua_typename(L, t));
        if (t == LUA_TNUMBER && !lua_isinteger(L, -1) && !isfinite(lua_tonumber(L, -1)))
            fail(L, "card: explain.values.%s is not a finite number", k);
        if (n < EXPLAIN_MAX) names[n] = k;   /* owned by the table, which outlives this */
        n++;
        lua_pop(L, 1);
    }
    if (n > EXPLAIN_MAX) fail(L, "card: explain.values holds %d values; at most %d", n, EXPLAIN_MAX);
    qsort(names, (size_t)n, sizeof names[0], cmp_names);
    cds_mp_pack_str(pk, "values");
    msgpack_pack_map(pk, (size_t)n);
    for (int i = 0; i < n; i++) {
        cds_mp_pack_str(pk, names[i]);
        switch (lua_getfield(L, v, names[i])) {
        case LUA_TBOOLEAN:
            if (lua_toboolean(L, -1)) msgpack_pack_true(pk);
            else msgpack_pack_false(pk);
            break;
        case LUA_TNUMBER:
            if (lua_isinteger(L, -1)) msgpack_pack_int64(pk, (int64_t)lua_tointeger(L, -1));
            else msgpack_pack_double(pk, lua_tonumber(L, -1));
            break;
        default: {
            size_t len;
            const char *s = lua_tolstring(L, -1, &len);
            msgpack_pack_str(pk, len);
            msgpack_pack_str_body(pk, s, len);
        }
        }
        lua_pop(L, 1);
    }
}

static const char *const PARTS[] = {"matched", "rows", "values"};   /* sorted: the map's order */

/* registry[&CARD_EXPLAIN]: card table -> its packed explanation (weak keys). Kept beside the card,
 * not in it: a rule cannot forge the bytes spliced into the reply, and the result check does not
 * walk them. */
static const char CARD_EXPLAIN = 'E';

/* explain_pack(t, card): t checked and packed as card's explanation. */
static int explain_pack(lua_State *L)
{
    lua_settop(L, 2);
    luaL_checkstack(L, 12, "explain");
    luaL_checktype(L, 2, LUA_TTABLE);
    if (!lua_istable(L, 1)) fail(L, "card: explain: a table is expected, got %s", luaL_typename(L, 1));
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pop(L, 1);
        bool known = false;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (size_t i = 0; i < 3; i++) known |= strcmp(lua_tostring(L, -1), PARTS[i]) == 0;
        if (!known) {
            lua_pushvalue(L, -1);
            fail(L, "card: explain: unknown field '%s' (matched, rows, values)", luaL_tolstring(L, -1, NULL));
        }
    }
    int nparts = 0;
    for (size_t i = 0; i < 3; i++) {
        nparts += lua_getfield(L, 1, PARTS[i]) != LUA_TNIL;
        lua_pop(L, 1);
    }
    lua_pushnil(L);   /* slot 3: the writer's userdata once it outgrows its stack buffer */
    writer w = {.L = L, .slot = 3, .cap = sizeof w.small};
    w.data = w.small;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &w, write_bytes);
    msgpack_pack_map(&pk, (size_t)nparts);
    if (lua_getfield(L, 1, "matched") != LUA_TNIL) pack_list(L, &pk, "matched", pack_matched);
    lua_settop(L, 3);
    if (lua_getfield(L, 1, "rows") != LUA_TNIL) pack_list(L, &pk, "rows", pack_row);
    lua_settop(L, 3);
    if (lua_getfield(L, 1, "values") != LUA_TNIL) pack_values(L, &pk);
    lua_settop(L, 3);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &CARD_EXPLAIN) != LUA_TTABLE) {   /* 4: the side table */
        lua_pop(L, 1);
        lua_createtable(L, 0, 8);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &CARD_EXPLAIN);
    }
    lua_pushvalue(L, 2);
    lua_pushlstring(L, w.data, w.len);
    lua_rawset(L, 4);
    return 0;
}

const char *cds_lua_explain_of(lua_State *L, int idx, size_t *len)
{
    idx = lua_absindex(L, idx);
    const char *s = NULL;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &CARD_EXPLAIN) == LUA_TTABLE) {
        lua_pushvalue(L, idx);
        if (lua_rawget(L, -2) == LUA_TSTRING) s = lua_tolstring(L, -1, len);   /* kept alive by the side table */
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return s;
}

void cds_lua_push_explain_pack(lua_State *L)
{
    lua_pushcfunction(L, explain_pack);
}
