/* test_kb.c — knowledge import validation (file:line for every problem), lookups, and loads that
 * fail mid-read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "kb.h"
#include "shim_vfs.h"
#include "testutil.h"

static const char *INGR = "rxcui\tname\tbase\tsynonyms\tstatus\tsource\n"
                          "11289\twarfarin\t\tcoumadin\tverified\ttest\n"
                          "5640\tibuprofen\t\tadvil\tverified\ttest\n"
                          "7258\tnaproxen\t\t\tverified\ttest\n"
                          "1191\taspirin\t\t\tverified\ttest\n"
                          "114979\twarfarin sodium\t11289\t\tverified\ttest\n";
static const char *CLASSES = "id\tname\tkind\tmembers\tsynonyms\tsource\n"
                             "nsaids\tNSAIDs\tinteraction\t5640;7258\tnsaid\ttest\n";

static sqlite3 *import(const char *dir, cds_strbuf *diag, cds_rc *rc)
{
    sqlite3 *db;
    sqlite3_open(":memory:", &db);
    const char *packs[] = {dir};
    *rc = cds_kb_import(db, packs, 1, diag, false);
    return db;
}

static void every_problem_is_reported_with_file_and_line(void **s)
{
    (void)s;
    const char *dir = tu_tempdir();
    tu_write(dir, "knowledge/ingredients.tsv", INGR);
    tu_write(dir, "knowledge/classes.tsv",
             "id\tname\tkind\tmembers\n"
             "nsaids\tNSAIDs\tx\t5640;7258\n"
             "empty\tEmpty class\tx\t\n");
    tu_write(dir, "knowledge/products.tsv",
             "rxcui\tname\ttty\tingredients\n"
             "855332\tWarfarin 5 MG\tSCD\t11289\n"
             "999\tMystery\tSCD\t\n"
             "998\tBad\tSCD\t424242\n");
    tu_write(dir, "knowledge/interactions.tsv",
             "id\ta\tb\tseverity\n"
             "X1\t11289\tclass:nsaids\tmajor\n"
             "X2\tclass:nsaids\t11289\tmajor\n"
             "X3\t11289\t1191\tsevere\n"
             "X4\t11289\tclass:nope\tminor\n"
             "X5\t31337\t1191\tminor\n"
             "X6\t7258\t1191\tminor\n");
    tu_write(dir, "knowledge/interactions-conditional.tsv",
             "id\ta\tb\tseverity\tapplies_if\n"
             "X7\t5640\t1191\tminor\tage>=65;obs:2160-0>1.5\n"
             "X8\t11289\t7258\tminor\tage>=sixty\n");
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_rc rc;
    sqlite3 *db = import(dir, &diag, &rc);
    assert_int_equal(rc, CDS_ELOAD);
    const char *want[] = {
        "classes.tsv:3: class 'empty' has no members",
        "products.tsv:3: product 999 is mapped to no ingredient",
        "products.tsv:4: unknown ingredient code '424242'",
        "interactions.tsv:3: duplicate pair",
        "interactions.tsv:4: bad severity 'severe'",
        "interactions.tsv:5: column b: unknown class 'nope'",
        "interactions.tsv:6: column a: unknown ingredient code '31337'",
        "interactions-conditional.tsv:3: bad applies_if term 'age>=sixty'",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(diag.data, want[i])) fail_msg("missing '%s' in:\n%s", want[i], diag.data);
    cds_strbuf_free(&diag);
    sqlite3_close(db);
    tu_rmrf(dir);
}

static void a_table_without_a_required_column_is_refused(void **s)
{
    (void)s;
    const char *dir = tu_tempdir();
    tu_write(dir, "knowledge/ingredients.tsv", "code\tname\n1\tx\n");
    tu_write(dir, "knowledge/colours.tsv", "a\n");
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_rc rc;
    sqlite3 *db = import(dir, &diag, &rc);
    assert_int_equal(rc, CDS_ELOAD);
    assert_non_null(strstr(diag.data, "ingredients.tsv:1: header has no column 'rxcui'"));
    assert_non_null(strstr(diag.data, "colours.tsv:1: unknown knowledge table"));
    cds_strbuf_free(&diag);
    sqlite3_close(db);
    tu_rmrf(dir);
}

/* Names reach cards, which go out as JSON: a table saved as Latin-1 is refused where it breaks. */
static void a_table_that_is_not_utf8_is_refused(void **s)
{
    (void)s;
    const char *dir = tu_tempdir();
    tu_write(dir, "knowledge/ingredients.tsv", "rxcui\tname\n1\tcaf\xe9ine\n");
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_rc rc;
    sqlite3 *db = import(dir, &diag, &rc);
    assert_int_equal(rc, CDS_ELOAD);
    if (!strstr(diag.data, "ingredients.tsv:2:6: not valid UTF-8 (byte 0xe9)")) fail_msg("%s", diag.data);
    cds_strbuf_free(&diag);
    sqlite3_close(db);
    tu_rmrf(dir);
}

static void write_bytes(const char *dir, const char *rel, const char *bytes, size_t n)
{
    tu_write(dir, rel, "");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    fclose(f);
}

/* Issue 22 item 10: a NUL byte in a field cut it silently ("... clear indication\0 -- AND NEVER
 * IN PREGNANCY" lost its tail and the import succeeded); now a load error at file:line:column. */
static void a_nul_byte_in_a_field_is_refused_with_line_and_column(void **s)
{
    (void)s;
    const char *dir = tu_tempdir();
    tu_write(dir, "knowledge/ingredients.tsv", INGR);
    static const char inter[] = "id\ta\tb\tseverity\tmanagement\n"
                                "X1\t11289\t5640\tmajor\tclear indication\0 -- AND NEVER IN PREGNANCY\n";
    write_bytes(dir, "knowledge/interactions.tsv", inter, sizeof inter - 1);
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_rc rc;
    sqlite3 *db = import(dir, &diag, &rc);
    assert_int_equal(rc, CDS_ELOAD);
    if (!strstr(diag.data, "interactions.tsv:2:37: a NUL byte")) fail_msg("%s", diag.data);
    cds_strbuf_free(&diag);
    sqlite3_close(db);
    tu_rmrf(dir);
}

/* A table saved with a UTF-8 byte-order mark (spreadsheets do) reads as without it; before, its
 * first column's name carried the mark: "header has no column 'rxcui'". */
static void a_table_with_a_byte_order_mark_is_read(void **s)
{
    (void)s;
    const char *dir = tu_tempdir();
    char ingr[1024];
    snprintf(ingr, sizeof ingr, "\xef\xbb\xbf%s", INGR);
    tu_write(dir, "knowledge/ingredients.tsv", ingr);
    tu_write(dir, "knowledge/classes.tsv", "\xef\xbb\xbf# a comment line first\nid\tmembers\nnsaids\t5640;7258\n");
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_rc rc;
    sqlite3 *db = import(dir, &diag, &rc);
    if (rc != CDS_OK) fail_msg("%s", diag.data);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT name FROM ingredient WHERE rxcui = 11289", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "warfarin");
    sqlite3_finalize(q);
    cds_strbuf_free(&diag);
    sqlite3_close(db);
    tu_rmrf(dir);
}

static void lookups_work_on_a_good_table(void **s)
{
    (void)s;
    const char *dir = tu_tempdir();
    tu_write(dir, "knowledge/ingredients.tsv", INGR);
    tu_write(dir, "knowledge/classes.tsv", CLASSES);
    tu_write(dir, "knowledge/products.tsv", "rxcui\tname\tingredients\n855332\tWarfarin 5 MG\t114979\n");
    tu_write(dir, "knowledge/interactions.tsv",
             "id\ta\tb\tseverity\tmechanism\n"
             "X1\t11289\tclass:nsaids\tmajor\tbleeding\n"
             "X2\t11289\t1191\tmajor\tbleeding\n");
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_rc rc;
    sqlite3 *db = import(dir, &diag, &rc);
    if (rc) fail_msg("%s", diag.data);
    cds_kb *kb;
    cds_error err;
    assert_int_equal(cds_kb_load(db, &kb, &err), CDS_OK);
    uint32_t w = cds_kb_ingredient_by_code(kb, "11289");
    assert_int_equal(cds_kb_ingredient_by_code(kb, "114979"), w);   /* precise ingredient -> base */
    const uint32_t *ings;
    assert_int_equal(cds_kb_product_ingredients(kb, "855332", &ings), 1);
    assert_int_equal(ings[0], w);
    uint32_t ix[4];
    uint32_t ibu = cds_kb_ingredient_by_code(kb, "5640"), asp = cds_kb_ingredient_by_code(kb, "1191");
    assert_int_equal(cds_kb_interactions(kb, w, ibu, ix, 4), 1);
    assert_string_equal(cds_kb_interaction_at(kb, ix[0])->id, "X1");
    assert_int_equal(cds_kb_interactions(kb, ibu, w, ix, 4), 1);     /* either order */
    assert_int_equal(cds_kb_interactions(kb, w, asp, ix, 4), 1);
    assert_int_equal(cds_kb_interactions(kb, ibu, asp, ix, 4), 0);
    uint32_t names[4];
    assert_int_equal(cds_kb_match_names(kb, "Coumadin 5mg", false, names, 4), 1);
    assert_int_equal(names[0], w);
    assert_int_equal(cds_kb_match_names(kb, "NSAID allergy", true, names, 4), 1);
    assert_true(names[0] & CDS_KB_CLASS);
    assert_int_equal(cds_kb_match_names(kb, "NSAID allergy", false, names, 4), 0);
    cds_kb_free(kb);
    cds_strbuf_free(&diag);
    sqlite3_close(db);
    tu_rmrf(dir);
}

/* ---- the Nth read fails (a disk that fails mid-read), through shim_vfs.h ---- */

static int reads;         /* reads since the connection opened */
static int fail_read;     /* this read fails (0: none) */

static int nth_read_fails(void) { return ++reads == fail_read ? SQLITE_IOERR_READ : 0; }

/* Loads the knowledge base at path through the shim with the Nth read failing (0: none). */
static cds_rc load_failing_read(const char *path, int nth, cds_kb **kb, cds_error *err)
{
    shim_vfs_install("failing-read", 1, 0);   /* version 1: every page read is an xRead */
    shim_fail_read = nth_read_fails;
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, "failing-read") != SQLITE_OK) fail_msg("%s", sqlite3_errmsg(db));
    reads = 0;
    fail_read = nth;
    cds_error_clear(err);
    cds_rc rc = cds_kb_load(db, kb, err);
    fail_read = 0;
    sqlite3_close(db);
    return rc;
}

/* A read that fails partway through a table (here: every read in turn, with tables of several
 * pages) fails the load, naming the table; a load that succeeds has every row. */
static void a_read_error_mid_table_fails_the_load_naming_the_table(void **s)
{
    (void)s;
    enum { N = 600 };
    cds_strbuf ingr, ix;
    cds_strbuf_init(&ingr);
    cds_strbuf_init(&ix);
    cds_strbuf_printf(&ingr, "rxcui\tname\tbase\tsynonyms\tstatus\tsource\n");
    cds_strbuf_printf(&ix, "id\ta\tb\tseverity\tmechanism\n");
    for (int i = 0; i < N; i++) {
        cds_strbuf_printf(&ingr, "%d\tdrug number %d\t\tbrand%d\tverified\ttest\n", 100000 + i, i, i);
        cds_strbuf_printf(&ix, "X%d\t%d\t%d\tmajor\tmechanism text of some length, %d\n", i, 100000 + i,
                          100000 + (i + 1) % N, i);
    }
    const char *dir = tu_tempdir();
    tu_write(dir, "knowledge/ingredients.tsv", ingr.data);
    tu_write(dir, "knowledge/interactions.tsv", ix.data);
    char path[256];
    snprintf(path, sizeof path, "%s/kb.sqlite", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    const char *packs[] = {dir};
    if (cds_kb_import(db, packs, 1, &diag, false) != CDS_OK) fail_msg("%s", diag.data);
    sqlite3_close(db);

    cds_kb *kb;
    cds_error err;
    assert_int_equal(load_failing_read(path, 0, &kb, &err), CDS_OK);
    assert_int_equal(cds_kb_ningredients(kb), N);
    assert_int_equal(cds_kb_ninteractions(kb), N);
    cds_kb_free(kb);
    int total = reads, failed = 0;
    assert_true(total > 10);   /* the tables span several pages */
    static const char *const tables[] = {"meta", "ingredient", "product", "product_ingredient", "drug_class",
                                         "class_member", "synonym", "interaction", "cross_sensitivity",
                                         "allergen_code", "product_strength", "dose_limit", "renal_dosing",
                                         "route_rule"};
    for (int nth = 1; nth <= total; nth++) {
        if (load_failing_read(path, nth, &kb, &err) == CDS_OK) {
            uint32_t last = cds_kb_ingredient_by_code(kb, "100599"), names[2], found[2];
            if (cds_kb_ningredients(kb) != N || cds_kb_ninteractions(kb) != N || last == CDS_KB_NONE ||
                cds_kb_match_names(kb, "brand599", false, names, 2) != 1 ||
                cds_kb_interactions(kb, last, cds_kb_ingredient_by_code(kb, "100000"), found, 2) != 1)
                fail_msg("read %d of %d failed, yet the load succeeded with %zu ingredients, %zu interactions",
                         nth, total, cds_kb_ningredients(kb), cds_kb_ninteractions(kb));
            cds_kb_free(kb);
            continue;
        }
        failed++;
        assert_int_equal(err.code, CDS_EIO);
        bool named = false;
        for (size_t t = 0; t < sizeof tables / sizeof *tables; t++) {
            char want[64];
            snprintf(want, sizeof want, "table '%s'", tables[t]);
            named |= strstr(err.message, want) != NULL;
        }
        if (!named || !strstr(err.message, "I/O error")) fail_msg("read %d: %s", nth, err.message);
    }
    assert_true(failed > 0);
    cds_strbuf_free(&diag);
    cds_strbuf_free(&ingr);
    cds_strbuf_free(&ix);
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_problem_is_reported_with_file_and_line),
        cmocka_unit_test(a_table_without_a_required_column_is_refused),
        cmocka_unit_test(a_table_that_is_not_utf8_is_refused),
        cmocka_unit_test(a_nul_byte_in_a_field_is_refused_with_line_and_column),
        cmocka_unit_test(a_table_with_a_byte_order_mark_is_read),
        cmocka_unit_test(lookups_work_on_a_good_table),
        cmocka_unit_test(a_read_error_mid_table_fails_the_load_naming_the_table),
    };
    return cmocka_run_group_tests_name("kb", tests, NULL, NULL);
}
