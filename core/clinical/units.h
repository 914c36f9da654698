/* units.h — dose units from UCUM codes (Quantity.system http://unitsofmeasure.org) and common
 * unit text, and conversions between the units the dosing tables use. */
#ifndef CDS_UNITS_H
#define CDS_UNITS_H

#include <stdbool.h>

typedef enum cds_unit_kind {
    CDS_UNIT_UNKNOWN,
    CDS_UNIT_AMOUNT,   /* mass (normalised to mg), unit, mEq, mmol: `base` says which */
    CDS_UNIT_VOLUME,   /* mL (factor to mL) */
    CDS_UNIT_COUNT,    /* dose-form units: tablet, capsule, puff, drop, patch, ... */
} cds_unit_kind;

typedef struct cds_unit {
    cds_unit_kind kind;
    double factor;        /* to `base` (mg, unit, mEq, mmol) or to mL; 1 for counts */
    const char *base;     /* "mg", "unit", "mEq", "mmol", "mL", or the count's form ("tablet") */
    bool per_kg;          /* "mg/kg": the amount is per kg of body weight */
    bool per_day;         /* "mg/kg/d", "mg/d": the amount is per day, not per administration */
} cds_unit;

/* Reads a Quantity's unit from its UCUM code (when system is UCUM or absent) else its text. */
cds_unit cds_unit_parse(const char *system, const char *code, const char *text);

/* amount in `from` as `to` (mg, mcg, g, ng, unit, mEq, mmol); false when they do not convert
 * (different dimensions; mEq and mmol only convert to themselves). */
bool cds_unit_convert(double amount, const char *from, const char *to, double *out);

#endif
