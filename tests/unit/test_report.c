/* test_report.c — the alert report's numbers on a known sequence of decisions and feedback,
 * and its HTML (written to build/report-test.html for the rendering check in ctest). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "audit.h"
#include "audit_runs.h"
#include "json.h"
#include "mp.h"
#include "report.h"
#include "test_audit_log.h"

static void decision(cds_audit *a, const char *id, const char *outcome, const char *rules, size_t ncards,
                     const char **uuids, const char **crules, const char **inds)
{
    /* the rules that ran, written as JSON here for reading's sake, encoded as the engine's are */
    static cds_rule_info set[] = {{.id = "ddi.interaction", .version = "1"}, {.id = "allergy.drug", .version = "1"}};
    cJSON *list = cJSON_Parse(rules), *e;
    cds_rule_run runs[8];
    size_t n = 0;
    cJSON_ArrayForEach(e, list) {
        cJSON *err = cJSON_GetObjectItem(e, "error");
        runs[n++] = (cds_rule_run){.rule = cJSON_GetStringValue(cJSON_GetObjectItem(e, "rule")),
                                   .version = cJSON_GetStringValue(cJSON_GetObjectItem(e, "version")),
                                   .cards = cJSON_GetObjectItem(e, "cards")->valueint,
                                   .error = err ? cJSON_GetStringValue(err) : NULL,
                                   .micros = cJSON_GetObjectItem(e, "us")->valuedouble};
    }
    cds_strbuf enc, gen;
    cds_strbuf_init(&enc);
    cds_strbuf_init(&gen);
    cds_audit_runs_encode(&enc, runs, n, set, 2);
    cds_audit_gen_rules(&gen, set, 2);
    cds_audit_record r = {.decision = id, .outcome = outcome, .service = "medication-safety", .pack = "shipped",
                          .gen_rules = gen.data, .runs = enc.data, .runs_len = enc.len, .card_uuid = uuids,
                          .card_rule = crules, .card_indicator = inds, .ncards = ncards};
    assert_int_equal(cds_audit_write(a, &r), CDS_OK);
    cJSON_Delete(list);
    cds_strbuf_free(&enc);
    cds_strbuf_free(&gen);
}

static void feedback(cds_audit *a, const char *json)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    cds_error err;
    cds_json_to_mp(json, strlen(json), "fb", &sb, &err);
    msgpack_unpacked u;
    assert_int_equal(cds_mp_decode(sb.data, sb.size, &u, &err), CDS_OK);
    assert_int_equal(cds_audit_feedback(a, "medication-safety", &u.data), CDS_OK);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
}

static const cds_rule_stats *rule(const cds_report *r, const char *id)
{
    for (size_t i = 0; i < r->nrules; i++)
        if (!strcmp(r->rules[i].rule, id)) return &r->rules[i];
    fail_msg("no rule %s in the report", id);
    return NULL;
}

static void the_report_counts_a_known_sequence(void **s)
{
    (void)s;
    const char *dir;
    char db[256];
    cds_audit *a = tu_audit_log(&dir, db, sizeof db);
    cds_error err;
    const char *u1[] = {"c1", "c2"}, *r1[] = {"ddi.interaction", "allergy.drug"}, *i1[] = {"warning", "critical"};
    decision(a, "d1", "ok",
             "[{\"rule\":\"ddi.interaction\",\"version\":\"1\",\"cards\":1,\"us\":10},"
             "{\"rule\":\"allergy.drug\",\"version\":\"1\",\"cards\":1,\"us\":20}]", 2, u1, r1, i1);
    const char *u2[] = {"c3"}, *r2[] = {"ddi.interaction"}, *i2[] = {"warning"};
    decision(a, "d2", "ok",
             "[{\"rule\":\"ddi.interaction\",\"version\":\"1\",\"cards\":1,\"us\":30},"
             "{\"rule\":\"allergy.drug\",\"version\":\"1\",\"cards\":0,\"us\":40}]", 1, u2, r2, i2);
    decision(a, "d3", "ok",
             "[{\"rule\":\"ddi.interaction\",\"version\":\"1\",\"cards\":0,\"us\":50,\"error\":\"boom\"},"
             "{\"rule\":\"allergy.drug\",\"version\":\"1\",\"cards\":0,\"us\":60}]", 0, NULL, NULL, NULL);
    decision(a, "d4", "bad_request", "[]", 0, NULL, NULL, NULL);
    feedback(a, "{\"feedback\":[{\"card\":\"c1\",\"outcome\":\"overridden\",\"outcomeTimestamp\":\"2025-01-01T00:00:00Z\","
                "\"overrideReason\":{\"reason\":{\"code\":\"will-monitor\",\"system\":\"s\",\"display\":\"Will monitor\"}}},"
                "{\"card\":\"c2\",\"outcome\":\"accepted\",\"outcomeTimestamp\":\"2025-01-01T00:00:00Z\","
                "\"acceptedSuggestions\":[{\"id\":\"x\"}]}]}");
    feedback(a, "{\"feedback\":[{\"card\":\"c1\",\"outcome\":\"overridden\",\"outcomeTimestamp\":\"2025-01-01T00:00:00Z\","
                "\"overrideReason\":{\"reason\":{\"code\":\"will-monitor\",\"system\":\"s\",\"display\":\"Will monitor\"}}}]}");
    cds_audit_close(a);

    cds_report r;
    assert_int_equal(cds_report_build(db, 0, INT64_MAX, &r, &err), CDS_OK);
    assert_int_equal(r.decisions, 4);
    const cds_rule_stats *ddi = rule(&r, "ddi.interaction"), *al = rule(&r, "allergy.drug");
    assert_int_equal(ddi->runs, 3);
    assert_int_equal(ddi->fired, 2);
    assert_int_equal(ddi->errors, 1);
    assert_int_equal(ddi->warning, 2);
    assert_int_equal(ddi->overridden, 1);      /* the duplicate feedback counts once */
    assert_int_equal(ddi->accepted, 0);
    assert_int_equal(ddi->no_feedback, 1);
    assert_string_equal(ddi->reasons[0], "Will monitor");
    assert_int_equal(ddi->reason_counts[0], 1);
    assert_true(ddi->p50_us == 30);
    assert_int_equal(al->runs, 3);
    assert_int_equal(al->critical, 1);
    assert_int_equal(al->accepted, 1);
    assert_int_equal(r.nservices, 1);
    assert_int_equal(r.services[0].requests, 4);
    assert_int_equal(r.services[0].errors, 1);
    assert_non_null(strstr(r.services[0].by_code, "bad_request=1"));

    FILE *f = fopen("report-test.html", "w");   /* ctest runs this in the build directory */
    assert_non_null(f);
    cds_report_html(&r, f);
    fclose(f);
    cds_error e2;
    size_t len;
    char *html = cds_read_file("report-test.html", &len, 1u << 20, &e2);
    assert_non_null(strstr(html, "<svg"));
    assert_non_null(strstr(html, "Override rate per rule"));
    assert_non_null(strstr(html, "100% of 1"));   /* ddi: 1 overridden of 1 with feedback */
    assert_null(strstr(html, "<script"));
    free(html);
    cds_report_free(&r);
    tu_rmrf(dir);
}

/* Repeat suppression (README "Repeat suppression"): a dropped repeat keeps a card row with
 * indicator "suppressed"; the report's cards by indicator and "no feedback" count only cards shown. */
static void a_dropped_repeat_is_not_counted_as_a_card_shown(void **s)
{
    (void)s;
    const char *dir;
    char db[256];
    cds_audit *a = tu_audit_log(&dir, db, sizeof db);
    cds_error err;
    const char *u[] = {"c1", "c2"}, *r[] = {"ddi.interaction", "ddi.interaction"}, *i[] = {"warning", "suppressed"};
    decision(a, "d1", "ok", "[{\"rule\":\"ddi.interaction\",\"version\":\"1\",\"cards\":2,\"us\":10}]", 2, u, r, i);
    cds_audit_close(a);
    cds_report rep;
    assert_int_equal(cds_report_build(db, 0, INT64_MAX, &rep, &err), CDS_OK);
    const cds_rule_stats *ddi = rule(&rep, "ddi.interaction");
    assert_int_equal(ddi->fired, 1);
    assert_int_equal(ddi->warning, 1);
    assert_int_equal(ddi->info, 0);
    assert_int_equal(ddi->no_feedback, 1);
    cds_report_free(&rep);
    tu_rmrf(dir);
}

/* A decision in which only ddi.interaction ran, taking us microseconds, with card uuid (or none). */
static void ddi_run(cds_audit *a, const char *id, const char *outcome, double us, const char *uuid)
{
    char runs[128];
    snprintf(runs, sizeof runs, "[{\"rule\":\"ddi.interaction\",\"version\":\"1\",\"cards\":%d,\"us\":%g}]", uuid ? 1 : 0, us);
    const char *u[] = {uuid}, *r[] = {"ddi.interaction"}, *i[] = {"warning"};
    decision(a, id, outcome, runs, uuid ? 1 : 0, u, r, i);
}

static void override(cds_audit *a, const char *card, const char *reason)
{
    char fb[512];
    snprintf(fb, sizeof fb, "{\"feedback\":[{\"card\":\"%s\",\"outcome\":\"overridden\",\"outcomeTimestamp\":"
             "\"2025-01-01T00:00:00Z\",\"overrideReason\":{\"reason\":{\"code\":\"c\",\"system\":\"s\",\"display\":\"%s\"}}}]}",
             card, reason);
    feedback(a, fb);
}

/* Two replicas' databases: counts summed, percentiles over all the times (not per database),
 * top reasons and error codes over the summed counts. */
static void a_report_merges_several_databases_exactly(void **s)
{
    (void)s;
    const char *dir = tu_tempdir();
    char db[2][256];
    cds_error err;
    for (int k = 0; k < 2; k++) {
        snprintf(db[k], sizeof db[k], "%s/replica%d.db", dir, k);
        cds_audit *a = cds_audit_open(db[k], false, &err);
        assert_non_null(a);
        if (k == 0) {   /* ddi times 10, 20 and 0; one override "Will monitor" */
            ddi_run(a, "a1", "ok", 10, "ca1");
            ddi_run(a, "a2", "ok", 20, NULL);
            ddi_run(a, "a3", "bad_request", 0, NULL);
            override(a, "ca1", "Will monitor");
        } else {        /* ddi times 30, 40, 50, 0, 0; "Not relevant" once, "Will monitor" once */
            ddi_run(a, "b1", "ok", 30, "cb1");
            ddi_run(a, "b2", "ok", 40, "cb2");
            ddi_run(a, "b3", "ok", 50, NULL);
            ddi_run(a, "b4", "bad_request", 0, NULL);
            ddi_run(a, "b5", "timeout", 0, NULL);
            override(a, "cb1", "Not relevant");
            override(a, "cb2", "Will monitor");
        }
        cds_audit_close(a);
    }
    const char *paths[] = {db[0], db[1]};
    cds_report r;
    assert_int_equal(cds_report_build_many(paths, 2, 0, INT64_MAX, &r, &err), CDS_OK);
    assert_int_equal(r.databases, 2);
    assert_int_equal(r.decisions, 8);
    const cds_rule_stats *ddi = rule(&r, "ddi.interaction");
    assert_int_equal(ddi->runs, 8);
    assert_int_equal(ddi->fired, 3);
    assert_int_equal(ddi->warning, 3);
    assert_int_equal(ddi->overridden, 3);
    assert_true(ddi->p50_us == 20);   /* of 0,0,0,10,20,30,40,50; alone: 10 and 30 */
    assert_string_equal(ddi->reasons[0], "Will monitor");
    assert_int_equal(ddi->reason_counts[0], 2);
    assert_string_equal(ddi->reasons[1], "Not relevant");
    assert_int_equal(ddi->reason_counts[1], 1);
    assert_int_equal(r.nservices, 1);
    assert_int_equal(r.services[0].requests, 8);
    assert_int_equal(r.services[0].errors, 3);
    assert_string_equal(r.services[0].by_code, "bad_request=2, timeout=1");
    long day_cards = 0;
    for (size_t i = 0; i < r.ndays; i++) {
        assert_true(i == 0 || strcmp(r.days[i - 1].day, r.days[i].day) <= 0);   /* in day order, for the chart */
        day_cards += r.days[i].cards;
    }
    assert_int_equal(day_cards, 3);
    cds_report_free(&r);
    /* a database that is not there fails the whole report, naming it */
    const char *bad[] = {db[0], "/nonexistent/audit.db"};
    assert_int_not_equal(cds_report_build_many(bad, 2, 0, INT64_MAX, &r, &err), CDS_OK);
    assert_non_null(strstr(err.message, "/nonexistent/audit.db"));
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(the_report_counts_a_known_sequence),
                                       cmocka_unit_test(a_report_merges_several_databases_exactly),
                                       cmocka_unit_test(a_dropped_repeat_is_not_counted_as_a_card_shown)};
    return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
