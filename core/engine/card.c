/* card.c — card validation and packing. */
#include "card.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "lua_explain.h"
#include "mp.h"
#include "sandbox.h"

#define MAX_DEPTH 24

size_t cds_utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

void cds_uuid(const char *a, const char *b, const char *c, char out[37])
{
    unsigned char md[20];
    char buf[2048];
    int n = snprintf(buf, sizeof buf, "cdsd\x1f%s\x1f%s\x1f%s", a ? a : "", b ? b : "", c ? c : "");
    cds_sha1(buf, n < 0 ? 0 : (size_t)n >= sizeof buf ? sizeof buf - 1 : (size_t)n, md);
    cds_uuid_format(md, 5, out);
}

/* Reads t[key] onto the stack top; returns its type. Looks through read-only proxies. */
static int field(lua_State *L, int idx, const char *key) { return lua_getfield(L, idx, key); }

static bool str_in(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(s, *set) == 0) return true;
    return false;
}

#define FAIL(...) do { snprintf(msg, msglen, __VA_ARGS__); lua_settop(L, top); return false; } while (0)

static bool check_actions(lua_State *L, int sidx, size_t si, char *msg, size_t msglen)
{
    int top = lua_gettop(L);
    int t = field(L, sidx, "actions");
    if (t == LUA_TNIL) { lua_settop(L, top); return true; }
    if (t != LUA_TTABLE) FAIL("suggestion %zu: 'actions' must be a list", si);
    int acts = lua_gettop(L);
    lua_Integer n = luaL_len(L, acts);
    static const char *const types[] = {"create", "update", "delete", NULL};
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_geti(L, acts, i) != LUA_TTABLE) FAIL("suggestion %zu action %lld: must be a table", si, (long long)i);
        int a = lua_gettop(L);
        if (field(L, a, "type") != LUA_TSTRING || !str_in(lua_tostring(L, -1), types))
            FAIL("suggestion %zu action %lld: 'type' must be create, update or delete", si, (long long)i);
        const char *type = lua_tostring(L, -1);
        if (field(L, a, "description") != LUA_TSTRING || !*lua_tostring(L, -1))
            FAIL("suggestion %zu action %lld: 'description' is required", si, (long long)i);
        int res = field(L, a, "resource");
        int rid = field(L, a, "resourceId");
        if (strcmp(type, "delete") == 0) {
            if (rid != LUA_TSTRING && res != LUA_TTABLE)
                FAIL("suggestion %zu action %lld: a delete needs 'resourceId'", si, (long long)i);
        } else if (res != LUA_TTABLE) {
            FAIL("suggestion %zu action %lld: a %s needs the whole FHIR 'resource'", si, (long long)i, type);
        }
        lua_settop(L, acts);
    }
    lua_settop(L, top);
    return true;
}

bool cds_card_check(lua_State *L, int idx, char *msg, size_t msglen)
{
    idx = lua_absindex(L, idx);
    int top = lua_gettop(L);
    luaL_checkstack(L, 12, "card");
    if (!lua_istable(L, idx)) FAIL("a card must be a table made with card{...}");
    if (field(L, idx, "summary") != LUA_TSTRING || !*lua_tostring(L, -1)) FAIL("'summary' is required");
    size_t sl = cds_utf8_len(lua_tostring(L, -1));
    if (sl >= 140) FAIL("'summary' is %zu characters; CDS Hooks requires fewer than 140", sl);
    static const char *const indicators[] = {"info", "warning", "critical", NULL};
    if (field(L, idx, "indicator") != LUA_TSTRING || !str_in(lua_tostring(L, -1), indicators))
        FAIL("'indicator' must be info, warning or critical");
    int t = field(L, idx, "detail");
    if (t != LUA_TNIL && t != LUA_TSTRING) FAIL("'detail' must be a string");
    t = field(L, idx, "suggestions");
    if (t != LUA_TNIL) {
        if (t != LUA_TTABLE) FAIL("'suggestions' must be a list");
        int sg = lua_gettop(L);
        static const char *const behaviours[] = {"at-most-one", "any", NULL};
        if (field(L, idx, "selectionBehavior") != LUA_TSTRING || !str_in(lua_tostring(L, -1), behaviours))
            FAIL("'selectionBehavior' must be at-most-one or any when there are suggestions");
        bool one = strcmp(lua_tostring(L, -1), "at-most-one") == 0;
        lua_Integer n = luaL_len(L, sg), recommended = 0;
        for (lua_Integer i = 1; i <= n; i++) {
            if (lua_geti(L, sg, i) != LUA_TTABLE) FAIL("suggestion %lld: must be a table", (long long)i);
            int s = lua_gettop(L);
            if (field(L, s, "label") != LUA_TSTRING || !*lua_tostring(L, -1)) FAIL("suggestion %lld: 'label' is required", (long long)i);
            int r = field(L, s, "isRecommended");
            if (r != LUA_TNIL && r != LUA_TBOOLEAN) FAIL("suggestion %lld: 'isRecommended' must be true or false", (long long)i);
            recommended += lua_toboolean(L, -1);
            if (!check_actions(L, s, (size_t)i, msg, msglen)) { lua_settop(L, top); return false; }
            lua_settop(L, sg);
        }
        if (one && recommended > 1) FAIL("only one suggestion may be recommended with selectionBehavior at-most-one");
    } else if (field(L, idx, "selectionBehavior") != LUA_TNIL) {
        FAIL("'selectionBehavior' belongs with suggestions");   /* it would be packed as it is */
    }
    lua_settop(L, top);
    t = field(L, idx, "overrideReasons");
    if (t != LUA_TNIL) {
        if (t != LUA_TTABLE) FAIL("'overrideReasons' must be a list");
        int o = lua_gettop(L);
        lua_Integer n = luaL_len(L, o);
        for (lua_Integer i = 1; i <= n; i++) {
            if (lua_geti(L, o, i) != LUA_TTABLE) FAIL("override reason %lld: must be a coding", (long long)i);
            int c = lua_gettop(L);
            if (field(L, c, "code") != LUA_TSTRING || field(L, c, "system") != LUA_TSTRING ||
                field(L, c, "display") != LUA_TSTRING)
                FAIL("override reason %lld: 'code', 'system' and 'display' are required", (long long)i);
            lua_settop(L, o);
        }
    }
    lua_settop(L, top);
    t = field(L, idx, "links");
    if (t != LUA_TNIL) {
        if (t != LUA_TTABLE) FAIL("'links' must be a list");
        int o = lua_gettop(L);
        lua_Integer n = luaL_len(L, o);
        static const char *const ltypes[] = {"absolute", "smart", NULL};
        for (lua_Integer i = 1; i <= n; i++) {
            if (lua_geti(L, o, i) != LUA_TTABLE) FAIL("link %lld: must be a table", (long long)i);
            int c = lua_gettop(L);
            if (field(L, c, "label") != LUA_TSTRING || field(L, c, "url") != LUA_TSTRING)
                FAIL("link %lld: 'label' and 'url' are required", (long long)i);
            if (field(L, c, "type") != LUA_TSTRING || !str_in(lua_tostring(L, -1), ltypes))
                FAIL("link %lld: 'type' must be absolute or smart", (long long)i);
            bool smart = strcmp(lua_tostring(L, -1), "smart") == 0;
            if (field(L, c, "appContext") != LUA_TNIL && !smart) FAIL("link %lld: 'appContext' is only for smart links", (long long)i);
            lua_settop(L, o);
        }
    }
    lua_settop(L, top);
    return true;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Looks through a read-only proxy (pushes the table to pack). */
static int real_table(lua_State *L, int idx)
{
    cds_sandbox_push_real(L, idx);
    return lua_gettop(L);
}

void cds_lua_pack_value(lua_State *L, int idx, msgpack_packer *pk, int depth)
{
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 6, "pack");
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx)) msgpack_pack_true(pk);
        else msgpack_pack_false(pk);
        return;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) msgpack_pack_int64(pk, (int64_t)lua_tointeger(L, idx));
        else msgpack_pack_double(pk, lua_tonumber(L, idx));
        return;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        msgpack_pack_str(pk, n);
        msgpack_pack_str_body(pk, s, n);
        return;
    }
    case LUA_TTABLE: break;
    default: msgpack_pack_nil(pk); return;
    }
    if (depth > MAX_DEPTH) { msgpack_pack_nil(pk); return; }
    int t = real_table(L, idx);
    /* one pass: the keys counted (an array is keys 1..len and nothing else) and the string keys
     * collected for a map */
    size_t len = lua_rawlen(L, t), keys = 0, n = 0;
    const char *names[64];
    bool sorted = true;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        bool str = lua_type(L, -1) == LUA_TSTRING;
        if (str && lua_tostring(L, -1)[0] == '_') continue;
        keys++;
        if (!str) continue;
        if (n < 64) names[n] = lua_tostring(L, -1);   /* owned by the table, which outlives this */
        else sorted = false;
        n++;
    }
    if (len > 0 && keys == len) {
        msgpack_pack_array(pk, len);
        for (size_t i = 1; i <= len; i++) {
            lua_rawgeti(L, t, (lua_Integer)i);
            cds_lua_pack_value(L, -1, pk, depth + 1);
            lua_pop(L, 1);
        }
    } else {
        /* Keys sorted, so the same card packs to the same bytes in every Lua state (each state
         * seeds its string hashes differently, which changes iteration order). */
        msgpack_pack_map(pk, n);
        if (sorted) {
            qsort(names, n, sizeof names[0], cmp_names);
            for (size_t i = 0; i < n; i++) {
                cds_mp_pack_str(pk, names[i]);
                lua_getfield(L, t, names[i]);
                cds_lua_pack_value(L, -1, pk, depth + 1);
                lua_pop(L, 1);
            }
        } else {
            lua_pushnil(L);
            while (lua_next(L, t)) {
                if (lua_type(L, -2) == LUA_TSTRING && lua_tostring(L, -2)[0] != '_') {
                    cds_mp_pack_str(pk, lua_tostring(L, -2));
                    cds_lua_pack_value(L, -1, pk, depth + 1);
                }
                lua_pop(L, 1);
            }
        }
    }
    lua_pop(L, 1);
}

static void pack_field(lua_State *L, int idx, msgpack_packer *pk, const char *key)
{
    lua_getfield(L, idx, key);
    cds_mp_pack_str(pk, key);
    cds_lua_pack_value(L, -1, pk, 1);
    lua_pop(L, 1);
}

static bool present(lua_State *L, int idx, const char *key)
{
    bool p = lua_getfield(L, idx, key) != LUA_TNIL;
    lua_pop(L, 1);
    return p;
}

void cds_card_pack_source(msgpack_packer *pk, const cds_card_source *src, const char *url)
{
    cds_mp_pack_str(pk, "source");
    msgpack_pack_map(pk, 2 + (url != NULL));
    cds_mp_pack_str(pk, "label");
    cds_mp_pack_str(pk, src->label);
    if (url) {
        cds_mp_pack_str(pk, "url");
        cds_mp_pack_str(pk, url);
    }
    cds_mp_pack_str(pk, "topic");
    msgpack_pack_map(pk, 3);
    cds_mp_pack_str(pk, "system");
    cds_mp_pack_str(pk, "https://cdsd.example.org/rules");
    cds_mp_pack_str(pk, "code");
    cds_mp_pack_str(pk, src->rule_id);
    cds_mp_pack_str(pk, "display");
    cds_mp_pack_str(pk, src->rule_title);
}

void cds_card_pack_warning(msgpack_packer *pk, const char *uuid, const char *summary, const char *detail,
                           const cds_card_source *src, cds_explain ex)
{
    msgpack_pack_map(pk, 5 + (ex.data != NULL));
    cds_mp_pack_str(pk, "uuid");
    cds_mp_pack_str(pk, uuid);
    cds_mp_pack_str(pk, "summary");
    cds_mp_pack_str(pk, summary);
    cds_mp_pack_str(pk, "indicator");
    cds_mp_pack_str(pk, "warning");
    cds_mp_pack_str(pk, "detail");
    cds_mp_pack_str(pk, detail);
    cds_card_pack_source(pk, src, NULL);
    if (ex.data) cds_card_pack_explain_extension(pk, ex);
}

/* "extension": the card's extension table (names sorted, as cds_lua_pack_value packs a map) and
 * its explanation, packed by card{} (lua_explain.c), as "org.cdsd.explain". */
static void pack_extension(lua_State *L, int idx, msgpack_packer *pk)
{
    int top = lua_gettop(L);
    const char *names[64];
    size_t n = 0;
    int t = 0;
    if (lua_getfield(L, idx, "extension") == LUA_TTABLE) {
        t = real_table(L, -1);
        lua_pushnil(L);
        while (lua_next(L, t)) {
            lua_pop(L, 1);
            if (lua_type(L, -1) == LUA_TSTRING && lua_tostring(L, -1)[0] != '_' && n < 64) names[n++] = lua_tostring(L, -1);
        }
        qsort(names, n, sizeof names[0], cmp_names);
    }
    size_t len = 0;
    const char *ex = cds_lua_explain_of(L, idx, &len);
    cds_mp_pack_str(pk, "extension");
    msgpack_pack_map(pk, n + (ex != NULL));
    for (size_t i = 0; i < n; i++) {
        cds_mp_pack_str(pk, names[i]);
        lua_getfield(L, t, names[i]);
        cds_lua_pack_value(L, -1, pk, 2);
        lua_pop(L, 1);
    }
    if (ex) cds_card_pack_explain_entry(pk, (cds_explain){ex, len});
    lua_settop(L, top);
}

void cds_card_pack(lua_State *L, int idx, msgpack_packer *pk, const char *uuid, const cds_card_source *src)
{
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 10, "card");
    static const char *const optional[] = {"detail", "selectionBehavior", "overrideReasons", "links", "extension", NULL};
    size_t n = 4 + present(L, idx, "suggestions");
    for (const char *const *k = optional; *k; k++) n += present(L, idx, *k);
    size_t exlen;
    bool has_ext = present(L, idx, "extension") || cds_lua_explain_of(L, idx, &exlen);
    n += has_ext && !present(L, idx, "extension");
    msgpack_pack_map(pk, n);
    cds_mp_pack_str(pk, "uuid");
    cds_mp_pack_str(pk, uuid);
    pack_field(L, idx, pk, "summary");
    pack_field(L, idx, pk, "indicator");
    if (present(L, idx, "detail")) pack_field(L, idx, pk, "detail");
    lua_getfield(L, idx, "_source_url");
    cds_card_pack_source(pk, src, lua_tostring(L, -1));
    lua_pop(L, 1);
    if (lua_getfield(L, idx, "suggestions") == LUA_TTABLE) {
        int sg = lua_gettop(L);
        lua_Integer ns = luaL_len(L, sg);
        cds_mp_pack_str(pk, "suggestions");
        msgpack_pack_array(pk, (size_t)ns);
        for (lua_Integer i = 1; i <= ns; i++) {
            lua_geti(L, sg, i);
            int s = lua_gettop(L);
            bool rec = present(L, s, "isRecommended"), acts = present(L, s, "actions");
            msgpack_pack_map(pk, 2 + rec + acts);
            char su[37], num[24];
            snprintf(num, sizeof num, "%lld", (long long)i);
            cds_uuid(uuid, "suggestion", num, su);
            cds_mp_pack_str(pk, "label");
            lua_getfield(L, s, "label");
            cds_lua_pack_value(L, -1, pk, 1);
            lua_pop(L, 1);
            cds_mp_pack_str(pk, "uuid");
            cds_mp_pack_str(pk, su);
            if (rec) pack_field(L, s, pk, "isRecommended");
            if (acts) pack_field(L, s, pk, "actions");
            lua_settop(L, sg);
        }
    }
    lua_pop(L, 1);
    for (const char *const *k = optional + 1; *k; k++)
        if (strcmp(*k, "extension") != 0 && present(L, idx, *k)) pack_field(L, idx, pk, *k);
    if (has_ext) pack_extension(L, idx, pk);
}
