/* test_view.c — the normalized clinical view: status rules, prefetch by resourceType,
 * medicationReference, ingredient resolution by code and by name, allergies, observations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "mp.h"
#include "request.h"
#include "ruleset.h"
#include "shipped_rules.h"
#include "screen.h"
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

/* A request whose draftOrders and prefetch are given as JSON fragments. */
static void build(built *b, const char *hook, const char *drafts, const char *prefetch, const char *extra)
{
    char json[16384];
    snprintf(json, sizeof json,
             "{\"hook\":\"%s\",\"hookInstance\":\"hi-1\",\"context\":{\"userId\":\"Practitioner/1\",\"patientId\":\"p1\""
             ",\"draftOrders\":{\"resourceType\":\"Bundle\",\"entry\":[%s]}%s},\"prefetch\":{%s}}",
             hook, drafts, extra ? extra : "", prefetch);
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

#define MR(id, status, med) \
    "{\"resource\":{\"resourceType\":\"MedicationRequest\",\"id\":\"" id "\",\"status\":\"" status "\"," med "}}"
#define CC(code, text) \
    "\"medicationCodeableConcept\":{\"text\":\"" text "\",\"coding\":[{\"system\":\"http://www.nlm.nih.gov/research/umls/rxnorm\",\"code\":\"" code "\"}]}"
#define TEXT(text) "\"medicationCodeableConcept\":{\"text\":\"" text "\"}"

static const char *ingredient(const built *b, uint32_t med, uint32_t i)
{
    return cds_kb_ingredient_at(rs->kb, b->v.meds[med].ingredients[i])->name;
}

/* FHIR dates and dateTimes to epoch seconds: agrees with timegm (which it replaced) across
 * leap years, centuries, partial dates, offsets and an out-of-range day that rolls over. */
static void times_parse_as_timegm_would(void **s)
{
    (void)s;
    static const struct { const char *text; int y, mo, d, h, mi, sec, off; } cases[] = {
        {"1970-01-01", 1970, 1, 1, 0, 0, 0, 0},          {"1999-12-31T23:59:59Z", 1999, 12, 31, 23, 59, 59, 0},
        {"2000-02-29T12:00:00Z", 2000, 2, 29, 12, 0, 0, 0}, {"1900-03-01", 1900, 3, 1, 0, 0, 0, 0},
        {"1850-07", 1850, 7, 1, 0, 0, 0, 0},               {"2024", 2024, 1, 1, 0, 0, 0, 0},
        {"2100-02-28T08:30", 2100, 2, 28, 8, 30, 0, 0},    {"2023-02-31", 2023, 2, 31, 0, 0, 0, 0},
        {"2025-03-01T12:00:00.123+02:00", 2025, 3, 1, 12, 0, 0, 7200},
        {"2025-03-01T12:00:00-05:30", 2025, 3, 1, 12, 0, 0, -19800},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tm tm = {.tm_year = cases[i].y - 1900, .tm_mon = cases[i].mo - 1, .tm_mday = cases[i].d,
                        .tm_hour = cases[i].h, .tm_min = cases[i].mi, .tm_sec = cases[i].sec};
        time_t want = timegm(&tm) - cases[i].off, got = 0;
        assert_true(cds_parse_time(cases[i].text, &got));
        if (got != want) fail_msg("%s: %lld, want %lld", cases[i].text, (long long)got, (long long)want);
    }
    time_t t;
    assert_false(cds_parse_time("1799-01-01", &t));
    assert_false(cds_parse_time("2024-13-01", &t));
    assert_false(cds_parse_time("20x4-01-01", &t));
}

static void a_product_code_resolves_to_its_ingredient(void **s)
{
    (void)s;
    built b;
    build(&b, "order-sign", MR("1", "draft", CC("855332", "Warfarin Sodium 5 MG Oral Tablet")), "", NULL);
    assert_int_equal(b.v.nmeds, 1);
    assert_true(b.v.meds[0].resolved);
    assert_false(b.v.meds[0].name_match);
    assert_string_equal(ingredient(&b, 0, 0), "warfarin");
    done(&b);
}

static void a_name_resolves_when_no_code_does(void **s)
{
    (void)s;
    built b;
    build(&b, "order-sign", MR("1", "draft", TEXT("WARFARIN sodium 5 mg tablet [Coumadin]")) ","
          MR("2", "draft", TEXT("Coumadin 2 mg")), "", NULL);
    assert_true(b.v.meds[0].name_match);
    assert_int_equal(b.v.meds[0].ningredients, 1);
    assert_string_equal(ingredient(&b, 0, 0), "warfarin");
    assert_string_equal(ingredient(&b, 1, 0), "warfarin");   /* brand name */
    done(&b);
}

static void a_combination_product_gives_every_ingredient(void **s)
{
    (void)s;
    built b;
    build(&b, "order-sign", MR("1", "draft", TEXT("Amoxicillin 875 MG / Clavulanate 125 MG Oral Tablet")), "", NULL);
    assert_int_equal(b.v.meds[0].ningredients, 2);
    done(&b);
}

static void an_unknown_medication_is_kept_and_marked(void **s)
{
    (void)s;
    built b;
    build(&b, "order-sign", MR("1", "draft", TEXT("Zzyzx elixir")), "", NULL);
    assert_int_equal(b.v.nmeds, 1);
    assert_false(b.v.meds[0].resolved);
    done(&b);
}

static void inactive_statuses_are_not_active(void **s)
{
    (void)s;
    built b;
    build(&b, "order-sign", MR("d", "draft", CC("855332", "warfarin")),
          "\"meds\":{\"resourceType\":\"Bundle\",\"entry\":["
          MR("a", "active", CC("5640", "ibuprofen")) "," MR("s", "stopped", CC("5640", "ibuprofen")) ","
          MR("c", "completed", CC("5640", "ibuprofen")) "," MR("x", "cancelled", CC("5640", "ibuprofen")) ","
          MR("e", "entered-in-error", CC("5640", "ibuprofen")) "," MR("h", "on-hold", CC("5640", "ibuprofen")) ","
          MR("o", "draft", CC("5640", "ibuprofen")) "]}", NULL);
    assert_int_equal(b.v.nmeds, 2);
    assert_string_equal(b.v.meds[1].ref, "MedicationRequest/a");
    assert_int_equal(b.v.meds[1].source, CDS_MED_ACTIVE);
    done(&b);
}

/* A draft that replaces an order names it (priorPrescription), and the order it replaces is on
 * its way out (stopping); a draft order stopping or cancelling an active order (same id) marks
 * that active order as stopping, and is not itself a medication of the view. An active order
 * nothing stops or replaces is not marked. */
static void replacements_and_orders_being_stopped(void **s)
{
    (void)s;
    built b;
    build(&b, "order-sign",
          "{\"resource\":{\"resourceType\":\"MedicationRequest\",\"id\":\"d\",\"status\":\"draft\","
          "\"priorPrescription\":{\"reference\":\"MedicationRequest/a\"}," CC("617311", "atorvastatin 40 MG") "}},"
          MR("b", "stopped", CC("198211", "simvastatin 40 MG")),
          "\"meds\":{\"resourceType\":\"Bundle\",\"entry\":["
          MR("a", "active", CC("617310", "atorvastatin 20 MG")) "," MR("b", "active", CC("198211", "simvastatin 40 MG")) ","
          MR("c", "active", CC("314076", "lisinopril 10 MG")) "]}", NULL);
    assert_int_equal(b.v.nmeds, 4);
    assert_string_equal(b.v.meds[0].prior, "MedicationRequest/a");
    assert_false(b.v.meds[0].stopping);
    assert_string_equal(b.v.meds[1].ref, "MedicationRequest/a");
    assert_null(b.v.meds[1].prior);
    assert_true(b.v.meds[1].stopping);   /* replaced by the draft */
    assert_string_equal(b.v.meds[2].ref, "MedicationRequest/b");
    assert_int_equal(b.v.meds[2].source, CDS_MED_ACTIVE);
    assert_true(b.v.meds[2].stopping);
    assert_false(b.v.meds[3].stopping);
    done(&b);
}

static void prefetch_is_read_by_resource_type_not_key(void **s)
{
    (void)s;
    built b;
    build(&b, "order-sign", MR("d", "draft", CC("855332", "warfarin")),
          "\"whatever\":" "{\"resourceType\":\"MedicationStatement\",\"id\":\"ms\",\"status\":\"active\"," CC("5640", "ibuprofen") "},"
          "\"nothing\":null,"
          "\"failed\":{\"resourceType\":\"OperationOutcome\",\"issue\":[]},"
          "\"empty\":{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"total\":0}", NULL);
    assert_int_equal(b.v.nmeds, 2);
    assert_string_equal(b.v.meds[1].ref, "MedicationStatement/ms");
    assert_int_equal(b.v.prefetch_errors, 1);
    done(&b);
}

static void medication_reference_resolves_to_contained_and_bundled(void **s)
{
    (void)s;
    built b;
    build(&b, "order-sign",
          "{\"resource\":{\"resourceType\":\"MedicationRequest\",\"id\":\"1\",\"status\":\"draft\","
          "\"contained\":[{\"resourceType\":\"Medication\",\"id\":\"med1\",\"code\":{\"coding\":[{\"system\":"
          "\"http://www.nlm.nih.gov/research/umls/rxnorm\",\"code\":\"5640\",\"display\":\"Ibuprofen\"}]}}],"
          "\"medicationReference\":{\"reference\":\"#med1\"}}},"
          "{\"resource\":{\"resourceType\":\"MedicationRequest\",\"id\":\"2\",\"status\":\"draft\","
          "\"medicationReference\":{\"reference\":\"Medication/m2\"}}},"
          "{\"resource\":{\"resourceType\":\"Medication\",\"id\":\"m2\",\"code\":{\"text\":\"Warfarin 1 mg\"}}}",
          "", NULL);
    assert_int_equal(b.v.nmeds, 2);
    assert_string_equal(ingredient(&b, 0, 0), "ibuprofen");
    assert_string_equal(ingredient(&b, 1, 0), "warfarin");
    done(&b);
}

static void order_select_marks_only_the_selections_as_selected(void **s)
{
    (void)s;
    built b;
    build(&b, "order-select", MR("1", "draft", CC("855332", "warfarin")) "," MR("2", "draft", CC("5640", "ibuprofen")),
          "", ",\"selections\":[\"MedicationRequest/2\"]");
    assert_false(b.v.meds[0].selected);
    assert_true(b.v.meds[1].selected);
    done(&b);
}

static void allergy_status_rules(void **s)
{
    (void)s;
#define AI(id, clin, ver, code)                                                                                   \
    "{\"resource\":{\"resourceType\":\"AllergyIntolerance\",\"id\":\"" id "\","                                   \
    "\"clinicalStatus\":{\"coding\":[{\"code\":\"" clin "\"}]},\"verificationStatus\":{\"coding\":[{\"code\":\"" ver \
    "\"}]},\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"" code "\"}],\"text\":\"Penicillin\"}}}"
    built b;
    build(&b, "order-sign", MR("d", "draft", CC("723", "amoxicillin")),
          "\"allergies\":{\"resourceType\":\"Bundle\",\"entry\":["
          AI("a", "active", "confirmed", "373270004") "," AI("r", "active", "refuted", "373270004") ","
          AI("e", "active", "entered-in-error", "373270004") "," AI("i", "inactive", "confirmed", "373270004") ","
          AI("z", "resolved", "confirmed", "373270004") "," AI("n", "active", "confirmed", "716186003") "]}",
          NULL);
    assert_int_equal(b.v.nallergies, 1);
    assert_string_equal(b.v.allergies[0].id, "a");
    assert_true(b.v.allergies[0].resolved);
    cds_allergy_hit *hits;
    assert_int_equal(cds_screen_allergies(&b.v, &b.a, &hits), 1);
    assert_false(hits[0].cross);
    done(&b);
}

static void free_text_allergy_and_cross_sensitivity(void **s)
{
    (void)s;
    built b;
    build(&b, "order-sign", MR("d", "draft", CC("2231", "cephalexin")),
          "\"a\":{\"resourceType\":\"AllergyIntolerance\",\"id\":\"t\",\"code\":{\"text\":\"PCN allergy\"}}", NULL);
    assert_int_equal(b.v.nallergies, 1);
    assert_true(b.v.allergies[0].resolved);
    cds_allergy_hit *hits;
    assert_int_equal(cds_screen_allergies(&b.v, &b.a, &hits), 1);
    assert_true(hits[0].cross);
    assert_string_equal(hits[0].level, "low");
    done(&b);
}

static void latest_observation_per_loinc_and_age(void **s)
{
    (void)s;
#define OBS(t, v) \
    "{\"resource\":{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"6301-6\"}]}," \
    "\"effectiveDateTime\":\"" t "\",\"valueQuantity\":{\"value\":" v ",\"unit\":\"{INR}\"}}}"
    built b;
    build(&b, "order-sign", "",
          "\"p\":{\"resourceType\":\"Patient\",\"id\":\"p1\",\"gender\":\"female\",\"birthDate\":\"1950-03-02\"},"
          "\"o\":{\"resourceType\":\"Bundle\",\"entry\":[" OBS("2025-02-01T10:00:00Z", "2.1") "," OBS("2025-02-20T10:00:00Z", "3.4") ","
          OBS("2025-01-01T10:00:00Z", "1.0") "]}", NULL);
    assert_int_equal(b.v.nobs, 1);
    const cds_observation *o = cds_view_observation(&b.v, 0);
    assert_true(o->has_value && o->value > 3.3 && o->value < 3.5);
    assert_string_equal(o->unit, "{INR}");
    assert_string_equal(o->code, "6301-6");
    assert_int_equal(b.v.patient.age, 74);   /* 75th birthday is tomorrow */
    assert_string_equal(b.v.patient.sex, "female");
    done(&b);
}

/* The coded answer (valueCodeableConcept's first coding), the quantity's comparator and a
 * valueDateTime are read with the rest of the result (pregnancy status, "> 5.5", delivery date). */
static void observation_coded_answer_comparator_and_date_value(void **s)
{
    (void)s;
#define OBX(code, value) \
    "{\"resource\":{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"" code "\"}]}," \
    "\"effectiveDateTime\":\"2025-02-27T10:00:00Z\"," value "}}"
    built b;
    build(&b, "order-sign", "",
          "\"o\":{\"resourceType\":\"Bundle\",\"entry\":["
          OBX("82810-3", "\"valueCodeableConcept\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"LA15173-0\",\"display\":\"Pregnant\"}]}") ","
          OBX("2823-3", "\"valueQuantity\":{\"value\":5.5,\"comparator\":\">\",\"unit\":\"mmol/L\"}") ","
          OBX("11778-8", "\"valueDateTime\":\"2025-06-01\"") ","
          OBX("6301-6", "\"valueQuantity\":{\"value\":2.0,\"unit\":\"{INR}\"}") "]}", NULL);
    assert_int_equal(b.v.nobs, 4);
    for (uint32_t i = 0; i < b.v.nobs; i++) {
        const cds_observation *o = cds_view_observation(&b.v, i);
        if (strcmp(o->code, "82810-3") == 0) {
            assert_string_equal(o->value_code, "LA15173-0");
            assert_string_equal(o->value_text, "Pregnant");
            assert_false(o->has_value);
        } else if (strcmp(o->code, "2823-3") == 0) {
            assert_string_equal(o->comparator, ">");
            assert_true(o->has_value && o->value == 5.5);
        } else if (strcmp(o->code, "11778-8") == 0) {
            time_t edd;
            assert_true(cds_parse_time("2025-06-01", &edd));
            assert_true(o->value_time == edd && o->value_time > b.v.now);
            assert_null(o->value_code);
        } else {
            assert_null(o->comparator);
            assert_null(o->value_code);
            assert_true(o->value_time == 0);
        }
    }
    done(&b);
}

static void interactions_match_at_class_level_once_per_pair(void **s)
{
    (void)s;
    built b;
    /* warfarin draft + two ibuprofen products active: one hit per ingredient pair */
    build(&b, "order-sign", MR("d", "draft", CC("855332", "warfarin")),
          "\"m\":{\"resourceType\":\"Bundle\",\"entry\":[" MR("a", "active", CC("5640", "ibuprofen")) ","
          MR("b", "active", TEXT("Advil 200 mg")) "]}", NULL);
    cds_ddi_hit *hits;
    uint32_t n = cds_screen_interactions(&b.v, &b.a, &hits);
    assert_true(n >= 1);
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t k = i + 1; k < n; k++) assert_false(hits[i].ix == hits[k].ix);
    done(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(times_parse_as_timegm_would),
        cmocka_unit_test(a_product_code_resolves_to_its_ingredient),
        cmocka_unit_test(a_name_resolves_when_no_code_does),
        cmocka_unit_test(a_combination_product_gives_every_ingredient),
        cmocka_unit_test(an_unknown_medication_is_kept_and_marked),
        cmocka_unit_test(inactive_statuses_are_not_active),
        cmocka_unit_test(replacements_and_orders_being_stopped),
        cmocka_unit_test(prefetch_is_read_by_resource_type_not_key),
        cmocka_unit_test(medication_reference_resolves_to_contained_and_bundled),
        cmocka_unit_test(order_select_marks_only_the_selections_as_selected),
        cmocka_unit_test(allergy_status_rules),
        cmocka_unit_test(free_text_allergy_and_cross_sensitivity),
        cmocka_unit_test(latest_observation_per_loinc_and_age),
        cmocka_unit_test(observation_coded_answer_comparator_and_date_value),
        cmocka_unit_test(interactions_match_at_class_level_once_per_pair),
    };
    return cmocka_run_group_tests_name("view", tests, setup, teardown);
}
