/* fixture_patient.h — the fixture shorthand for a patient, so that nobody hand-writes FHIR:
 *   "patient":     {"age": 67, "sex": "female", "weight_kg": 70}
 *   "medications": [{"rxnorm": "11289", "status": "active"}]          active MedicationRequests
 *   "allergies":   [{"snomed": "91936005", "criticality": "high"}]   or "rxnorm", or "text"
 *   "conditions":  [{"snomed": "44054006"}]                           or "icd10", or "text"
 *   "results":     [{"loinc": "6301-6", "value": 2.4, "unit": "{INR}", "days_ago": 3}]
 *                  extras: "comparator" ("<", ">" ...), "answer" (a coded value: LA... LOINC, else SNOMED CT),
 *                  "value_text" (valueString), "value_days" (valueDateTime, days after "at"), "undated": true
 * with the orders being placed in "drafts" as before. It is expanded into the CDS Hooks request
 * of the fixture's service (its hook; its prefetch keys, each filled by resource type). The birth
 * date and result times are computed from the fixture's "at", so ages and windows stay right. */
#ifndef CDS_FIXTURE_PATIENT_H
#define CDS_FIXTURE_PATIENT_H

#include <stdbool.h>
#include <time.h>

#include "ruleset.h"

struct cJSON;

/* Does the fixture describe its patient with the shorthand ("patient")? */
bool cds_fixture_has_patient(const struct cJSON *fx);
/* The request the shorthand describes (caller deletes it); the schema has been checked. `name`
 * (the fixture's file name) makes the hookInstance, so card uuids are stable. */
struct cJSON *cds_fixture_patient_request(const struct cJSON *fx, const cds_service *svc, const cds_kb *kb, time_t at,
                                          const char *name);
/* An RxNorm code's readable name from the knowledge base (an ingredient, or a product's
 * ingredients joined by " / "), for shorthand entries without a "display"; "" when unknown. */
void cds_fixture_rxnorm_name(const cds_kb *kb, const char *code, char *out, size_t n);

#endif
