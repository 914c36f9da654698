/* lua_bounded.c — bounds on the work of library functions a rule calls (see lua_bounded.h). */
#include "lua_bounded.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>
#include <string.h>

#include "sandbox.h"

#define MAX_CONCAT_ELEMENTS 1000000
#define SCAN_BYTES_PER_STEP 16   /* bytes decoded (utf8) count as one instruction */
#define CHARGE_FROM 256      /* smaller costs are left to the instruction that made the call */

/* Calls the original function (upvalue 1) with this call's arguments, returning all results. */
static int call_original(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static void charge(lua_State *L, double cost)
{
    if (cost >= CHARGE_FROM) cds_sandbox_charge(L, cost < 1e18 ? (uint64_t)cost : UINT64_C(1000000000000000000));
}

/* Elements from i to j (0 when j < i), without overflow. */
static double span(lua_Integer i, lua_Integer j) { return j < i ? 0 : (double)j - (double)i + 1; }

/* string.rep, written here: the result's size counts each repetition at least one byte, so
 * rep("", 1e15) fails at once instead of looping 10^15 times; and the result is filled by
 * doubling copies, not one copy per repetition (Lua's took ~5 ms for rep("x", 4e6), a stretch the
 * budget could not look into). */
static int bounded_rep(lua_State *L)
{
    size_t l, sl = 0;
    const char *str = luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    const char *sep = luaL_optlstring(L, 3, "", &sl);
    double each = l + sl > 0 ? (double)(l + sl) : 1;
    if (n > 0 && each * (double)n > CDS_MAX_STRING_RESULT)
        return luaL_error(L, "string.rep result too large (limit %d bytes)", (int)CDS_MAX_STRING_RESULT);
    if (n <= 0 || l + sl == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    size_t unit = l + sl, total = (size_t)n * unit - sl;   /* n copies of str, n - 1 separators */
    charge(L, (double)total / CDS_BYTES_PER_STEP);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, total);
    memcpy(out, str, l);
    if (sl && total > l) memcpy(out + l, sep, sl);
    size_t done = unit < total ? unit : total;
    while (done < total) {   /* out[0, done) is whole units of str..sep (the last one cut at the end) */
        size_t more = done < total - done ? done : total - done;
        memcpy(out + done, out, more);
        done += more;
    }
    luaL_pushresultsize(&b, total);
    return 1;
}

static int bounded_concat(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    size_t total = 0, sl = 0;
    if (!lua_isnoneornil(L, 2)) luaL_checklstring(L, 2, &sl);
    lua_Integer i = luaL_optinteger(L, 3, 1);
    lua_Integer j = lua_isnoneornil(L, 4) ? luaL_len(L, 1) : luaL_checkinteger(L, 4);
    double n = span(i, j);
    if (n > MAX_CONCAT_ELEMENTS) return luaL_error(L, "table.concat over too many elements");
    for (lua_Integer k = i; n > 0 && k <= j; k++) {
        lua_geti(L, 1, k);
        size_t l = 0;
        if (lua_type(L, -1) == LUA_TSTRING) lua_tolstring(L, -1, &l);
        else l = 32;
        lua_pop(L, 1);
        total += l + sl;
        if (total > CDS_MAX_STRING_RESULT)
            return luaL_error(L, "table.concat result too large (limit %d bytes)", (int)CDS_MAX_STRING_RESULT);
    }
    charge(L, n + (double)total / CDS_BYTES_PER_STEP);
    return call_original(L);
}

static int bounded_unpack(lua_State *L)
{
    lua_Integer i = luaL_optinteger(L, 2, 1);
    lua_Integer j = lua_isnoneornil(L, 3) ? luaL_len(L, 1) : luaL_checkinteger(L, 3);
    charge(L, span(i, j));
    return call_original(L);
}

/* table.move(a1, f, e, t [,a2]): e - f + 1 element copies. */
static int bounded_move(lua_State *L)
{
    charge(L, span(luaL_checkinteger(L, 2), luaL_checkinteger(L, 3)));
    return call_original(L);
}

/* table.insert(t, pos, v) and table.remove(t, pos) shift the elements from pos to the end. */
static int shift_from(lua_State *L, int nargs)
{
    if (lua_gettop(L) == nargs && lua_isinteger(L, 2)) charge(L, span(lua_tointeger(L, 2), luaL_len(L, 1)));
    return call_original(L);
}

static int bounded_insert(lua_State *L) { return shift_from(L, 3); }
static int bounded_remove(lua_State *L) { return shift_from(L, 2); }

static int bounded_sort(lua_State *L)
{
    double n = (double)luaL_len(L, 1), log = 1;
    for (double k = n; k > 1; k /= 2) log++;
    charge(L, n * log);
    return call_original(L);
}

/* utf8.len and utf8.offset decode up to the whole string. */
static int bounded_utf8_scan(lua_State *L)
{
    size_t l = 0;
    if (lua_type(L, 1) == LUA_TSTRING) lua_tolstring(L, 1, &l);
    charge(L, (double)l / SCAN_BYTES_PER_STEP);
    return call_original(L);
}

static void wrap(lua_State *L, const char *lib, const char *name, lua_CFunction fn)
{
    lua_getglobal(L, lib);
    lua_getfield(L, -1, name);
    lua_pushcclosure(L, fn, 1);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

void cds_lua_bounded_install(lua_State *L)
{
    wrap(L, "string", "rep", bounded_rep);
    wrap(L, "table", "concat", bounded_concat);
    wrap(L, "table", "unpack", bounded_unpack);
    wrap(L, "table", "move", bounded_move);
    wrap(L, "table", "insert", bounded_insert);
    wrap(L, "table", "remove", bounded_remove);
    wrap(L, "table", "sort", bounded_sort);
    wrap(L, "utf8", "len", bounded_utf8_scan);
    wrap(L, "utf8", "offset", bounded_utf8_scan);
}
