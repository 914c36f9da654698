/* view.h — the normalized clinical view of one request: patient, medications resolved to
 * ingredients, allergies, conditions, latest observation per LOINC code. Built from the
 * decoded request by resourceType (never by prefetch key name). Everything lives in the
 * request arena and borrows the knowledge base; rules see it through lua_view. */
#ifndef CDS_VIEW_H
#define CDS_VIEW_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "arena.h"
#include "kb.h"
#include "request.h"
#include "strmap.h"

typedef struct cds_coding { const char *system, *code, *display; } cds_coding;

typedef enum cds_med_source { CDS_MED_DRAFT, CDS_MED_ACTIVE } cds_med_source;

typedef struct cds_med {
    const char *ref;          /* "MedicationRequest/123" (or resourceType/index when no id) */
    const char *resource_type, *id;
    const char *text;         /* as the clinician knows it: text, else first display */
    const char *status;
    const char *prior;        /* a draft's priorPrescription.reference (the order it replaces), or NULL */
    bool stopping;            /* an active order that this request's draft orders stop, cancel or replace
                                 (a draft's priorPrescription) */
    cds_med_source source;
    bool selected;            /* order-select: in context.selections; order-sign: every draft */
    cds_coding *codes;
    uint32_t ncodes;
    uint32_t *ingredients;    /* knowledge-base ingredient indices */
    uint32_t ningredients;
    bool resolved, name_match;
    const msgpack_object *resource;   /* the order or statement itself (its dosage is read on demand: dose.h) */
} cds_med;

typedef struct cds_allergy {
    const char *id, *text, *type, *category, *criticality, *clinical_status, *verification_status, *reaction;
    cds_coding *codes;
    uint32_t ncodes;
    uint32_t *targets;        /* ingredients or classes (CDS_KB_CLASS) */
    uint32_t ntargets;
    bool resolved;
} cds_allergy;

typedef struct cds_condition {
    const char *id, *text;
    cds_coding *codes;
    uint32_t ncodes;
} cds_condition;

/* A draft order that is not a medication (ServiceRequest, NutritionOrder, ...). */
typedef struct cds_order {
    const char *ref, *resource_type, *status, *text;
    cds_coding *codes;
    uint32_t ncodes;
} cds_order;

/* The latest result per LOINC code. Only code and time are read while the view is built;
 * the rest when a rule asks for that code (cds_view_observation): a patient has many results
 * and rules read a few. */
typedef struct cds_observation {
    const char *code;
    time_t when;              /* 0 when unknown */
    const msgpack_object *resource;
    bool detailed;            /* the fields below are filled */
    const char *display, *unit, *value_text;
    double value;
    bool has_value;
    const char *value_code, *comparator;   /* valueCodeableConcept's first coding; valueQuantity.comparator */
    time_t value_time;        /* valueDateTime (e.g. an expected delivery date); 0 when none */
} cds_observation;

typedef struct cds_patient {
    int age;                  /* whole years at the evaluation time; -1 unknown */
    const char *sex;          /* FHIR gender or NULL */
    double weight_kg;         /* 0 unknown */
    bool found;
    const char *birth_date;   /* as written (may be partial: "1950", "1950-03"), or NULL */
} cds_patient;

struct cds_dose;
struct cds_patient_facts;
struct cds_condition_index;

typedef struct cds_view {
    const cds_request *req;
    const cds_kb *kb;
    time_t now;
    cds_patient patient;
    cds_med *meds; uint32_t nmeds;
    cds_allergy *allergies; uint32_t nallergies;
    cds_condition *conditions; uint32_t nconditions;
    cds_observation *obs; uint32_t nobs;
    cds_order *orders; uint32_t norders;   /* non-medication draft orders */
    uint32_t prefetch_errors; /* OperationOutcome values seen in prefetch */
    cds_arena *arena;         /* the request arena the view lives in */
    /* Caches filled on first use, in the view's arena (dose.h, patient_facts.h). */
    const struct cds_dose **doses;
    const struct cds_patient_facts *facts;
    const struct cds_condition_index *condition_index;   /* condition_match.h */
    /* LOINC code -> index in obs (one observation per code): slots in the arena, never freed */
    cds_strmap obs_index;
} cds_view;

cds_rc cds_view_build(const cds_request *req, const cds_kb *kb, time_t now, cds_arena *a, cds_view *out,
                      cds_error *err);

/* The observation filed under a LOINC code, or NULL (obs_index: no scan of every result). */
const cds_observation *cds_view_obs_by_code(const cds_view *v, const char *code);

/* Observation i with its value, unit and text read from the resource (on first use). */
const cds_observation *cds_view_observation(const cds_view *v, uint32_t i);

/* RFC3339 / FHIR date or dateTime to epoch seconds (UTC); partial dates take the first instant. */
bool cds_parse_time(const char *s, time_t *out);

#endif
