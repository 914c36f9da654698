/* kb.h — the drug knowledge base: built from TSV tables into SQLite, then read once into
 * immutable in-memory indexes shared read-only by every worker (no SQL on the hot path).
 *
 * Targets: an interaction side or an allergen is an ingredient or a class. A target is a
 * uint32_t: the ingredient index, or the class index with CDS_KB_CLASS set. */
#ifndef CDS_KB_H
#define CDS_KB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "strbuf.h"

#define CDS_KB_CLASS 0x80000000u
#define CDS_KB_NONE 0xffffffffu

typedef struct cds_kb cds_kb;

typedef struct cds_kb_ingredient {
    const char *rxcui, *name;
    bool verified;
    const uint32_t *classes;   /* class indices this ingredient belongs to */
    uint32_t nclasses;
} cds_kb_ingredient;

typedef struct cds_kb_class {
    const char *id, *name;
    bool allergen;             /* kind lists "allergen": members cross-react as allergens */
    const uint32_t *members;   /* ingredient indices */
    uint32_t nmembers;
} cds_kb_class;

typedef struct cds_kb_interaction {
    const char *id;
    uint32_t a, b;             /* targets */
    const char *a_label, *b_label, *severity, *list, *mechanism, *consequence, *management,
        *alternative, *source;
    const char *applies_if;    /* NULL, or conditions for the rule to check ("age>=65;condition:...") */
} cds_kb_interaction;

typedef struct cds_kb_cross {
    uint32_t from, to;         /* class indices */
    const char *level, *note, *source;
} cds_kb_cross;

/* A strength of one ingredient of a product, parsed from its RxNorm name at `kb build`. */
typedef struct cds_kb_strength {
    uint32_t ingredient;       /* ingredient index */
    double amount;             /* in unit */
    const char *unit;          /* "mg", "unit", "mEq" or "mmol" */
    double per_volume_ml;      /* 0: per dose unit (tablet, capsule, actuation); else per this many mL */
} cds_kb_strength;

/* The dosing tables (rules/<pack>/knowledge/dose_limits.tsv, renal_dosing.tsv, routes.tsv).
 * Numbers are NAN where the cell was blank; strings NULL where blank. `drug` is the cell as
 * written: an ingredient RxCUI or "product:<rxcui>". */
typedef struct cds_kb_dose_limit {
    const char *id, *drug, *drug_label, *route, *unit, *schedule, *indication, *note, *source;
    double age_min_days, age_max_days, weight_min_kg, weight_max_kg;   /* bands [min, max) */
    double max_single, max_daily, min_daily, max_single_per_kg, max_daily_per_kg;   /* in unit */
} cds_kb_dose_limit;

typedef struct cds_kb_renal {
    const char *id, *drug, *drug_label, *route, *measure, *action, *unit, *note, *source;
    double min, max;           /* band [min, max) of the measure (egfr, crcl: mL/min) */
    double max_daily, interval_h;
} cds_kb_renal;

typedef struct cds_kb_route_rule {
    const char *id, *drug, *drug_label, *allowed, *forbidden, *severity, *note, *source;   /* lists: "a;b" */
} cds_kb_route_rule;

/* --- building (cdsd kb build) ------------------------------------------------------------- */

/* Imports every knowledge table (<pack>/knowledge/NAME.tsv) under each pack directory into `db` (schema created).
 * Every problem is appended to `diag` as "file:line: message\n"; returns CDS_ELOAD when
 * there was any, and then the database must not be used. `progress` prints row counts to stderr. */
cds_rc cds_kb_import(sqlite3 *db, const char *const *pack_dirs, size_t npacks, cds_strbuf *diag, bool progress);

/* --- loading and lookup -------------------------------------------------------------------- */

cds_rc cds_kb_load(sqlite3 *db, cds_kb **out, cds_error *err);
void cds_kb_free(cds_kb *kb);
const char *cds_kb_digest(const cds_kb *kb);

size_t cds_kb_ningredients(const cds_kb *kb);
size_t cds_kb_ninteractions(const cds_kb *kb);
const cds_kb_ingredient *cds_kb_ingredient_at(const cds_kb *kb, uint32_t idx);
const cds_kb_class *cds_kb_class_at(const cds_kb *kb, uint32_t idx);
const cds_kb_interaction *cds_kb_interaction_at(const cds_kb *kb, uint32_t idx);

/* Ingredient index for an RxNorm ingredient code (precise ingredients map to their base). */
uint32_t cds_kb_ingredient_by_code(const cds_kb *kb, const char *rxcui);
/* Ingredients of an RxNorm product/pack/multi-ingredient code; returns count, 0 if unknown. */
size_t cds_kb_product_ingredients(const cds_kb *kb, const char *rxcui, const uint32_t **out);
/* Names of a product's ingredients that the vocabulary does not know (';'-separated), or NULL. */
const char *cds_kb_product_unscreened(const cds_kb *kb, const char *rxcui);
uint32_t cds_kb_class_by_id(const cds_kb *kb, const char *id);
bool cds_kb_in_class(const cds_kb *kb, uint32_t ingredient, uint32_t cls);

/* Finds ingredient names (and brand/salt synonyms) as whole words in free text, longest first,
 * case-insensitive. With `classes` true, allergen class names count too (returned as class
 * targets). Returns the number of distinct targets written to out (at most max). */
size_t cds_kb_match_names(const cds_kb *kb, const char *text, bool classes, uint32_t *out, size_t max);

/* Allergen code (SNOMED CT substance, or any system listed in allergen_codes) -> target. */
uint32_t cds_kb_allergen_code(const cds_kb *kb, const char *system, const char *code);

/* Interactions between two ingredients, at ingredient or class level. Returns the number of
 * distinct interaction indices written to out (at most max). Cost depends on the number of
 * classes of the two ingredients, not on the size of the table. */
size_t cds_kb_interactions(const cds_kb *kb, uint32_t ing_a, uint32_t ing_b, uint32_t *out, size_t max);

/* All cross-sensitivity rows (a short table; callers filter by class). */
size_t cds_kb_cross_all(const cds_kb *kb, const cds_kb_cross **out);

/* The route group a product's dose form names ("Oral Tablet" -> "oral"), or NULL. */
const char *cds_kb_product_route(const cds_kb *kb, const char *product_rxcui);
/* Strengths of a product's ingredients (0 when its name gave none). */
size_t cds_kb_product_strengths(const cds_kb *kb, const char *product_rxcui, const cds_kb_strength **out);

/* Rows of a dosing table for a drug key: an ingredient RxCUI (a precise ingredient's rows are
 * found under its base too) or "product:<rxcui>". Rows in table order, written to out (at most
 * max); returns how many there are in all. */
size_t cds_kb_dose_limits(const cds_kb *kb, const char *drug, const cds_kb_dose_limit **out, size_t max);
size_t cds_kb_renal_dosing(const cds_kb *kb, const char *drug, const cds_kb_renal **out, size_t max);
size_t cds_kb_route_rules(const cds_kb *kb, const char *drug, const cds_kb_route_rule **out, size_t max);

/* Human name of a target. */
const char *cds_kb_target_name(const cds_kb *kb, uint32_t target);

#endif
