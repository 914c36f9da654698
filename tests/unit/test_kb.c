/* test_kb.c — knowledge import validation (file:line for every problem) and lookups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kb.h"
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_problem_is_reported_with_file_and_line),
        cmocka_unit_test(a_table_without_a_required_column_is_refused),
        cmocka_unit_test(a_table_that_is_not_utf8_is_refused),
        cmocka_unit_test(lookups_work_on_a_good_table),
    };
    return cmocka_run_group_tests_name("kb", tests, NULL, NULL);
}
