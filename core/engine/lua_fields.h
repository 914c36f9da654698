/* lua_fields.h — filling the plain tables ctx is built from: a field per fact, skipped when the
 * fact is absent (NULL string, NaN number), and the table sealed behind its read-only proxy.
 * Shared by lua_view.c (ctx) and lua_dose.c (the dose facts). */
#ifndef CDS_LUA_FIELDS_H
#define CDS_LUA_FIELDS_H

#include <lua.h>
#include <math.h>
#include <stdbool.h>

#include "sandbox.h"

/* Replaces the table on top of the stack by its read-only proxy (built sealed, never frozen
 * afterwards: one pass, no second walk over the view). */
static inline void cds_lua_seal(lua_State *L)
{
    cds_sandbox_push_readonly(L, -1);
    lua_remove(L, -2);
}

static inline void cds_lua_setstr(lua_State *L, const char *k, const char *v)
{
    if (!v) return;
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

static inline void cds_lua_setnum(lua_State *L, const char *k, double v)   /* NaN: absent */
{
    if (isnan(v)) return;
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static inline void cds_lua_setbool(lua_State *L, const char *k, bool v)
{
    lua_pushboolean(L, v);
    lua_setfield(L, -2, k);
}

#endif
