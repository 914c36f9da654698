/* test_kb_columns.c — a knowledge table's columns are the ones the import reads: an unknown
 * header column, a duplicate one, or a value typed beyond the header is a load error with
 * file:line, never silently ignored (issue 24, point 14). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "kb.h"
#include "testutil.h"

static const char *INGR = "rxcui\tname\tbase\tsynonyms\tstatus\tsource\n"
                          "11289\twarfarin\t\t\tverified\ttest\n"
                          "5640\tibuprofen\t\t\tverified\ttest\n"
                          "1191\taspirin\t\t\tverified\ttest\n";

static cds_rc import(const char *dir, cds_strbuf *diag)
{
    sqlite3 *db;
    sqlite3_open(":memory:", &db);
    const char *packs[] = {dir};
    cds_rc rc = cds_kb_import(db, packs, 1, diag, false);
    sqlite3_close(db);
    return rc;
}

static void expect_problem(const char *table, const char *text, const char *want)
{
    const char *dir = tu_tempdir();
    tu_write(dir, "knowledge/ingredients.tsv", INGR);
    tu_write(dir, table, text);
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_rc rc = import(dir, &diag);
    if (rc != CDS_ELOAD || !strstr(diag.data ? diag.data : "", want))
        fail_msg("expected '%s', got rc %d:\n%s", want, rc, diag.data ? diag.data : "");
    cds_strbuf_free(&diag);
    tu_rmrf(dir);
}

/* The reviewer's case: the README's applies_if, typed in a 13th column the header does not name. */
static void a_value_beyond_the_header_is_an_error(void **s)
{
    (void)s;
    expect_problem("knowledge/interactions.tsv",
                   "id\ta\tb\tseverity\tsource\n"
                   "X1\t11289\t5640\tmajor\ttest\n"
                   "X2\t11289\t1191\tmajor\ttest\tage<18\n",
                   "interactions.tsv:3: a value in column 6 ('age<18'), but the header names 5 columns");
}

static void an_unknown_column_is_an_error(void **s)
{
    (void)s;
    expect_problem("knowledge/interactions.tsv",
                   "id\ta\tb\tseverity\tapplies-if\n"
                   "X1\t11289\t5640\tmajor\tage>=65\n",
                   "interactions.tsv:1: unknown column 'applies-if' (did you mean 'applies_if'?");
    expect_problem("knowledge/ingredients-extra.tsv", "rxcui\tname\tsynonym\n7258\tnaproxen\taleve\n",
                   "ingredients-extra.tsv:1: unknown column 'synonym' (did you mean 'synonyms'?");
}

static void a_duplicate_column_is_an_error(void **s)
{
    (void)s;
    expect_problem("knowledge/interactions.tsv", "id\ta\tb\tseverity\tsource\tsource\nX1\t11289\t5640\tmajor\tx\ty\n",
                   "interactions.tsv:1: column 'source' appears twice");
}

/* Every column the shipped tables use, applies_if included, loads. */
static void the_documented_columns_load(void **s)
{
    (void)s;
    const char *dir = tu_tempdir();
    tu_write(dir, "knowledge/ingredients.tsv", INGR);
    tu_write(dir, "knowledge/classes.tsv", "id\tname\tkind\tmembers\tsynonyms\tsource\nnsaids\tNSAIDs\tinteraction\t5640\t\tt\n");
    tu_write(dir, "knowledge/interactions.tsv",
             "id\ta\ta_label\tb\tb_label\tseverity\tlist\tmechanism\tconsequence\tmanagement\talternative\tsource\tapplies_if\n"
             "X1\t11289\twarfarin\tclass:nsaids\tNSAIDs\tmajor\tONC\tm\tc\tmg\t\ts\tage>=65\n"
             "X2\t11289\twarfarin\t1191\taspirin\tmajor\t\t\t\t\t\ts\t\t\n");   /* trailing empty fields are fine */
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    if (import(dir, &diag) != CDS_OK) fail_msg("%s", diag.data);
    cds_strbuf_free(&diag);
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_value_beyond_the_header_is_an_error),
        cmocka_unit_test(an_unknown_column_is_an_error),
        cmocka_unit_test(a_duplicate_column_is_an_error),
        cmocka_unit_test(the_documented_columns_load),
    };
    return cmocka_run_group_tests_name("kb_columns", tests, NULL, NULL);
}
