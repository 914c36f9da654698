/* test_firing_rate.c — the firing-rate p-chart (limits, each flag, small n, a baseline that never
 * fired) and its reader on real audit rows (days, services, shadow decisions skipped). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "audit.h"
#include "audit_runs.h"
#include "firing_rate.h"
#include "test_audit_log.h"

/* 28 days of 1000 runs with 100 cards: p = 0.1. */
static cds_firing_count base[28];

static void steady(long runs, long cards)
{
    for (size_t i = 0; i < 28; i++) base[i] = (cds_firing_count){runs, cards};
}

static void the_limits_are_p_plus_minus_three_sigma(void **s)
{
    (void)s;
    steady(1000, 100);
    cds_firing_check c = cds_firing_check_day(base, 28, (cds_firing_count){400, 40}, 5);
    double sigma = sqrt(0.1 * 0.9 / 400);
    assert_float_equal(c.p, 0.1, 1e-12);
    assert_float_equal(c.ucl, 0.1 + 3 * sigma, 1e-12);
    assert_float_equal(c.lcl, 0.1 - 3 * sigma, 1e-12);
    assert_float_equal(c.rate, 0.1, 1e-12);
    assert_float_equal(c.expected, 40, 1e-9);
    assert_int_equal(c.kind, CDS_FIRING_IN_CONTROL);
    /* just inside either limit: in control */
    assert_int_equal(cds_firing_check_day(base, 28, (cds_firing_count){400, 57}, 5).kind, CDS_FIRING_IN_CONTROL);
    assert_int_equal(cds_firing_check_day(base, 28, (cds_firing_count){400, 23}, 5).kind, CDS_FIRING_IN_CONTROL);
}

static void each_flag(void **s)
{
    (void)s;
    steady(1000, 100);
    /* ucl at n=400 is 0.145: 59 cards (0.1475) is a surge; lcl 0.055: 21 cards (0.0525) a drop */
    assert_int_equal(cds_firing_check_day(base, 28, (cds_firing_count){400, 59}, 5).kind, CDS_FIRING_SURGE);
    assert_int_equal(cds_firing_check_day(base, 28, (cds_firing_count){400, 21}, 5).kind, CDS_FIRING_DROP);
    assert_int_equal(cds_firing_check_day(base, 28, (cds_firing_count){400, 400}, 5).kind, CDS_FIRING_SURGE);
    assert_int_equal(cds_firing_check_day(base, 28, (cds_firing_count){400, 0}, 5).kind, CDS_FIRING_STOPPED);
    assert_int_equal(cds_firing_check_day(base, 28, (cds_firing_count){0, 0}, 5).kind, CDS_FIRING_NO_CALLS);
    assert_int_equal(cds_firing_check_day(base, 0, (cds_firing_count){10, 3}, 5).kind, CDS_FIRING_NO_BASELINE);
    for (cds_firing_kind k = CDS_FIRING_IN_CONTROL; k <= CDS_FIRING_STOPPED; k++) assert_non_null(cds_firing_kind_name(k));
    assert_string_equal(cds_firing_kind_name(CDS_FIRING_STOPPED), "stopped");
    assert_true(cds_firing_is_anomaly(CDS_FIRING_DROP) && !cds_firing_is_anomaly(CDS_FIRING_NO_BASELINE));
}

static void small_n_widens_the_limits_and_zero_is_not_stopped_when_few_were_expected(void **s)
{
    (void)s;
    steady(1000, 100);
    /* 20 calls expect 2 cards: none is within chance (lcl 0), not "stopped" */
    cds_firing_check c = cds_firing_check_day(base, 28, (cds_firing_count){20, 0}, 5);
    assert_int_equal(c.kind, CDS_FIRING_IN_CONTROL);
    assert_float_equal(c.lcl, 0, 0);
    /* one call with one card: rate 1 against ucl 0.1 + 3*0.3 = 1.0: not above it */
    assert_int_equal(cds_firing_check_day(base, 28, (cds_firing_count){1, 1}, 5).kind, CDS_FIRING_IN_CONTROL);
    /* 50 calls expect 5: none now counts as stopped */
    assert_int_equal(cds_firing_check_day(base, 28, (cds_firing_count){50, 0}, 5).kind, CDS_FIRING_STOPPED);
    /* a threshold of 10 expected cards does not call those 50 calls stopped */
    assert_int_equal(cds_firing_check_day(base, 28, (cds_firing_count){50, 0}, 10).kind, CDS_FIRING_IN_CONTROL);
}

static void a_baseline_that_never_fired_uses_the_rule_of_three(void **s)
{
    (void)s;
    steady(1000, 0);   /* p = 0 over 28000 runs: at most ~3/28000 */
    cds_firing_check c = cds_firing_check_day(base, 28, (cds_firing_count){1000, 1}, 5);
    assert_float_equal(c.p, 0, 0);
    assert_true(c.ucl > 0);
    assert_int_equal(c.kind, CDS_FIRING_IN_CONTROL);   /* one card is not a surge */
    assert_int_equal(cds_firing_check_day(base, 28, (cds_firing_count){1000, 50}, 5).kind, CDS_FIRING_SURGE);
    assert_int_equal(cds_firing_check_day(base, 28, (cds_firing_count){1000, 0}, 5).kind, CDS_FIRING_IN_CONTROL);
}

static void more_cards_than_runs_is_judged_without_nan(void **s)
{
    (void)s;
    steady(100, 150);   /* a rule that makes 1.5 cards a run */
    cds_firing_check c = cds_firing_check_day(base, 28, (cds_firing_count){100, 150}, 5);
    assert_false(isnan(c.ucl) || isnan(c.lcl));
    assert_int_equal(c.kind, CDS_FIRING_IN_CONTROL);
    assert_int_equal(cds_firing_check_day(base, 28, (cds_firing_count){100, 0}, 5).kind, CDS_FIRING_STOPPED);
}

/* The reader: decisions on three days, two services, one shadow decision. */
static int64_t now_ms;
static int64_t clock_fn(void *arg)
{
    (void)arg;
    return now_ms;
}

static void write_decision(cds_audit *a, const char *service, long cards_a, long cards_b, bool shadow, int n)
{
    static cds_rule_info set[] = {{.id = "rule.a", .version = "1"}, {.id = "rule.b", .version = "1"}};
    static int seq;
    cds_rule_run runs[] = {{.rule = "rule.a", .version = "1", .cards = (int)cards_a, .micros = 1},
                           {.rule = "rule.b", .version = "1", .cards = (int)cards_b, .micros = 1}};
    cds_strbuf enc, gen;
    cds_strbuf_init(&enc);
    cds_strbuf_init(&gen);
    cds_audit_runs_encode(&enc, runs, (size_t)n, set, 2);
    cds_audit_gen_rules(&gen, set, 2);
    char id[40];
    snprintf(id, sizeof id, "d%d", ++seq);
    cds_audit_record r = {.decision = id, .outcome = "ok", .service = service, .pack = "shipped", .gen_rules = gen.data,
                          .runs = enc.data, .runs_len = enc.len, .shadow = shadow};
    assert_int_equal(cds_audit_write(a, &r), CDS_OK);
    cds_strbuf_free(&enc);
    cds_strbuf_free(&gen);
}

static void the_reader_counts_runs_and_cards_per_day_and_skips_shadow(void **s)
{
    (void)s;
    const char *dir;
    char db[256];
    cds_audit *a = tu_audit_log(&dir, db, sizeof db);
    cds_error err;
    assert_non_null(a);
    int64_t day0 = 1767225600000LL;   /* 2026-01-01T00:00:00Z */
    cds_audit_set_clock(a, clock_fn, NULL);
    now_ms = day0 - 1;                /* before the table: not counted */
    write_decision(a, "svc", 5, 5, false, 2);
    now_ms = day0 + 3600000;
    write_decision(a, "svc", 1, 0, false, 2);
    write_decision(a, "svc", 2, 0, false, 1);   /* only rule.a ran */
    write_decision(a, "svc", 9, 9, true, 2);    /* shadow: skipped */
    write_decision(a, "other", 0, 1, false, 2);
    now_ms = day0 + 2 * 86400000LL + 5;
    write_decision(a, "svc", 0, 3, false, 2);
    now_ms = day0 + 3 * 86400000LL;             /* after the table */
    write_decision(a, "svc", 7, 7, false, 2);
    cds_audit_close(a);

    cds_firing_table t = {.day0_ms = day0, .ndays = 3};
    assert_int_equal(cds_firing_read_state(dir, &t, false, &err), CDS_OK);
    assert_int_equal(t.n, 4);
    const cds_firing_series *sa = cds_firing_series_at(&t, "svc", "rule.a"), *sb = cds_firing_series_at(&t, "svc", "rule.b"),
                            *ob = cds_firing_series_at(&t, "other", "rule.b");
    assert_int_equal(t.n, 4);
    assert_int_equal(sa->days[0].runs, 2);
    assert_int_equal(sa->days[0].cards, 3);
    assert_int_equal(sb->days[0].runs, 1);
    assert_int_equal(sb->days[0].cards, 0);
    assert_int_equal(sa->days[1].runs, 0);
    assert_int_equal(sb->days[2].runs, 1);
    assert_int_equal(sb->days[2].cards, 3);
    assert_int_equal(ob->days[0].cards, 1);
    /* the check of a series' day against the days before it */
    cds_firing_check c = cds_firing_check_series(&t, sb, 2, 28, 5);
    assert_int_equal(c.n, 1);
    assert_float_equal(c.p, 0, 0);                      /* rule.b ran once before, with no card */
    assert_true(c.ucl >= 3);                            /* the rule of three over 1 run */
    assert_int_equal(c.kind, CDS_FIRING_IN_CONTROL);
    assert_int_equal(cds_firing_check_series(&t, sb, 0, 28, 5).kind, CDS_FIRING_NO_BASELINE);
    cds_firing_table_free(&t);

    /* not an audit log: a clear error */
    tu_write(dir, "junk/audit.db", "not sqlite");
    char junk[300];
    snprintf(junk, sizeof junk, "%s/junk", dir);
    cds_firing_table j = {.day0_ms = day0, .ndays = 3};
    assert_int_not_equal(cds_firing_read_state(junk, &j, false, &err), CDS_OK);
    assert_non_null(strstr(err.message, "audit.db"));
    cds_firing_table_free(&j);
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_limits_are_p_plus_minus_three_sigma),
        cmocka_unit_test(each_flag),
        cmocka_unit_test(small_n_widens_the_limits_and_zero_is_not_stopped_when_few_were_expected),
        cmocka_unit_test(a_baseline_that_never_fired_uses_the_rule_of_three),
        cmocka_unit_test(more_cards_than_runs_is_judged_without_nan),
        cmocka_unit_test(the_reader_counts_runs_and_cards_per_day_and_skips_shadow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
