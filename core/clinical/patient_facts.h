/* patient_facts.h — what dose checks need to know about the patient at the evaluation time
 * (view->now): age in days, months and years, latest weight and height, BSA, kidney function
 * (eGFR, serum creatinine, Cockcroft-Gault creatinine clearance) and dialysis. Built on first
 * use and cached in the view. A value that is missing or implausible is unknown, with the
 * reason in words; an implausible value is never used. */
#ifndef CDS_PATIENT_FACTS_H
#define CDS_PATIENT_FACTS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "view.h"

typedef struct cds_fact {
    bool known;
    double value;             /* in the fact's unit (kg, cm, m2, mL/min/1.73m2, mg/dL, mL/min) */
    time_t when;              /* 0 when the result has no date */
    const char *comparator;   /* "<", "<=", ">", ">=" when the result was given as a bound, else NULL */
    const char *code;         /* the LOINC code it was read from */
    const char *why;          /* when unknown: why, in words */
    bool unusable;            /* when unknown: a value is on file but cannot be used (not a number,
                               * a unit not understood, implausible; for CrCl, such an input or a
                               * birth date after now), not merely absent */
} cds_fact;

typedef struct cds_patient_facts {
    bool age_known;
    int64_t age_days;
    int age_months, age_years;
    const char *age_why;      /* when unknown */
    bool age_unusable;        /* when unknown: the birth date is after the evaluation time */
    const char *age_precision;   /* "day", "month" or "year": how much of the birth date was given */
    const char *sex;
    cds_fact weight_kg, height_cm, bsa, egfr, creatinine, crcl;
    const char *crcl_weight;  /* "actual": the body weight Cockcroft-Gault used */
    bool dialysis;            /* a condition says the patient is on dialysis */
    const char *dialysis_condition;   /* its text, when dialysis */
} cds_patient_facts;

const cds_patient_facts *cds_view_patient_facts(const cds_view *v);

/* Only the age fields of f (cheap: the birth date against now), for ctx.patient's eager part;
 * cds_view_patient_facts computes them too. */
void cds_patient_age(const cds_view *v, cds_patient_facts *f);

#endif
