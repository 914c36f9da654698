/* test_dose.c — order facts: RxNorm strengths, FHIR Dosage to amounts per ingredient per
 * administration and per day, daily totals across products, the patient's dose facts, and the
 * bad input that must give a reason in words instead of a number (or a crash). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dose.h"
#include "json.h"
#include "mp.h"
#include "patient_facts.h"
#include "request.h"
#include "route_group.h"
#include "ruleset.h"
#include "shipped_rules.h"
#include "strength.h"
#include "tsv.h"
#include "units.h"
#include "view.h"

static cds_ruleset *rs;

static int setup(void **s)
{
    (void)s;
    rs = tu_shipped_rules();
    return rs ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    cds_ruleset_free(rs);
    return 0;
}

typedef struct built { msgpack_sbuffer sb; msgpack_unpacked u; cds_arena a; cds_request req; cds_view v; } built;

static void build(built *b, const char *drafts, const char *prefetch)
{
    static char json[32768];
    snprintf(json, sizeof json,
             "{\"hook\":\"order-sign\",\"hookInstance\":\"hi-1\",\"context\":{\"userId\":\"Practitioner/1\",\"patientId\":\"p1\""
             ",\"draftOrders\":{\"resourceType\":\"Bundle\",\"entry\":[%s]}},\"prefetch\":{%s}}",
             drafts, prefetch ? prefetch : "");
    msgpack_sbuffer_init(&b->sb);
    cds_error err;
    if (cds_json_to_mp(json, strlen(json), "test", &b->sb, &err)) fail_msg("%s", err.message);
    assert_int_equal(cds_mp_decode(b->sb.data, b->sb.size, &b->u, &err), CDS_OK);
    cds_arena_init(&b->a);
    if (cds_request_parse(&b->u.data, "request", &b->a, &b->req, &err)) fail_msg("%s at %s", err.message, err.path);
    time_t now;
    cds_parse_time("2025-03-01T12:00:00Z", &now);
    assert_int_equal(cds_view_build(&b->req, rs->kb, now, &b->a, &b->v, &err), CDS_OK);
}

static void done(built *b)
{
    cds_arena_free(&b->a);
    msgpack_unpacked_destroy(&b->u);
    msgpack_sbuffer_destroy(&b->sb);
}

#define RX "http://www.nlm.nih.gov/research/umls/rxnorm"
#define MR(id, code, dosage) \
    "{\"resource\":{\"resourceType\":\"MedicationRequest\",\"id\":\"" id "\",\"status\":\"draft\"," \
    "\"medicationCodeableConcept\":{\"coding\":[{\"system\":\"" RX "\",\"code\":\"" code "\"}]}," \
    "\"dosageInstruction\":[" dosage "]}}"
#define Q(v, u) "{\"value\":" v ",\"unit\":\"" u "\",\"system\":\"http://unitsofmeasure.org\",\"code\":\"" u "\"}"
#define DOSE(v, u, timing) "{\"doseAndRate\":[{\"doseQuantity\":" Q(v, u) "}],\"timing\":" timing "}"
#define EVERY(f, p, unit) "{\"repeat\":{\"frequency\":" f ",\"period\":" p ",\"periodUnit\":\"" unit "\"}}"
#define CODE(c) "{\"code\":{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation\",\"code\":\"" c "\"}]}}"
#define OBS(id, loinc, v, unit, date) \
    "\"" id "\":{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"coding\":[{\"system\":\"http://loinc.org\"," \
    "\"code\":\"" loinc "\"}]},\"effectiveDateTime\":\"" date "\",\"valueQuantity\":{\"value\":" v ",\"unit\":\"" unit "\"}}"
#define PATIENT(bd, sex) "\"pt\":{\"resourceType\":\"Patient\",\"id\":\"p1\",\"birthDate\":\"" bd "\",\"gender\":\"" sex "\"}"

/* product codes from rules/vocabulary/knowledge/products.tsv */
#define METOPROLOL_25_TAB "866924"   /* metoprolol tartrate 25 MG Oral Tablet */
#define AMLO_BENAZ_CAP "898353"      /* amlodipine 5 MG / benazepril hydrochloride 10 MG Oral Capsule */
#define APAP_500_TAB "198440"        /* acetaminophen 500 MG Oral Tablet */
#define APAP_HYDROCODONE "856999"    /* acetaminophen 325 MG / hydrocodone bitartrate 10 MG Oral Tablet */
#define HALOPERIDOL_SOL "108872"     /* haloperidol 0.4 MG/ML Oral Solution */
#define GLARGINE "311041"            /* insulin glargine 100 UNT/ML Injectable Solution */
#define HEPARIN_1ML "1659263"        /* 1 ML heparin sodium, porcine 5000 UNT/ML Injection */
#define METHOTREXATE_TAB "105585"    /* methotrexate 2.5 MG Oral Tablet */

static uint32_t ing(const char *rxcui) { return cds_kb_ingredient_by_code(rs->kb, rxcui); }

static const cds_dose_ingredient *of(const cds_dose *d, const char *rxcui)
{
    for (uint32_t i = 0; i < d->ningredients; i++)
        if (d->ingredients[i].ingredient == ing(rxcui)) return &d->ingredients[i];
    fail_msg("ingredient %s not in the dose", rxcui);
    return NULL;
}

static void near(double got, double want)
{
    if (!(fabs(got - want) <= 1e-9 * (fabs(want) + 1))) fail_msg("got %g, want %g", got, want);
}

static void expect_not_computed(const char *drafts, const char *prefetch, const char *words)
{
    built b;
    build(&b, drafts, prefetch);
    const cds_dose *d = cds_view_dose(&b.v, 0);
    if (!d->not_computed || !strstr(d->not_computed, words))
        fail_msg("want not_computed with '%s', got '%s'", words, d->not_computed ? d->not_computed : "(computed)");
    done(&b);
}

/* --- strengths ------------------------------------------------------------------------------ */

static void strengths_are_read_from_rxnorm_names(void **s)
{
    (void)s;
    static const struct { const char *name; size_t n; double amount[3]; const char *unit[3]; double per_ml[3]; } cases[] = {
        {"Metoprolol Tartrate 25 MG Oral Tablet", 1, {25}, {"mg"}, {0}},
        {"Cefuroxime 250 MG/5ML Oral Suspension", 1, {250}, {"mg"}, {5}},
        {"Amlodipine 5 MG / Benazepril Hydrochloride 10 MG Oral Capsule", 2, {5, 10}, {"mg", "mg"}, {0, 0}},
        {"Insulin Glargine 100 UNT/ML Injectable Solution", 1, {100}, {"unit"}, {1}},
        {"Naloxone Hydrochloride 0.4 MG/ML Injectable Solution", 1, {0.4}, {"mg"}, {1}},
        {"Potassium Chloride 20 MEQ Extended Release Oral Tablet", 1, {20}, {"mEq"}, {0}},
        {"Levothyroxine Sodium 0.05 MG Oral Tablet", 1, {0.05}, {"mg"}, {0}},
        {"misoprostol 200 MCG Oral Tablet", 1, {0.2}, {"mg"}, {0}},
        {"1 ML heparin sodium, porcine 5000 UNT/ML Injection", 1, {5000}, {"unit"}, {1}},
        {"Furosemide 40 MG / Potassium 8 MMOL Extended Release Oral Tablet", 2, {40, 8}, {"mg", "mmol"}, {0, 0}},
        {"Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler", 1, {0.09}, {"mg"}, {0}},
        {"Amoxicillin 1 G Oral Tablet [Moxatag]", 1, {1000}, {"mg"}, {0}},
        {"Abuse-Deterrent 24 HR hydrocodone bitartrate 20 MG Extended Release Oral Tablet", 1, {20}, {"mg"}, {0}},
        {"Hydrocortisone 0.025 MG/MG Topical Ointment", 0, {0}, {NULL}, {0}},   /* per mass: not a dose-unit strength */
        {"168 HR clonidine 0.00833 MG/HR Transdermal System", 0, {0}, {NULL}, {0}},
        {"{21 (ethinyl estradiol 0.035 MG / norethindrone 1 MG Oral Tablet) } Pack", 0, {0}, {NULL}, {0}},
        {"", 0, {0}, {NULL}, {0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cds_strength st[CDS_STRENGTH_MAX];
        size_t n = cds_strength_parse(cases[i].name, st, CDS_STRENGTH_MAX);
        if (n != cases[i].n) fail_msg("%s: %zu strengths, want %zu", cases[i].name, n, cases[i].n);
        for (size_t k = 0; k < n; k++) {
            near(st[k].amount, cases[i].amount[k]);
            assert_string_equal(st[k].unit, cases[i].unit[k]);
            near(st[k].per_volume_ml, cases[i].per_ml[k]);
        }
    }
    cds_strength st[2];
    assert_int_equal(cds_strength_parse("Amlodipine 5 MG / Benazepril Hydrochloride 10 MG Oral Capsule", st, 2), 2);
    assert_string_equal(st[1].substance, "Benazepril Hydrochloride");
}

/* Every clinical drug name of the shipped vocabulary that carries a per-unit or per-mL strength
 * parses; the rest are per mass, per hour or packs. */
static void strengths_parse_for_the_shipped_clinical_drugs(void **s)
{
    (void)s;
    cds_tsv t;
    cds_error err;
    const char *req[] = {"rxcui", "name", "tty", NULL};
    assert_int_equal(cds_tsv_open(&t, CDSD_SOURCE_DIR "/rules/vocabulary/knowledge/products.tsv", req, &err), CDS_OK);
    int scd = 0, parsed = 0, unparsed_plain = 0;
    while (cds_tsv_next(&t)) {
        const char *tty = cds_tsv_get(&t, "tty"), *name = cds_tsv_get(&t, "name");
        if (strcmp(tty, "SCD") && strcmp(tty, "SBD")) continue;
        scd++;
        cds_strength st[CDS_STRENGTH_MAX];
        if (cds_strength_parse(name, st, CDS_STRENGTH_MAX)) parsed++;
        else if (!strstr(name, "MG/MG") && !strstr(name, "/HR") && !strstr(name, "MG/MG") && !strstr(name, "/ACTUAT") &&
                 !strstr(name, "/SQCM") && !strstr(name, "{") && strstr(name, " MG"))
            unparsed_plain++;
    }
    cds_tsv_close(&t);
    assert_true(scd > 5000);
    if (parsed < scd * 9 / 10) fail_msg("%d of %d clinical drug names parsed", parsed, scd);
    if (unparsed_plain > scd / 100) fail_msg("%d plain MG names not parsed", unparsed_plain);
    const cds_kb_strength *k;
    assert_int_equal(cds_kb_product_strengths(rs->kb, AMLO_BENAZ_CAP, &k), 2);
    assert_int_equal(k[0].ingredient, ing("17767"));
    near(k[0].amount, 5);
    assert_int_equal(k[1].ingredient, ing("18867"));
    near(k[1].amount, 10);
}

static void units_and_route_groups(void **s)
{
    (void)s;
    cds_unit u = cds_unit_parse("http://unitsofmeasure.org", "mg/kg", NULL);
    assert_int_equal(u.kind, CDS_UNIT_AMOUNT);
    assert_true(u.per_kg && !u.per_day);
    u = cds_unit_parse(NULL, NULL, "mcg");
    near(u.factor, 0.001);
    u = cds_unit_parse("http://unitsofmeasure.org", "{tbl}", "tablet");
    assert_int_equal(u.kind, CDS_UNIT_COUNT);
    u = cds_unit_parse("http://unitsofmeasure.org", "[iU]", NULL);
    assert_string_equal(u.base, "unit");
    u = cds_unit_parse("http://unitsofmeasure.org", "mg/kg/d", NULL);
    assert_true(u.per_kg && u.per_day);
    assert_int_equal(cds_unit_parse(NULL, "banana", "banana").kind, CDS_UNIT_UNKNOWN);
    assert_int_equal(cds_unit_parse(NULL, "mg/mL", NULL).kind, CDS_UNIT_UNKNOWN);
    double x;
    assert_true(cds_unit_convert(4, "g", "mg", &x));
    near(x, 4000);
    assert_true(cds_unit_convert(250, "mcg", "mg", &x));
    near(x, 0.25);
    assert_false(cds_unit_convert(1, "mEq", "mg", &x));
    assert_string_equal(cds_route_group_snomed("47625008"), "iv");
    assert_string_equal(cds_route_group_snomed("72607000"), "intrathecal");
    assert_string_equal(cds_route_group_snomed("26643006"), "oral");
    assert_string_equal(cds_route_group_text("IV push"), "iv");
    assert_string_equal(cds_route_group_text("take by mouth"), "oral");
    assert_string_equal(cds_route_group_text("PO"), "oral");
    assert_string_equal(cds_route_group_text("Intrathecal route"), "intrathecal");
    assert_null(cds_route_group_text("give it with food"));
    assert_null(cds_route_group_name("mouth"));
}

/* --- doses ---------------------------------------------------------------------------------- */

static void a_tablet_order_becomes_mg_per_dose_and_per_day(void **s)
{
    (void)s;
    built b;
    build(&b, MR("m1", METOPROLOL_25_TAB, "{\"doseAndRate\":[{\"doseQuantity\":" Q("2", "{tbl}") "}],\"timing\":" CODE("BID")
              ",\"route\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"26643006\"}]}}"), NULL);
    const cds_dose *d = cds_view_dose(&b.v, 0);
    assert_null(d->not_computed);
    near(of(d, "6918")->per_admin, 50);
    near(of(d, "6918")->daily, 100);
    assert_string_equal(of(d, "6918")->unit, "mg");
    near(d->doses_per_day, 2);
    near(d->interval_h, 12);
    assert_string_equal(d->route, "oral");
    assert_string_equal(d->route_from, "dosage");
    assert_false(d->prn);
    done(&b);
}

static void a_combination_capsule_gives_each_ingredient(void **s)
{
    (void)s;
    built b;
    build(&b, MR("m1", AMLO_BENAZ_CAP, DOSE("1", "{cap}", CODE("QD"))), NULL);
    const cds_dose *d = cds_view_dose(&b.v, 0);
    assert_null(d->not_computed);
    near(of(d, "17767")->daily, 5);
    near(of(d, "18867")->daily, 10);
    assert_string_equal(d->route, "oral");   /* from the product's dose form */
    assert_string_equal(d->route_from, "product");
    done(&b);
}

static void grams_milligrams_and_micrograms_agree(void **s)
{
    (void)s;
    built b;
    build(&b, MR("a", APAP_500_TAB, DOSE("1", "g", EVERY("4", "1", "d"))) ","
              MR("b", APAP_500_TAB, DOSE("1000", "mg", EVERY("1", "6", "h"))) ","
              MR("c", APAP_500_TAB, DOSE("1000000", "ug", CODE("QID"))), NULL);
    for (uint32_t i = 0; i < 3; i++) {
        const cds_dose *d = cds_view_dose(&b.v, i);
        assert_null(d->not_computed);
        near(of(d, "161")->per_admin, 1000);
        near(of(d, "161")->daily, 4000);
    }
    done(&b);
}

static void a_liquid_dose_in_ml_goes_through_the_concentration(void **s)
{
    (void)s;
    built b;
    build(&b, MR("m1", HALOPERIDOL_SOL, DOSE("5", "mL", CODE("TID"))) "," MR("m2", GLARGINE, DOSE("0.2", "mL", CODE("QHS"))) ","
              MR("m3", HEPARIN_1ML, DOSE("1", "mL", CODE("Q8H"))), NULL);
    near(of(cds_view_dose(&b.v, 0), "5093")->per_admin, 2);
    near(of(cds_view_dose(&b.v, 0), "5093")->daily, 6);
    near(of(cds_view_dose(&b.v, 1), "274783")->per_admin, 20);
    assert_string_equal(of(cds_view_dose(&b.v, 1), "274783")->unit, "unit");
    near(of(cds_view_dose(&b.v, 2), "5224")->daily, 15000);
    done(&b);
}

static void a_taper_counts_its_largest_step_and_concurrent_entries_add_up(void **s)
{
    (void)s;
    built b;
    build(&b, MR("m1", APAP_500_TAB, "{\"sequence\":1," "\"doseAndRate\":[{\"doseQuantity\":" Q("1000", "mg") "}],\"timing\":" CODE("TID") "},"
                                      "{\"sequence\":2," "\"doseAndRate\":[{\"doseQuantity\":" Q("500", "mg") "}],\"timing\":" CODE("TID") "}") ","
              MR("m2", APAP_500_TAB, "{\"sequence\":1," "\"doseAndRate\":[{\"doseQuantity\":" Q("500", "mg") "}],\"timing\":" CODE("QAM") "},"
                                      "{\"sequence\":1," "\"doseAndRate\":[{\"doseQuantity\":" Q("1000", "mg") "}],\"timing\":" CODE("QHS") "}"),
          NULL);
    near(of(cds_view_dose(&b.v, 0), "161")->daily, 3000);
    near(of(cds_view_dose(&b.v, 0), "161")->per_admin, 1000);
    near(of(cds_view_dose(&b.v, 1), "161")->daily, 1500);
    done(&b);
}

static void a_prn_order_counts_at_its_maximum(void **s)
{
    (void)s;
    built b;
    /* 1-2 tablets every 4-6 hours as needed: 2 tablets 6 times a day at most */
    build(&b, MR("m1", APAP_500_TAB, "{\"asNeededBoolean\":true,\"doseAndRate\":[{\"doseRange\":{\"low\":" Q("1", "{tbl}") ",\"high\":" Q("2", "{tbl}") "}}],"
                                      "\"timing\":{\"repeat\":{\"frequency\":1,\"period\":4,\"periodMax\":6,\"periodUnit\":\"h\"}}}") ","
              /* the same, capped at 3 g a day */
              MR("m2", APAP_500_TAB, "{\"asNeededBoolean\":true,\"doseAndRate\":[{\"doseQuantity\":" Q("2", "{tbl}") "}],"
                                      "\"timing\":{\"repeat\":{\"frequency\":1,\"period\":4,\"periodUnit\":\"h\"}},"
                                      "\"maxDosePerPeriod\":{\"numerator\":" Q("3", "g") ",\"denominator\":{\"value\":1,\"unit\":\"d\",\"code\":\"d\"}}}") ","
              /* as needed with only a daily maximum and no frequency */
              MR("m3", APAP_500_TAB, "{\"asNeededCodeableConcept\":{\"text\":\"pain\"},\"doseAndRate\":[{\"doseQuantity\":" Q("500", "mg") "}],"
                                      "\"maxDosePerPeriod\":{\"numerator\":" Q("2000", "mg") ",\"denominator\":{\"value\":24,\"unit\":\"h\",\"code\":\"h\"}}}"),
          NULL);
    const cds_dose *d = cds_view_dose(&b.v, 0);
    assert_true(d->prn);
    near(of(d, "161")->per_admin, 1000);
    near(of(d, "161")->daily, 6000);
    near(d->doses_per_day_min, 4);
    near(of(cds_view_dose(&b.v, 1), "161")->daily, 3000);
    near(of(cds_view_dose(&b.v, 2), "161")->daily, 2000);
    assert_true(cds_view_dose(&b.v, 2)->prn);
    done(&b);
}

static void the_daily_total_sums_single_and_combination_products(void **s)
{
    (void)s;
    built b;
    build(&b, MR("single", APAP_500_TAB, DOSE("2", "{tbl}", CODE("QID"))) ","
              MR("combo", APAP_HYDROCODONE, "{\"asNeededBoolean\":true,\"doseAndRate\":[{\"doseQuantity\":" Q("1", "{tbl}") "}],\"timing\":" CODE("Q6H") "}") ","
              MR("sig", APAP_500_TAB, "{\"text\":\"take as directed\"}"),
          "\"meds\":{\"resourceType\":\"MedicationRequest\",\"id\":\"active1\",\"status\":\"active\","
          "\"medicationCodeableConcept\":{\"coding\":[{\"system\":\"" RX "\",\"code\":\"" METOPROLOL_25_TAB "\"}]},"
          "\"dosageInstruction\":[" DOSE("1", "{tbl}", CODE("BID")) "]}");
    cds_daily_total t;
    cds_dose_daily_total(&b.v, ing("161"), "oral", &t);
    near(t.amount, 4000 + 4 * 325);
    assert_string_equal(t.unit, "mg");
    assert_int_equal(t.nmeds, 2);
    assert_string_equal(b.v.meds[t.meds[0]].ref, "MedicationRequest/single");
    assert_string_equal(b.v.meds[t.meds[1]].ref, "MedicationRequest/combo");
    assert_int_equal(t.nuncounted, 1);   /* the free-text sig: listed, with its reason */
    assert_string_equal(b.v.meds[t.uncounted[0]].ref, "MedicationRequest/sig");
    assert_non_null(strstr(t.reasons[0], "free-text sig"));
    cds_dose_daily_total(&b.v, ing("161"), "iv", &t);
    assert_int_equal(t.nmeds, 0);
    cds_dose_daily_total(&b.v, ing("6918"), NULL, &t);   /* the active order counts too */
    near(t.amount, 50);
    done(&b);
}

static void a_weekly_schedule_is_named(void **s)
{
    (void)s;
    built b;
    build(&b, MR("m1", METHOTREXATE_TAB, DOSE("6", "{tbl}", CODE("WK"))) "," MR("m2", METHOTREXATE_TAB, DOSE("6", "{tbl}", EVERY("1", "1", "d"))),
          NULL);
    assert_string_equal(cds_view_dose(&b.v, 0)->schedule, "weekly");
    near(of(cds_view_dose(&b.v, 0), "6851")->daily, 15.0 / 7);
    assert_null(cds_view_dose(&b.v, 1)->schedule);
    near(of(cds_view_dose(&b.v, 1), "6851")->daily, 15);
    done(&b);
}

static void a_dose_per_kg_uses_the_latest_weight(void **s)
{
    (void)s;
    built b;
    build(&b, MR("m1", APAP_500_TAB, DOSE("15", "mg/kg", CODE("Q6H"))),
          OBS("w1", "29463-7", "44", "[lb_av]", "2025-02-27") "," OBS("w0", "29463-7", "30", "kg", "2024-01-01"));
    const cds_dose *d = cds_view_dose(&b.v, 0);
    assert_null(d->not_computed);
    assert_true(d->per_kg);
    near(d->weight_kg, 44 * 0.45359237);
    near(of(d, "161")->per_admin, 15 * 44 * 0.45359237);
    near(of(d, "161")->daily, 4 * 15 * 44 * 0.45359237);
    done(&b);
    expect_not_computed(MR("m1", APAP_500_TAB, DOSE("15", "mg/kg", CODE("Q6H"))), NULL, "weight is unknown (no body weight result)");
}

/* --- bad input ------------------------------------------------------------------------------ */

static void bad_doses_are_not_computed_with_a_reason(void **s)
{
    (void)s;
    expect_not_computed(MR("m", APAP_500_TAB, DOSE("-5", "mg", CODE("QD"))), NULL, "dose is negative (-5)");
    expect_not_computed(MR("m", APAP_500_TAB, DOSE("0", "mg", CODE("QD"))), NULL, "dose is 0");
    expect_not_computed(MR("m", APAP_500_TAB, DOSE("1e12", "mg", CODE("QD"))), NULL, "implausibly large");
    expect_not_computed(MR("m", APAP_500_TAB, DOSE("\"ten\"", "mg", CODE("QD"))), NULL, "not a number");
    expect_not_computed(MR("m", APAP_500_TAB, DOSE("5", "banana", CODE("QD"))), NULL, "dose unit 'banana' is not understood");
    expect_not_computed(MR("m", APAP_500_TAB, DOSE("500", "mg", EVERY("0", "1", "d"))), NULL, "frequency is 0");
    expect_not_computed(MR("m", APAP_500_TAB, DOSE("500", "mg", EVERY("1", "0", "d"))), NULL, "period is 0");
    expect_not_computed(MR("m", APAP_500_TAB, DOSE("500", "mg", EVERY("-2", "1", "d"))), NULL, "frequency is -2");
    expect_not_computed(MR("m", APAP_500_TAB, "{\"text\":\"1 tab po q6h prn\"}"), NULL, "free-text sig");
    expect_not_computed(MR("m", AMLO_BENAZ_CAP, DOSE("5", "mg", CODE("QD"))), NULL, "which one is meant is not stated");
    expect_not_computed(MR("m", APAP_500_TAB, ""), NULL, "no dosage instructions");
    expect_not_computed(MR("m", APAP_500_TAB, "{\"doseAndRate\":[{\"rateQuantity\":" Q("5", "mL/h") "}]}"), NULL, "infusion rates");
    expect_not_computed(MR("m", "999999999", DOSE("1", "{tbl}", CODE("QD"))), NULL, "not mapped to an ingredient");
    expect_not_computed(MR("m", "161", DOSE("1", "{tbl}", CODE("QD"))), NULL, "strength is not known");
    expect_not_computed(MR("m", APAP_500_TAB, "1"), NULL, "not an object");
    /* a timing that cannot be read leaves the amount, not the day */
    built b;
    build(&b, MR("m", APAP_500_TAB, DOSE("500", "mg", "{\"repeat\":{\"frequency\":2,\"period\":1,\"periodUnit\":\"fortnight\"}}")), NULL);
    const cds_dose *d = cds_view_dose(&b.v, 0);
    assert_null(d->not_computed);
    near(of(d, "161")->per_admin, 500);
    assert_true(isnan(of(d, "161")->daily));
    assert_non_null(strstr(d->daily_not_computed, "period unit 'fortnight'"));
    done(&b);
}

/* NaN cannot be written in JSON; MessagePack carries it. */
static void a_nan_dose_is_not_computed_and_the_other_orders_are(void **s)
{
    (void)s;
    built b;
    build(&b, MR("ok", APAP_500_TAB, DOSE("500", "mg", CODE("QD"))), NULL);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "resourceType", 12);
    msgpack_pack_str_with_body(&pk, "MedicationRequest", 17);
    msgpack_pack_str_with_body(&pk, "dosageInstruction", 17);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "doseAndRate", 11);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "doseQuantity", 12);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "value", 5);
    msgpack_pack_double(&pk, NAN);
    msgpack_pack_str_with_body(&pk, "unit", 4);
    msgpack_pack_str_with_body(&pk, "mg", 2);
    msgpack_unpacked u;
    cds_error err;
    assert_int_equal(cds_mp_decode(sb.data, sb.size, &u, &err), CDS_OK);
    cds_med meds[2] = {b.v.meds[0], b.v.meds[0]};
    meds[1].resource = &u.data;
    cds_view v = b.v;
    v.meds = meds;
    v.nmeds = 2;
    v.doses = NULL;
    assert_non_null(strstr(cds_view_dose(&v, 1)->not_computed, "dose is not a number"));
    assert_null(cds_view_dose(&v, 0)->not_computed);
    near(of(cds_view_dose(&v, 0), "161")->daily, 500);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    done(&b);
}

/* --- patient facts -------------------------------------------------------------------------- */

static const cds_patient_facts *facts(built *b, const char *prefetch)
{
    build(b, MR("m1", APAP_500_TAB, DOSE("500", "mg", CODE("QD"))), prefetch);
    return cds_view_patient_facts(&b->v);
}

static void age_weight_kidney_function_and_dialysis(void **s)
{
    (void)s;
    built b;
    const cds_patient_facts *f = facts(&b, PATIENT("1950-03-02", "female") ","
                                          OBS("w", "29463-7", "60", "kg", "2025-02-20") ","
                                          OBS("h", "8302-2", "1.6", "m", "2024-06-01") ","
                                          OBS("c", "14682-9", "176.84", "umol/L", "2025-02-28") ","
                                          OBS("e", "62238-1", "25", "mL/min/{1.73_m2}", "2025-02-28") ","
                                          "\"cond\":{\"resourceType\":\"Condition\",\"clinicalStatus\":\"active\",\"code\":{\"coding\":"
                                          "[{\"system\":\"http://snomed.info/sct\",\"code\":\"105502003\"}],\"text\":\"Dependence on renal dialysis\"}}");
    assert_true(f->age_known);
    assert_int_equal(f->age_years, 74);   /* 75 on 2025-03-02, the day after */
    assert_int_equal(f->age_months, 74 * 12 + 11);
    assert_string_equal(f->age_precision, "day");
    near(f->weight_kg.value, 60);
    near(f->height_cm.value, 160);
    near(f->bsa.value, sqrt(60 * 160 / 3600.0));
    near(f->creatinine.value, 2);
    near(f->egfr.value, 25);
    assert_true(f->crcl.known);
    near(f->crcl.value, (140 - 74) * 60 / (72 * 2.0) * 0.85);
    assert_string_equal(f->crcl_weight, "actual");
    assert_true(f->dialysis);
    done(&b);

    f = facts(&b, PATIENT("2024", "male"));   /* a partial birth date */
    assert_true(f->age_known);
    assert_string_equal(f->age_precision, "year");
    assert_int_equal(f->age_months, 14);
    assert_int_equal(f->age_days, 425);
    assert_false(f->crcl.known);
    assert_non_null(strstr(f->crcl.why, "adults"));
    assert_false(f->dialysis);
    done(&b);
}

static void implausible_patient_values_are_unknown_with_a_reason(void **s)
{
    (void)s;
    built b;
    const cds_patient_facts *f = facts(&b, PATIENT("2030-01-01", "male") "," OBS("w", "29463-7", "0", "kg", "2025-02-20") ","
                                          OBS("c", "2160-0", "0", "mg/dL", "2025-02-28"));
    assert_false(f->age_known);
    assert_non_null(strstr(f->age_why, "after the evaluation time"));
    assert_false(f->weight_kg.known);
    assert_non_null(strstr(f->weight_kg.why, "implausible"));
    assert_false(f->creatinine.known);
    assert_non_null(strstr(f->creatinine.why, "implausible"));
    assert_false(f->crcl.known);
    /* on file but unusable, not merely absent: the renal check says it could not check */
    assert_true(f->age_unusable && f->weight_kg.unusable && f->creatinine.unusable && f->crcl.unusable);
    assert_false(f->bsa.known);
    assert_null(cds_view_dose(&b.v, 0)->not_computed);   /* the order itself is still read */
    done(&b);

    f = facts(&b, OBS("w", "29463-7", "700", "kg", "2025-02-20") "," OBS("h", "8302-2", "170", "furlong", "2025-02-20") ","
                  OBS("e", "33914-3", "-4", "mL/min/{1.73_m2}", "2025-02-20"));
    assert_false(f->weight_kg.known);
    assert_non_null(strstr(f->weight_kg.why, "(700 kg) is implausible"));
    assert_false(f->height_cm.known);
    assert_non_null(strstr(f->height_cm.why, "'furlong'"));
    assert_false(f->egfr.known);
    assert_true(f->weight_kg.unusable && f->height_cm.unusable && f->egfr.unusable);
    assert_false(f->age_known);
    assert_non_null(strstr(f->age_why, "no Patient"));
    assert_false(f->age_unusable);    /* absent, not unusable */
    assert_false(f->creatinine.unusable);
    assert_false(f->crcl.unusable);
    done(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strengths_are_read_from_rxnorm_names),
        cmocka_unit_test(strengths_parse_for_the_shipped_clinical_drugs),
        cmocka_unit_test(units_and_route_groups),
        cmocka_unit_test(a_tablet_order_becomes_mg_per_dose_and_per_day),
        cmocka_unit_test(a_combination_capsule_gives_each_ingredient),
        cmocka_unit_test(grams_milligrams_and_micrograms_agree),
        cmocka_unit_test(a_liquid_dose_in_ml_goes_through_the_concentration),
        cmocka_unit_test(a_taper_counts_its_largest_step_and_concurrent_entries_add_up),
        cmocka_unit_test(a_prn_order_counts_at_its_maximum),
        cmocka_unit_test(the_daily_total_sums_single_and_combination_products),
        cmocka_unit_test(a_weekly_schedule_is_named),
        cmocka_unit_test(a_dose_per_kg_uses_the_latest_weight),
        cmocka_unit_test(bad_doses_are_not_computed_with_a_reason),
        cmocka_unit_test(a_nan_dose_is_not_computed_and_the_other_orders_are),
        cmocka_unit_test(age_weight_kidney_function_and_dialysis),
        cmocka_unit_test(implausible_patient_values_are_unknown_with_a_reason),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
