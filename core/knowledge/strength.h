/* strength.h — strengths read from RxNorm clinical drug names ("Metoprolol Tartrate 25 MG Oral
 * Tablet", "Cefuroxime 250 MG/5ML Oral Suspension", "Amlodipine 5 MG / Benazepril Hydrochloride
 * 10 MG Oral Capsule", "1 ML heparin sodium 5000 UNT/ML Injection"). Used by `kb build` only:
 * the result is stored with the products, never parsed per request. */
#ifndef CDS_STRENGTH_H
#define CDS_STRENGTH_H

#include <stddef.h>

#define CDS_STRENGTH_MAX 8

typedef struct cds_strength {
    char substance[96];   /* the words before the amount, as written ("Metoprolol Tartrate") */
    double amount;        /* in `unit` */
    const char *unit;     /* normalised: "mg" (MG, MCG, G), "unit" (UNT), "mEq", "mmol" */
    double per_volume_ml; /* 0: per dose unit (tablet, capsule, actuation); else amount is per this many mL */
} cds_strength;

/* Parses the name into at most max strengths, one per " / "-separated component that carries
 * one; returns how many. Components whose amount is per mass or per time ("MG/MG", "MG/HR") or
 * in another unit are left out. A pack ("{...} Pack") has none. */
size_t cds_strength_parse(const char *name, cds_strength *out, size_t max);

#endif
