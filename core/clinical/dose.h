/* dose.h — the dose of one medication order, read from FHIR R4 Dosage (dosageInstruction of a
 * MedicationRequest, dosage of a MedicationStatement): amount per administration per
 * ingredient, administrations per day, daily amount, route group, PRN. Parsed on first use and
 * cached in the view (most requests have no dose rule reading most orders). Amounts are never
 * guessed: when something needed is missing or implausible the order says why in words. */
#ifndef CDS_DOSE_H
#define CDS_DOSE_H

#include <stdbool.h>
#include <stdint.h>

#include "view.h"

typedef struct cds_dose_ingredient {
    uint32_t ingredient;      /* knowledge-base ingredient index */
    double per_admin;         /* per administration, in unit (the highest of a range or a taper) */
    double daily;             /* NAN when the daily amount is unknown (see daily_not_computed) */
    const char *unit;         /* "mg" (all masses), "unit", "mEq" or "mmol" */
} cds_dose_ingredient;

typedef struct cds_dose {
    const char *not_computed;        /* NULL, or why no amount was read ("dose not checked: ...") */
    const char *daily_not_computed;  /* NULL, or why the daily amount is unknown */
    double amount;                   /* as ordered (high end of a range), NAN when none */
    const char *unit;                /* the ordered unit as written ("mg", "{tbl}", "mg/kg") */
    double doses_per_day;            /* the most the order allows (frequencyMax, shortest period); NAN unknown */
    double doses_per_day_min;        /* the least (frequency, periodMax); NAN unknown */
    double interval_h;               /* 24 / doses_per_day; NAN unknown */
    const char *schedule;            /* "weekly" for once every 7 days, else NULL */
    const char *route;               /* route group (route_group.h) or NULL */
    const char *route_text;          /* the route as written (text, display or code), or NULL */
    const char *route_from;          /* "dosage" or "product" (the product name's dose form), or NULL */
    bool prn;
    bool per_kg;                     /* ordered per kg: amounts used weight_kg */
    double weight_kg;                /* the weight used for a per-kg dose */
    const char *text;                /* the sig text(s), joined by "; " */
    uint32_t nentries;               /* Dosage entries read */
    cds_dose_ingredient *ingredients;
    uint32_t ningredients;
} cds_dose;

/* The dose of view->meds[med] (never NULL). */
const cds_dose *cds_view_dose(const cds_view *v, uint32_t med);

/* The daily amount of one ingredient summed over every active and draft order that contains
 * it (single-ingredient and combination products alike), optionally only for one route group
 * (NULL: every route). Orders whose daily amount is unknown, whose route is unknown when a
 * route is asked for, or whose unit differs are listed in `uncounted` with the reason. */
typedef struct cds_daily_total {
    double amount;            /* 0 when nothing was summed */
    const char *unit;         /* NULL when nothing was summed */
    uint32_t *meds, nmeds;    /* med indices summed */
    uint32_t *uncounted, nuncounted;
    const char **reasons;     /* parallel to uncounted */
} cds_daily_total;

void cds_dose_daily_total(const cds_view *v, uint32_t ingredient, const char *route, cds_daily_total *out);

#endif
