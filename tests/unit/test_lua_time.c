/* test_lua_time.c — cds_lua_pushtime (lua_fields.h), the date-time every request writes into ctx
 * (ctx.now, result dates, kidney and weight dates), gives what gmtime_r + strftime gave before
 * it: across leap days, century years, the epoch, times before it and a spread of instants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lauxlib.h>
#include <string.h>
#include <time.h>

#include "lua_fields.h"

static void expect_like_strftime(lua_State *L, time_t t)
{
    char want[64];
    struct tm tm;
    assert_non_null(gmtime_r(&t, &tm));
    strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cds_lua_pushtime(L, t);
    const char *got = lua_tostring(L, -1);
    if (strcmp(got, want) != 0) fail_msg("time %lld: got %s, want %s", (long long)t, got, want);
    lua_pop(L, 1);
}

static void writes_what_strftime_writes(void **state)
{
    (void)state;
    lua_State *L = luaL_newstate();
    assert_non_null(L);
    const time_t fixed[] = {0, -1, -86400, -86401, 59, 86399, 86400, 951782400 /* 2000-02-29 */,
                            951868799, 4107456000 /* 2100-02-28 */, 4107542400 /* 2100-03-01 */,
                            1709164800 /* 2024-02-29 */, 1798761599 /* 2026-12-31T23:59:59 */,
                            -2208988800 /* 1900-01-01 */, 253402300799 /* 9999-12-31T23:59:59 */};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) expect_like_strftime(L, fixed[i]);
    uint64_t x = 88172645463325252u;   /* xorshift: a spread of instants from 1900 to 2200 */
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        expect_like_strftime(L, (time_t)(x % 9467280000u) - 2208988800);
    }
    lua_close(L);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(writes_what_strftime_writes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
