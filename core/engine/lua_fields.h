/* lua_fields.h — filling the plain tables ctx is built from: a field per fact, skipped when the
 * fact is absent (NULL string, NaN number), and the table sealed behind its read-only proxy.
 * Shared by lua_view.c (ctx) and lua_dose.c (the dose facts). */
#ifndef CDS_LUA_FIELDS_H
#define CDS_LUA_FIELDS_H

#include <lua.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

/* Pushes t as an ISO date-time in UTC ("2026-12-05T10:16:55Z"), as strftime would write it but
 * without gmtime_r (which takes the time-zone lock) or a format parse: ctx.now, result dates and
 * dose facts are written on every request. */
static inline void cds_lua_pushtime(lua_State *L, time_t t)
{
    int64_t days = (int64_t)t / 86400, secs = (int64_t)t % 86400;
    if (secs < 0) { secs += 86400; days--; }
    /* civil_from_days (H. Hinnant) */
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    char b[48];
    if (y < 0 || y > 9999) {
        snprintf(b, sizeof b, "%lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, (int)m, (int)d, (int)(secs / 3600),
                 (int)(secs / 60 % 60), (int)(secs % 60));
        lua_pushstring(L, b);
        return;
    }
    int v[6] = {(int)y, (int)m, (int)d, (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60)};
    memcpy(b, "0000-00-00T00:00:00Z", 20);
    b[0] = (char)('0' + v[0] / 1000), b[1] = (char)('0' + v[0] / 100 % 10), b[2] = (char)('0' + v[0] / 10 % 10);
    b[3] = (char)('0' + v[0] % 10);
    static const int at[5] = {5, 8, 11, 14, 17};
    for (int i = 1; i < 6; i++) b[at[i - 1]] = (char)('0' + v[i] / 10), b[at[i - 1] + 1] = (char)('0' + v[i] % 10);
    lua_pushlstring(L, b, 20);
}

#endif
