/* test_dose_tables.c — the dosing knowledge tables (dose_limits, renal_dosing, routes): `kb
 * build` validates each row with file:line, the kb holds them in memory by drug, and rules read
 * them, med.dose and the patient's dose facts through ctx (lua_dose.h), read-only and lazily. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "engine.h"
#include "json.h"
#include "kb.h"
#include "mp.h"
#include "shipped_rules.h"
#include "testutil.h"

static const char *INGR = "rxcui\tname\n161\tacetaminophen\n5489\thydrocodone\n11124\tvancomycin\n"
                          "11289\twarfarin\n11118\tvincristine\n";
static const char *PROD = "rxcui\tname\ttty\tingredients\n"
                          "198440\tacetaminophen 500 MG Oral Tablet\tSCD\t161\n"
                          "856999\tacetaminophen 325 MG / hydrocodone bitartrate 10 MG Oral Tablet\tSCD\t161;5489\n"
                          "1807510\tvancomycin 1000 MG Injection\tSCD\t11124\n";
static const char *DOSE =
    "id\tdrug\tdrug_label\troute\tage_min_days\tage_max_days\tweight_min_kg\tweight_max_kg\tunit\tmax_single\tmax_daily\t"
    "min_daily\tmax_single_per_kg\tmax_daily_per_kg\tschedule\tindication\tnote\tsource\n"
    "apap-adult\t161\tacetaminophen\toral\t6570\t\t50\t\tg\t1\t4\t\t\t\t\t\t\tsynthetic test row\n"
    "apap-child\t161\tacetaminophen\tany\t\t6570\t\t\tmg\t1000\t4000\t\t15\t75\t\t\t\tsynthetic test row\n"
    "apap-iv\t161\tacetaminophen\tiv\t\t\t\t\tg\t1\t4\t\t\t\t\t\t\tsynthetic test row\n";
static const char *RENAL = "id\tdrug\tdrug_label\troute\tmeasure\tmin\tmax\taction\tmax_daily\tunit\tinterval_h\tnote\tsource\n"
                           "vanc-crcl\t11124\tvancomycin\tiv\tcrcl\t\t50\tinterval\t\t\t24\t\tsynthetic\n"
                           "vanc-egfr\t11124\tvancomycin\tany\tegfr\t10\t30\tmax_daily\t1\tg\t\t\tsynthetic\n"
                           "vanc-hd\t11124\tvancomycin\tany\tdialysis\t\t\tcaution\t\t\t\t\tsynthetic\n";
static const char *ROUTES = "id\tdrug\tdrug_label\tallowed\tforbidden\tseverity\tnote\tsource\n"
                            "vinc\t11118\tvincristine\tiv\tintrathecal;im\tcritical\tfatal if given intrathecally\tsynthetic\n";

static const char *MANIFEST =
    "ruleset { name = 't', version = '1', source = 'test source', services = {\n"
    "  { id = 'svc', hook = 'order-sign', description = 'd', rules = { 't.*' } } } }\n";

static const char *pack_dir(const char *dose, const char *renal, const char *routes)
{
    const char *dir = tu_tempdir();
    tu_write(dir, "manifest.lua", MANIFEST);
    tu_write(dir, "p/pack.lua", "pack { name = 'p', version = '1' }\n");
    tu_write(dir, "p/knowledge/ingredients.tsv", INGR);
    tu_write(dir, "p/knowledge/products.tsv", PROD);
    if (dose) tu_write(dir, "p/knowledge/dose_limits.tsv", dose);
    if (renal) tu_write(dir, "p/knowledge/renal_dosing.tsv", renal);
    if (routes) tu_write(dir, "p/knowledge/routes.tsv", routes);
    return dir;
}

/* Imports the pack in dir; returns the diagnostics (caller frees) and the kb when it loaded. */
static cds_kb *import(const char *dir, cds_strbuf *diag)
{
    char packdir[256], path[256];
    snprintf(packdir, sizeof packdir, "%s/p", dir);
    snprintf(path, sizeof path, "%s/kb.sqlite", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    cds_strbuf_init(diag);
    const char *packs[] = {packdir};
    cds_kb *kb = NULL;
    if (cds_kb_import(db, packs, 1, diag, false) == CDS_OK) {
        cds_error err;
        assert_int_equal(cds_kb_load(db, &kb, &err), CDS_OK);
    }
    sqlite3_close(db);
    return kb;
}

static void the_tables_load_and_are_found_by_drug(void **s)
{
    (void)s;
    const char *dir = pack_dir(DOSE, RENAL, ROUTES);
    cds_strbuf diag;
    cds_kb *kb = import(dir, &diag);
    if (!kb) fail_msg("%s", diag.data);
    const cds_kb_dose_limit *d[8];
    assert_int_equal(cds_kb_dose_limits(kb, "161", d, 8), 3);
    assert_string_equal(d[0]->id, "apap-adult");
    assert_string_equal(d[2]->id, "apap-iv");
    assert_true(isnan(d[0]->age_max_days));
    assert_true(d[0]->age_min_days == 6570 && d[0]->max_daily == 4);
    assert_string_equal(d[0]->unit, "g");
    assert_null(d[0]->schedule);
    assert_int_equal(cds_kb_dose_limits(kb, "11124", d, 8), 0);
    const cds_kb_renal *r[8];
    assert_int_equal(cds_kb_renal_dosing(kb, "11124", r, 8), 3);
    assert_string_equal(r[1]->action, "max_daily");
    const cds_kb_route_rule *ro[2];
    assert_int_equal(cds_kb_route_rules(kb, "11118", ro, 2), 1);
    assert_string_equal(ro[0]->forbidden, "intrathecal;im");
    const cds_kb_strength *st;
    assert_int_equal(cds_kb_product_strengths(kb, "856999", &st), 2);
    assert_string_equal(cds_kb_product_route(kb, "198440"), "oral");
    assert_null(cds_kb_product_route(kb, "1807510"));   /* "Injection": iv or im is not said */
    cds_kb_free(kb);
    cds_strbuf_free(&diag);
    tu_rmrf(dir);
}

static void expect_problem(const char *dose, const char *renal, const char *routes, const char *where_what)
{
    const char *dir = pack_dir(dose, renal, routes);
    cds_strbuf diag;
    cds_kb *kb = import(dir, &diag);
    assert_null(kb);
    char want[512];
    snprintf(want, sizeof want, "%s/p/knowledge/%s", dir, where_what);
    if (!strstr(diag.data, want)) fail_msg("want '%s' in:\n%s", want, diag.data);
    cds_strbuf_free(&diag);
    tu_rmrf(dir);
}

static void bad_rows_are_refused_with_file_and_line(void **s)
{
    (void)s;
    const char *H = "id\tdrug\troute\tage_min_days\tage_max_days\tweight_min_kg\tweight_max_kg\tunit\tmax_single\tmax_daily\tmin_daily\tschedule\tsource\n";
    char t[1024];
    snprintf(t, sizeof t, "%sa\t999\toral\t\t\t\t\tmg\t1\t\t\t\tx\n", H);
    expect_problem(t, NULL, NULL, "dose_limits.tsv:2: unknown drug code '999'");
    snprintf(t, sizeof t, "%sa\tproduct:42\toral\t\t\t\t\tmg\t1\t\t\t\tx\n", H);
    expect_problem(t, NULL, NULL, "dose_limits.tsv:2: unknown drug code 'product:42'");
    snprintf(t, sizeof t, "%sa\t161\tmouth\t\t\t\t\tmg\t1\t\t\t\tx\n", H);
    expect_problem(t, NULL, NULL, "dose_limits.tsv:2: unknown route group 'mouth'");
    snprintf(t, sizeof t, "%sa\t161\toral\t\t\t\t\tmg\t1,5\t\t\t\tx\n", H);
    expect_problem(t, NULL, NULL, "dose_limits.tsv:2: bad number '1,5' in column max_single");
    snprintf(t, sizeof t, "%sa\t161\toral\t\t\t\t\tmg\t-1\t\t\t\tx\n", H);
    expect_problem(t, NULL, NULL, "dose_limits.tsv:2: bad number '-1' in column max_single");
    snprintf(t, sizeof t, "%sa\t161\toral\t365\t30\t\t\tmg\t1\t\t\t\tx\n", H);
    expect_problem(t, NULL, NULL, "dose_limits.tsv:2: age_min_days must be below age_max_days");
    snprintf(t, sizeof t, "%sa\t161\toral\t\t\t40\t40\tmg\t1\t\t\t\tx\n", H);
    expect_problem(t, NULL, NULL, "dose_limits.tsv:2: weight_min_kg must be below weight_max_kg");
    snprintf(t, sizeof t, "%sa\t161\toral\t\t\t\t\tmg\t\t100\t200\t\tx\n", H);
    expect_problem(t, NULL, NULL, "dose_limits.tsv:2: min_daily must be below max_daily");
    snprintf(t, sizeof t, "%sa\t161\toral\t\t\t\t\tgrain\t1\t\t\t\tx\n", H);
    expect_problem(t, NULL, NULL, "dose_limits.tsv:2: unknown unit 'grain'");
    snprintf(t, sizeof t, "%sa\t161\toral\t\t\t\t\tmg\t1\t\t\tdaily\tx\n", H);
    expect_problem(t, NULL, NULL, "dose_limits.tsv:2: unknown schedule 'daily'");
    snprintf(t, sizeof t, "%sa\t161\toral\t\t\t\t\tmg\t1\t\t\t\tx\na\t161\toral\t\t\t\t\tmg\t1\t\t\t\tx\n", H);
    expect_problem(t, NULL, NULL, "dose_limits.tsv:3: duplicate id 'a'");
    snprintf(t, sizeof t, "%sa\t161\toral\t\t\t\t\tmg\t\t\t\t\tx\n", H);
    expect_problem(t, NULL, NULL, "dose_limits.tsv:2: no limit on the row");
    const char *R = "id\tdrug\troute\tmeasure\tmin\tmax\taction\tmax_daily\tunit\tinterval_h\tsource\n";
    snprintf(t, sizeof t, "%sr\t11124\tiv\tcystatin\t\t30\tavoid\t\t\t\tx\n", R);
    expect_problem(NULL, t, NULL, "renal_dosing.tsv:2: unknown measure 'cystatin'");
    snprintf(t, sizeof t, "%sr\t11124\tiv\tegfr\t30\t10\tavoid\t\t\t\tx\n", R);
    expect_problem(NULL, t, NULL, "renal_dosing.tsv:2: min must be below max");
    snprintf(t, sizeof t, "%sr\t11124\tiv\tegfr\t\t30\treduce\t\t\t\tx\n", R);
    expect_problem(NULL, t, NULL, "renal_dosing.tsv:2: unknown action 'reduce'");
    snprintf(t, sizeof t, "%sr\t11124\tiv\tegfr\t\t30\tmax_daily\t\t\t\tx\n", R);
    expect_problem(NULL, t, NULL, "renal_dosing.tsv:2: column max_daily is required");
    snprintf(t, sizeof t, "%sr\t11124\tiv\tegfr\t\t30\tinterval\t\t\tNaN\tx\n", R);
    expect_problem(NULL, t, NULL, "renal_dosing.tsv:2: bad number 'NaN' in column interval_h");
    const char *O = "id\tdrug\tallowed\tforbidden\tseverity\tsource\n";
    snprintf(t, sizeof t, "%sv\t11118\tiv\tspinal\tcritical\tx\n", O);
    expect_problem(NULL, NULL, t, "routes.tsv:2: unknown route group 'spinal'");
    snprintf(t, sizeof t, "%sv\t11118\tiv\tintrathecal\tfatal\tx\n", O);
    expect_problem(NULL, NULL, t, "routes.tsv:2: unknown severity 'fatal'");
    snprintf(t, sizeof t, "%sv\t4242\tiv\tintrathecal\tcritical\tx\n", O);
    expect_problem(NULL, NULL, t, "routes.tsv:2: unknown drug code '4242'");
    snprintf(t, sizeof t, "id\tdrug\tallowed\tforbidden\tseverity\tsource\tcolour\n");
    expect_problem(NULL, NULL, t, "routes.tsv:1:");   /* a column nobody reads */
}

/* --- through ctx ------------------------------------------------------------------------------ */

#define RXQ(code) "\"medicationCodeableConcept\":{\"coding\":[{\"system\":\"http://www.nlm.nih.gov/research/umls/rxnorm\",\"code\":\"" code "\"}]}"
#define TAB(n, code) "{\"doseAndRate\":[{\"doseQuantity\":{\"value\":" n ",\"unit\":\"tablet\",\"system\":\"http://unitsofmeasure.org\",\"code\":\"{tbl}\"}}],\"timing\":{\"code\":{\"coding\":[{\"code\":\"" code "\"}]}}}"

static const char *RULE =
    "rule { id = 't.dose', version = '1', title = 'Dose facts', hooks = { 'order-sign' },\n"
    "  evaluate = function(ctx)\n"
    "    local p, out = ctx.patient, {}\n"
    "    local m = ctx.meds.any('acetaminophen')\n"
    "    local d = m.dose\n"
    "    out[#out + 1] = string.format('mg=%g daily=%g unit=%s n=%g route=%s prn=%s', d.mg['161'], d.daily['161'],\n"
    "      d.units['161'], d.doses_per_day, tostring(d.route), tostring(d.prn))\n"
    "    local total, unit, refs, unc = ctx.daily_total('161', 'oral')\n"
    "    out[#out + 1] = string.format('total=%g %s from %d, uncounted %d: %s', total, unit, #refs, #unc, unc[1].reason)\n"
    "    local rows, skipped = ctx.dose_limits('161', d.route)\n"
    "    out[#out + 1] = string.format('limits=%d %s max=%g', #rows, rows[1].id, ctx.convert(rows[1].max_daily, rows[1].unit, 'mg'))\n"
    "    out[#out + 1] = string.format('age=%d weight=%g on %s crcl=%.1f %s egfr=%s dialysis=%s', p.age_years, p.weight_kg,\n"
    "      p.weight_date, p.crcl, p.crcl_weight, tostring(p.egfr_unknown), tostring(p.dialysis))\n"
    "    local rr, rs = ctx.renal_dosing('11124', 'iv')\n"
    "    out[#out + 1] = string.format('renal=%d %s value=%.1f skipped=%s', #rr, rr[1].action, rr[1].value, tostring(rs))\n"
    "    local ro = ctx.routes('11118')[1]\n"
    "    out[#out + 1] = string.format('routes=%s/%s %s', ro.allowed[1], ro.forbidden[2], ro.severity)\n"
    "    local sig = nil\n"
    "    for _, x in ipairs(ctx.meds) do if x.dose.not_computed then sig = x.dose.not_computed end end\n"
    "    out[#out + 1] = 'sig=' .. tostring(sig)\n"
    "    local ok = pcall(function() d.mg['161'] = 1 end)\n"
    "    out[#out + 1] = 'writable=' .. tostring(ok)\n"
    "    return card { indicator = 'info', summary = 'dose', detail = table.concat(out, '\\n') }\n"
    "  end }\n";

static void rules_read_dose_facts_and_tables_through_ctx(void **s)
{
    (void)s;
    const char *dir = pack_dir(DOSE, RENAL, ROUTES);
    tu_write(dir, "p/rules.lua", RULE);
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_ruleset *rs = NULL;
    cds_ruleset_opts o = {.limits = {.memory = 32u << 20, .instructions = 1000000, .milliseconds = 500}};
    if (cds_ruleset_load(dir, &o, &rs, &diag)) fail_msg("%s", diag.data);
    cds_engine *e = cds_engine_new(rs, &diag);
    assert_non_null(e);
    static const char *req =
        "{\"hook\":\"order-sign\",\"hookInstance\":\"hi\",\"context\":{\"userId\":\"Practitioner/1\",\"patientId\":\"p\","
        "\"draftOrders\":{\"resourceType\":\"Bundle\",\"entry\":["
        "{\"resource\":{\"resourceType\":\"MedicationRequest\",\"id\":\"m1\",\"status\":\"draft\"," RXQ("198440") ","
        "\"dosageInstruction\":[" TAB("2", "QID") "]}},"
        "{\"resource\":{\"resourceType\":\"MedicationRequest\",\"id\":\"m2\",\"status\":\"draft\"," RXQ("856999") ","
        "\"dosageInstruction\":[{\"text\":\"one or two when needed\"}]}}]}},"
        "\"prefetch\":{\"pt\":{\"resourceType\":\"Patient\",\"id\":\"p\",\"birthDate\":\"1953-11-14\",\"gender\":\"male\"},"
        "\"obs\":{\"resourceType\":\"Bundle\",\"entry\":["
        "{\"resource\":{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"29463-7\"}]},"
        "\"effectiveDateTime\":\"2023-11-10\",\"valueQuantity\":{\"value\":80,\"unit\":\"kg\"}}},"
        "{\"resource\":{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"2160-0\"}]},"
        "\"effectiveDateTime\":\"2023-11-13\",\"valueQuantity\":{\"value\":2,\"unit\":\"mg/dL\"}}}]}}}";
    msgpack_sbuffer in, out;
    msgpack_sbuffer_init(&in);
    msgpack_sbuffer_init(&out);
    cds_error err;
    assert_int_equal(cds_json_to_mp(req, strlen(req), "req", &in, &err), CDS_OK);
    msgpack_unpacked u, resp;
    assert_int_equal(cds_mp_decode(in.data, in.size, &u, &err), CDS_OK);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    cds_arena a;
    cds_arena_init(&a);
    cds_eval_info info;
    assert_int_equal(cds_engine_call(e, "svc", &u.data, "request", 1700000000 /* 2023-11-14T22:13Z */, &a, &pk, &info, &err), CDS_OK);
    if (info.nerrors) fail_msg("%s", info.runs[0].error);
    assert_int_equal(cds_mp_decode(out.data, out.size, &resp, &err), CDS_OK);
    const msgpack_object *cards = cds_mp_get(&resp.data, "cards");
    assert_int_equal(cards->via.array.size, 1);
    const msgpack_object *detail = cds_mp_get(&cards->via.array.ptr[0], "detail");
    char text[2048];
    snprintf(text, sizeof text, "%.*s", (int)detail->via.str.size, detail->via.str.ptr);
    assert_string_equal(text,
                        "mg=1000 daily=4000 unit=mg n=4 route=oral prn=false\n"
                        "total=4000 mg from 1, uncounted 1: free-text sig: the dose is only in the instructions' text\n"
                        "limits=1 apap-adult max=4000\n"
                        "age=70 weight=80 on 2023-11-10T00:00:00Z crcl=38.9 actual egfr=no eGFR result dialysis=false\n"
                        "renal=1 interval value=38.9 skipped=vanc-egfr: egfr unknown (no eGFR result)\n"
                        "routes=iv/im critical\n"
                        "sig=free-text sig: the dose is only in the instructions' text\n"
                        "writable=false");
    msgpack_unpacked_destroy(&resp);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&in);
    msgpack_sbuffer_destroy(&out);
    cds_arena_free(&a);
    cds_engine_free(e);
    cds_ruleset_free(rs);
    cds_strbuf_free(&diag);
    tu_rmrf(dir);
}

/* The shipped rule set still builds, with product strengths, when rules/dosing does not exist
 * yet (the curator's tables arrive separately; the synthetic pack above covers them). */
static void the_shipped_rules_build_without_dosing_tables(void **s)
{
    (void)s;
    cds_ruleset *rs = tu_shipped_rules();
    assert_non_null(rs);
    const cds_kb_strength *st;
    assert_int_equal(cds_kb_product_strengths(rs->kb, "866924", &st), 1);   /* metoprolol tartrate 25 MG Oral Tablet */
    cds_ruleset_free(rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_tables_load_and_are_found_by_drug),
        cmocka_unit_test(bad_rows_are_refused_with_file_and_line),
        cmocka_unit_test(rules_read_dose_facts_and_tables_through_ctx),
        cmocka_unit_test(the_shipped_rules_build_without_dosing_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
