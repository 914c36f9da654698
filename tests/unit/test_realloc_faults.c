/* test_realloc_faults.c — the Nth realloc of the project's own code fails (linked with
 * --wrap=realloc, so libraries keep theirs): a growing list then ends in an error the caller
 * handles (out of memory), never in a crash or a shorter list taken for the whole one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "fixture.h"
#include "jwt_verify.h"
#include "lua_table.h"
#include "ruleset.h"
#include "testutil.h"

static int countdown;   /* the realloc that brings this to 0 fails; counting only while > 0 */
static int fired;

void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n)
{
    if (countdown > 0 && --countdown == 0) {
        fired = 1;
        return NULL;
    }
    return __real_realloc(p, n);
}

static void arm(int nth) { countdown = nth; fired = 0; }
static void disarm(void) { countdown = 0; }

/* A prefetch map of 20 templates grows its two arrays three times. */
static void a_template_map_that_cannot_grow_is_a_load_error(void **s)
{
    (void)s;
    lua_State *L = luaL_newstate();
    cds_strbuf src;
    cds_strbuf_init(&src);
    cds_strbuf_puts(&src, "return { prefetch = {");
    for (int i = 0; i < 20; i++) cds_strbuf_printf(&src, " k%02d = 'Patient/{{context.patientId}}?n=%d',", i, i);
    cds_strbuf_puts(&src, " } }");
    assert_int_equal(luaL_dostring(L, src.data), LUA_OK);
    for (int nth = 1;; nth++) {
        cds_strbuf diag;
        cds_strbuf_init(&diag);
        cds_ltab t = {.L = L, .idx = lua_gettop(L), .where = "rules/manifest.lua:1", .what = "service 's'", .diag = &diag};
        char **keys, **vals;
        arm(nth);
        size_t n = cds_ltab_strmap(&t, "prefetch", &keys, &vals);
        disarm();
        if (!fired) {
            assert_int_equal(t.errors, 0);
            assert_int_equal(n, 20);
            assert_string_equal(keys[19], "k19");
            assert_string_equal(vals[19], "Patient/{{context.patientId}}?n=19");
        } else if (t.errors == 0 || !strstr(diag.data, "out of memory")) {
            fail_msg("realloc %d failed: %zu templates, %d errors: %s", nth, n, t.errors, diag.data ? diag.data : "");
        }
        cds_free_strlist(keys, n);
        cds_free_strlist(vals, n);
        cds_strbuf_free(&diag);
        if (!fired) break;
    }
    cds_strbuf_free(&src);
    lua_close(L);
}

/* 40 files to list: shared request files, which the runner lists and skips (running fixtures is
 * not the point here). */
static void a_fixture_list_that_cannot_grow_is_a_failure(void **s)
{
    (void)s;
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_ruleset_opts o = {0};
    cds_ruleset *rs;
    if (cds_ruleset_load(CDSD_SOURCE_DIR "/rules", &o, &rs, &diag) != CDS_OK) fail_msg("%s", diag.data);
    cds_engine *e = cds_engine_new(rs, &diag);
    assert_non_null(e);
    const char *dir = tu_tempdir();
    for (int i = 0; i < 40; i++) {
        char rel[32];
        snprintf(rel, sizeof rel, "shared/r%02d.json", i);
        tu_write(dir, rel, "{\"hook\": \"patient-view\", \"hookInstance\": \"h\", \"context\": {}}\n");
    }
    const char *paths[] = {dir};
    for (int nth = 1;; nth++) {
        char *text = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&text, &len);
        cds_fixture_opts fo = {.quiet = true, .out = out};
        cds_fixture_result res;
        arm(nth);
        cds_fixtures_run(e, paths, 1, &fo, &res);
        disarm();
        fclose(out);
        if (fired && res.failed == 0) fail_msg("realloc %d failed, yet: %s", nth, text);
        if (!fired) assert_int_equal(res.failed, 0);
        cds_fixture_result_free(&res);
        free(text);
        if (!fired) break;
    }
    tu_rmrf(dir);
    cds_engine_free(e);
    cds_ruleset_free(rs);
    cds_strbuf_free(&diag);
}

/* An issuer's keys and the jku allow-list are refused, never kept in part. */
static void a_jwt_allow_list_that_cannot_grow_is_refused(void **s)
{
    (void)s;
    for (int nth = 1;; nth++) {
        cds_jwt_verifier *v = cds_jwt_new();
        assert_non_null(v);
        char err[300] = "";
        arm(nth);
        bool ok = cds_jwt_add_issuer(v, "https://sandbox.cds-hooks.org=" CDSD_SOURCE_DIR "/tools/cds-hooks-sandbox-jwks.json",
                                     err, sizeof err);
        for (int i = 0; ok && i < 3; i++) ok = cds_jwt_allow_jku(v, "https://sandbox.cds-hooks.org/.well-known/jwks.json");
        disarm();
        if (fired && ok) fail_msg("realloc %d failed, yet the allow-list was kept", nth);
        if (!fired && !ok) fail_msg("%s", err);
        cds_jwt_free(v);
        if (!fired) break;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_template_map_that_cannot_grow_is_a_load_error),
        cmocka_unit_test(a_fixture_list_that_cannot_grow_is_a_failure),
        cmocka_unit_test(a_jwt_allow_list_that_cannot_grow_is_refused),
    };
    return cmocka_run_group_tests_name("realloc_faults", tests, NULL, NULL);
}
