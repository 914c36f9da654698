/* test_fixture_patient.c — the fixture patient shorthand expands into the CDS Hooks request a
 * pharmacist would otherwise write by hand: the service's hook and prefetch keys, a birth date
 * that gives exactly the stated age at the fixture's time, results dated days_ago before it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "fixture_patient.h"
#include "view.h"

static char *keys[] = {"patient", "meds", "statements", "allergy-list", "problems", "labs"};
static char *templates[] = {"Patient/{{context.patientId}}",
                            "MedicationRequest?patient={{context.patientId}}&status=active",
                            "MedicationStatement?patient={{context.patientId}}",
                            "AllergyIntolerance?patient={{context.patientId}}",
                            "Condition?patient={{context.patientId}}",
                            "Observation?patient={{context.patientId}}&category=laboratory"};

static cJSON *expand(const char *fixture, const char *hook, const char *at)
{
    cds_service svc = {.id = "svc", .hook = (char *)hook, .prefetch_keys = keys, .prefetch_templates = templates,
                       .nprefetch = 6};
    time_t t;
    assert_true(cds_parse_time(at, &t));
    cJSON *fx = cJSON_Parse(fixture);
    assert_non_null(fx);
    cJSON *req = cds_fixture_patient_request(fx, &svc, NULL, t, "case.json");
    cJSON_Delete(fx);
    assert_non_null(req);
    return req;
}

static const char *path_str(const cJSON *o, const char *const *path)
{
    for (; *path; path++) {
        if (cJSON_IsArray(o)) o = cJSON_GetArrayItem(o, atoi(*path));
        else o = cJSON_GetObjectItemCaseSensitive(o, *path);
    }
    return cJSON_IsString(o) ? o->valuestring : NULL;
}

static void the_request_has_the_services_hook_and_prefetch_keys(void **s)
{
    (void)s;
    cJSON *req = expand("{\"patient\": {\"age\": 67, \"sex\": \"female\"},"
                        " \"medications\": [{\"rxnorm\": \"11289\", \"display\": \"warfarin\"}],"
                        " \"allergies\": [{\"snomed\": \"91936005\", \"criticality\": \"high\", \"reaction\": \"Hives\"}],"
                        " \"conditions\": [{\"icd10\": \"E11.9\"}]}",
                        "order-select", "2025-03-01T09:00:00Z");
    assert_string_equal(path_str(req, (const char *[]){"hook", NULL}), "order-select");
    assert_string_equal(path_str(req, (const char *[]){"hookInstance", NULL}), "fixture-case.json");
    assert_non_null(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(req, "context"), "selections"));
    const cJSON *pf = cJSON_GetObjectItemCaseSensitive(req, "prefetch");
    for (size_t i = 0; i < 6; i++) assert_non_null(cJSON_GetObjectItemCaseSensitive(pf, keys[i]));
    assert_int_equal(cJSON_GetArraySize(pf), 6);
    assert_string_equal(path_str(pf, (const char *[]){"patient", "gender", NULL}), "female");
    assert_string_equal(path_str(pf, (const char *[]){"meds", "entry", "0", "resource", "status", NULL}), "active");
    assert_string_equal(path_str(pf, (const char *[]){"meds", "entry", "0", "resource", "medicationCodeableConcept",
                                                      "coding", "0", "code", NULL}), "11289");
    assert_string_equal(path_str(pf, (const char *[]){"allergy-list", "entry", "0", "resource", "code", "coding", "0",
                                                      "system", NULL}), "http://snomed.info/sct");
    assert_string_equal(path_str(pf, (const char *[]){"allergy-list", "entry", "0", "resource", "criticality", NULL}),
                        "high");
    assert_string_equal(path_str(pf, (const char *[]){"allergy-list", "entry", "0", "resource", "clinicalStatus",
                                                      "coding", "0", "code", NULL}), "active");
    assert_string_equal(path_str(pf, (const char *[]){"problems", "entry", "0", "resource", "code", "coding", "0",
                                                      "system", NULL}), "http://hl7.org/fhir/sid/icd-10-cm");
    /* the service's lists the fixture leaves empty are sent empty: "none", not "not sent" */
    assert_string_equal(path_str(pf, (const char *[]){"statements", "resourceType", NULL}), "Bundle");
    cJSON_Delete(req);
}

static void the_age_is_exact_at_the_fixtures_time(void **s)
{
    (void)s;
    static const struct { const char *at, *birth; } cases[] = {
        {"2025-03-01T09:00:00Z", "1958-03-01"},
        {"2024-02-29T09:00:00Z", "1957-02-28"},   /* no 29 February in 1957 */
        {"2026-12-31T23:59:00Z", "1959-12-31"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *req = expand("{\"patient\": {\"age\": 67}}", "order-sign", cases[i].at);
        const char *bd = path_str(req, (const char *[]){"prefetch", "patient", "birthDate", NULL});
        assert_non_null(bd);
        assert_string_equal(bd, cases[i].birth);
        cJSON_Delete(req);
    }
}

static void results_are_dated_days_ago_and_weight_is_an_observation(void **s)
{
    (void)s;
    cJSON *req = expand("{\"patient\": {\"age\": 50, \"weight_kg\": 70},"
                        " \"results\": [{\"loinc\": \"2823-3\", \"value\": 6.1, \"unit\": \"mmol/L\", \"days_ago\": 3}]}",
                        "patient-view", "2025-03-01T09:00:00Z");
    const cJSON *labs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(req, "prefetch"), "labs");
    assert_string_equal(path_str(labs, (const char *[]){"entry", "0", "resource", "effectiveDateTime", NULL}),
                        "2025-02-26T09:00:00Z");
    assert_string_equal(path_str(labs, (const char *[]){"entry", "0", "resource", "valueQuantity", "unit", NULL}),
                        "mmol/L");
    assert_string_equal(path_str(labs, (const char *[]){"entry", "1", "resource", "code", "coding", "0", "code", NULL}),
                        "29463-7");
    /* patient-view has no draft orders */
    assert_null(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(req, "context"), "draftOrders"));
    cJSON_Delete(req);
}

static void result_extras_comparator_answer_date_value_undated(void **s)
{
    (void)s;
    cJSON *req = expand("{\"patient\": {\"age\": 30},"
                        " \"results\": [{\"loinc\": \"2823-3\", \"value\": 5.5, \"comparator\": \">\", \"unit\": \"mmol/L\"},"
                        " {\"loinc\": \"82810-3\", \"answer\": \"LA15173-0\"},"
                        " {\"loinc\": \"11778-8\", \"value_days\": 90, \"undated\": true}]}",
                        "patient-view", "2025-03-01T09:00:00Z");
    const cJSON *labs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(req, "prefetch"), "labs");
    assert_string_equal(path_str(labs, (const char *[]){"entry", "0", "resource", "valueQuantity", "comparator", NULL}), ">");
    assert_string_equal(path_str(labs, (const char *[]){"entry", "1", "resource", "valueCodeableConcept", "coding", "0",
                                                        "system", NULL}), "http://loinc.org");
    assert_string_equal(path_str(labs, (const char *[]){"entry", "2", "resource", "valueDateTime", NULL}),
                        "2025-05-30T09:00:00Z");
    assert_null(path_str(labs, (const char *[]){"entry", "2", "resource", "effectiveDateTime", NULL}));
    cJSON_Delete(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_request_has_the_services_hook_and_prefetch_keys),
        cmocka_unit_test(the_age_is_exact_at_the_fixtures_time),
        cmocka_unit_test(results_are_dated_days_ago_and_weight_is_an_observation),
        cmocka_unit_test(result_extras_comparator_answer_date_value_undated),
    };
    return cmocka_run_group_tests_name("fixture_patient", tests, NULL, NULL);
}
