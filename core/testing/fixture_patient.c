/* fixture_patient.c — expands the fixture patient shorthand into a CDS Hooks request with FHIR R4
 * resources. */
#include "fixture_patient.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "fhir_build.h"

#define PATIENT_ID "fixture-patient"
#define RXNORM "http://www.nlm.nih.gov/research/umls/rxnorm"
#define SNOMED "http://snomed.info/sct"
#define ICD10 "http://hl7.org/fhir/sid/icd-10-cm"
#define LOINC "http://loinc.org"

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool cds_fixture_has_patient(const cJSON *fx) { return cJSON_GetObjectItemCaseSensitive(fx, "patient") != NULL; }

void cds_fixture_rxnorm_name(const cds_kb *kb, const char *code, char *out, size_t n)
{
    out[0] = '\0';
    if (!kb) return;
    uint32_t i = cds_kb_ingredient_by_code(kb, code);
    if (i != CDS_KB_NONE) {
        snprintf(out, n, "%s", cds_kb_ingredient_at(kb, i)->name);
        return;
    }
    const uint32_t *ings;
    size_t k = cds_kb_product_ingredients(kb, code, &ings);
    for (size_t j = 0; j < k; j++) {
        size_t l = strlen(out);
        snprintf(out + l, n - l, "%s%s", j ? " / " : "", cds_kb_ingredient_at(kb, ings[j])->name);
    }
}

/* {"coding": [{"system", "code", "display"}], "text"} from the entry's code keys. */
static cJSON *concept(const cJSON *entry, const char *const *keys, const char *const *systems, const cds_kb *kb)
{
    cJSON *cc = cJSON_CreateObject();
    const char *display = jstr(entry, "display"), *text = jstr(entry, "text");
    char name[256] = "";
    for (size_t i = 0; keys[i]; i++) {
        const char *code = jstr(entry, keys[i]);
        if (!code) continue;
        if (!display && strcmp(systems[i], RXNORM) == 0) {
            cds_fixture_rxnorm_name(kb, code, name, sizeof name);
            if (name[0]) display = name;
        }
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "system", systems[i]);
        cJSON_AddStringToObject(c, "code", code);
        if (display) cJSON_AddStringToObject(c, "display", display);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(cc, "coding"), c);
    }
    if (text || display) cJSON_AddStringToObject(cc, "text", text ? text : display);
    return cc;
}

/* A CodeableConcept holding one code of a terminology's status system. */
static cJSON *status_concept(const char *system, const char *code)
{
    cJSON *cc = cJSON_CreateObject(), *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "system", system);
    cJSON_AddStringToObject(c, "code", code);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(cc, "coding"), c);
    return cc;
}

static cJSON *resource(const char *type, const char *prefix, int n)
{
    cJSON *r = cJSON_CreateObject();
    char id[64];
    snprintf(id, sizeof id, "%s-%d", prefix, n);
    cJSON_AddStringToObject(r, "resourceType", type);
    cJSON_AddStringToObject(r, "id", id);
    return r;
}

static void add_subject(cJSON *r, const char *key)
{
    cJSON_AddStringToObject(cJSON_AddObjectToObject(r, key), "reference", "Patient/" PATIENT_ID);
}

static void rfc3339(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static cJSON *patient(const cJSON *p, time_t at)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "resourceType", "Patient");
    cJSON_AddStringToObject(r, "id", PATIENT_ID);
    if (jstr(p, "sex")) cJSON_AddStringToObject(r, "gender", jstr(p, "sex"));
    const cJSON *age = cJSON_GetObjectItemCaseSensitive(p, "age");
    if (cJSON_IsNumber(age)) {
        /* the birthday is the evaluation date, age years back: exactly that age at "at" */
        struct tm tm;
        gmtime_r(&at, &tm);
        int y = tm.tm_year + 1900 - (int)age->valuedouble, d = tm.tm_mday;
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        if (tm.tm_mon == 1 && d == 29 && !leap) d = 28;
        char bd[48];
        snprintf(bd, sizeof bd, "%04d-%02d-%02d", y, tm.tm_mon + 1, d);
        cJSON_AddStringToObject(r, "birthDate", bd);
    }
    return r;
}

/* x: the shorthand entry for its extras (comparator, answer, value_text, value_days, undated), or NULL */
static cJSON *observation(int n, const char *loinc, const char *display, const cJSON *value, const char *unit,
                          time_t when, const cJSON *x, time_t at)
{
    cJSON *r = resource("Observation", "obs", n);
    cJSON_AddStringToObject(r, "status", "final");
    cJSON *cat = status_concept("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(r, "category"), cat);
    cJSON *cc = cJSON_AddObjectToObject(r, "code"), *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "system", LOINC);
    cJSON_AddStringToObject(c, "code", loinc);
    if (display) cJSON_AddStringToObject(c, "display", display);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(cc, "coding"), c);
    if (display) cJSON_AddStringToObject(cc, "text", display);
    add_subject(r, "subject");
    char t[32];
    rfc3339(when, t);
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "undated"))) cJSON_AddStringToObject(r, "effectiveDateTime", t);
    const char *answer = jstr(x, "answer"), *vtext = jstr(x, "value_text");
    const cJSON *vdays = cJSON_GetObjectItemCaseSensitive(x, "value_days");
    if (answer)   /* LOINC answer codes start with LA; anything else is taken as SNOMED CT */
        cJSON_AddItemToObject(r, "valueCodeableConcept",
                              status_concept(strncmp(answer, "LA", 2) == 0 ? LOINC : "http://snomed.info/sct", answer));
    if (vtext) cJSON_AddStringToObject(r, "valueString", vtext);
    if (cJSON_IsNumber(vdays)) {
        rfc3339(at + (time_t)(vdays->valuedouble * 86400), t);
        cJSON_AddStringToObject(r, "valueDateTime", t);
    }
    if (cJSON_IsNumber(value)) {
        cJSON *q = cJSON_AddObjectToObject(r, "valueQuantity");
        cJSON_AddNumberToObject(q, "value", value->valuedouble);
        if (jstr(x, "comparator")) cJSON_AddStringToObject(q, "comparator", jstr(x, "comparator"));
        if (unit) {
            cJSON_AddStringToObject(q, "unit", unit);
            cJSON_AddStringToObject(q, "system", "http://unitsofmeasure.org");
            cJSON_AddStringToObject(q, "code", unit);
        }
    }
    return r;
}

/* Where the service's prefetch template for a resource type puts it: "MedicationRequest?..." */
static const char *prefetch_key(const cds_service *svc, const char *type, const char *fallback)
{
    size_t n = strlen(type);
    for (size_t i = 0; svc && i < svc->nprefetch; i++) {
        const char *t = svc->prefetch_templates[i];
        if (strncmp(t, type, n) == 0 && (t[n] == '?' || t[n] == '/' || t[n] == '\0')) return svc->prefetch_keys[i];
    }
    return fallback;
}

cJSON *cds_fixture_patient_request(const cJSON *fx, const cds_service *svc, const cds_kb *kb, time_t at,
                                   const char *name)
{
    const char *hook = jstr(fx, "hook") ? jstr(fx, "hook") : svc ? svc->hook : "order-sign";
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "hook", hook);
    char hi[300];
    snprintf(hi, sizeof hi, "fixture-%s", name);
    cJSON_AddStringToObject(req, "hookInstance", hi);
    cJSON *ctx = cJSON_AddObjectToObject(req, "context");
    cJSON_AddStringToObject(ctx, "userId", "Practitioner/fixture");
    cJSON_AddStringToObject(ctx, "patientId", PATIENT_ID);
    if (strcmp(hook, "patient-view") != 0) {
        cJSON *d = cJSON_AddObjectToObject(ctx, "draftOrders");
        cJSON_AddStringToObject(d, "resourceType", "Bundle");
        cJSON_AddArrayToObject(d, "entry");
        if (strcmp(hook, "order-select") == 0) cJSON_AddArrayToObject(ctx, "selections");
    }

    cJSON *meds = cds_fhir_bundle(), *allergies = cds_fhir_bundle(), *conditions = cds_fhir_bundle(), *obs = cds_fhir_bundle();
    const cJSON *x;
    int n = 0;
    static const char *const med_keys[] = {"rxnorm", NULL}, *const med_sys[] = {RXNORM, NULL};
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(fx, "medications")) {
        if (jstr(x, "resourceType")) {   /* a whole resource (an active order with its dosage) */
            cds_fhir_bundle_add(meds, cJSON_Duplicate(x, true));
            continue;
        }
        cJSON *r = resource("MedicationRequest", "med", ++n);
        cJSON_AddStringToObject(r, "status", jstr(x, "status") ? jstr(x, "status") : "active");
        cJSON_AddStringToObject(r, "intent", "order");
        cJSON_AddItemToObject(r, "medicationCodeableConcept", concept(x, med_keys, med_sys, kb));
        add_subject(r, "subject");
        cds_fhir_bundle_add(meds, r);
    }
    n = 0;
    static const char *const al_keys[] = {"rxnorm", "snomed", NULL}, *const al_sys[] = {RXNORM, SNOMED, NULL};
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(fx, "allergies")) {
        cJSON *r = resource("AllergyIntolerance", "allergy", ++n);
        cJSON_AddItemToObject(r, "clinicalStatus",
                              status_concept("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                             jstr(x, "status") ? jstr(x, "status") : "active"));
        cJSON_AddItemToObject(r, "verificationStatus",
                              status_concept("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                                             jstr(x, "verification") ? jstr(x, "verification") : "confirmed"));
        if (jstr(x, "type")) cJSON_AddStringToObject(r, "type", jstr(x, "type"));
        cJSON_AddItemToArray(cJSON_AddArrayToObject(r, "category"), cJSON_CreateString("medication"));
        if (jstr(x, "criticality")) cJSON_AddStringToObject(r, "criticality", jstr(x, "criticality"));
        cJSON_AddItemToObject(r, "code", concept(x, al_keys, al_sys, kb));
        add_subject(r, "patient");
        if (jstr(x, "reaction")) {
            cJSON *rx = cJSON_CreateObject(), *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "text", jstr(x, "reaction"));
            cJSON_AddItemToArray(cJSON_AddArrayToObject(rx, "manifestation"), m);
            cJSON_AddItemToArray(cJSON_AddArrayToObject(r, "reaction"), rx);
        }
        cds_fhir_bundle_add(allergies, r);
    }
    n = 0;
    static const char *const c_keys[] = {"snomed", "icd10", NULL}, *const c_sys[] = {SNOMED, ICD10, NULL};
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(fx, "conditions")) {
        cJSON *r = resource("Condition", "condition", ++n);
        cJSON_AddItemToObject(r, "clinicalStatus",
                              status_concept("http://terminology.hl7.org/CodeSystem/condition-clinical",
                                             jstr(x, "status") ? jstr(x, "status") : "active"));
        cJSON_AddItemToObject(r, "verificationStatus",
                              status_concept("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed"));
        cJSON_AddItemToObject(r, "code", concept(x, c_keys, c_sys, kb));
        add_subject(r, "subject");
        cds_fhir_bundle_add(conditions, r);
    }
    n = 0;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(fx, "results")) {
        const cJSON *days = cJSON_GetObjectItemCaseSensitive(x, "days_ago");
        time_t when = at - (time_t)((cJSON_IsNumber(days) ? days->valuedouble : 0) * 86400);
        cds_fhir_bundle_add(obs, observation(++n, jstr(x, "loinc"), jstr(x, "display"), cJSON_GetObjectItemCaseSensitive(x, "value"),
                                   jstr(x, "unit"), when, x, at));
    }
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(fx, "patient");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(p, "weight_kg");
    if (cJSON_IsNumber(w)) cds_fhir_bundle_add(obs, observation(++n, "29463-7", "Body weight", w, "kg", at, NULL, at));

    /* every list the service prefetches is sent, empty when the fixture has none: "no allergies"
     * is then what the fixture says, not a list that was never sent */
    cJSON *pf = cJSON_AddObjectToObject(req, "prefetch");
    struct { const char *type, *fallback; cJSON *value; } parts[] = {
        {"Patient", "patient", patient(p, at)},
        {"MedicationRequest", "medications", meds},
        {"AllergyIntolerance", "allergies", allergies},
        {"Condition", "conditions", conditions},
        {"Observation", "observations", obs},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        cJSON_AddItemToObject(pf, prefetch_key(svc, parts[i].type, parts[i].fallback), parts[i].value);
    for (size_t i = 0; svc && i < svc->nprefetch; i++)   /* the service's other keys: empty */
        if (!cJSON_GetObjectItemCaseSensitive(pf, svc->prefetch_keys[i]))
            cJSON_AddItemToObject(pf, svc->prefetch_keys[i], cds_fhir_bundle());
    /* missing data on purpose: keys left out, and keys whose fetch failed */
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(fx, "absent"))
        if (cJSON_IsString(x)) cJSON_DeleteItemFromObjectCaseSensitive(pf, x->valuestring);
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(fx, "failed")) {
        if (!cJSON_IsString(x)) continue;
        cJSON *oo = cJSON_CreateObject(), *issue = cJSON_CreateObject();
        cJSON_AddStringToObject(oo, "resourceType", "OperationOutcome");
        cJSON_AddStringToObject(issue, "severity", "error");
        cJSON_AddStringToObject(issue, "code", "exception");
        cJSON_AddStringToObject(issue, "diagnostics", "the fixture's FHIR server failed this search");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(oo, "issue"), issue);
        cJSON_DeleteItemFromObjectCaseSensitive(pf, x->valuestring);
        cJSON_AddItemToObject(pf, x->valuestring, oo);
    }
    return req;
}
