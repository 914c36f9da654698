/* screen.h — interaction and allergy matching in C over the view and the knowledge indexes.
 * Rules receive the matches; they never loop over the knowledge base themselves. */
#ifndef CDS_SCREEN_H
#define CDS_SCREEN_H

#include <stdbool.h>
#include <stdint.h>

#include "view.h"

typedef struct cds_ddi_hit {
    uint32_t ix;              /* interaction index */
    uint32_t med_a, med_b;    /* view medication indices; med_a is on the interaction's 'a' side */
    uint32_t ing_a, ing_b;    /* ingredient indices */
} cds_ddi_hit;

typedef struct cds_allergy_hit {
    uint32_t allergy, med, ingredient;
    uint32_t via;             /* the allergy's target that matched (ingredient or class) */
    bool cross;               /* through cross-sensitivity rather than a direct match */
    const char *level, *note; /* cross-sensitivity level and note, NULL for direct */
} cds_allergy_hit;

/* Which medications are screened: for order hooks every selected draft order against every
 * active medication and every other draft order; for other hooks the active list. One hit per
 * interaction and ingredient pair, however many products carry those ingredients. */
uint32_t cds_screen_interactions(const cds_view *v, cds_arena *a, cds_ddi_hit **out);

/* Draft orders (order hooks) or active medications (other hooks) against active allergies. */
uint32_t cds_screen_allergies(const cds_view *v, cds_arena *a, cds_allergy_hit **out);

/* Whether the view's hook is an ordering hook (draft orders are what the prescriber acts on). */
bool cds_screen_is_order_hook(const cds_view *v);

/* What a rule names: "class:ID", an RxNorm ingredient or product code, or a name. Resolved once
 * per call from Lua, then tested against each medication. */
typedef struct cds_med_spec {
    uint32_t cls;             /* class index, or CDS_KB_NONE */
    uint32_t want[8];         /* ingredient indices */
    size_t nwant;
} cds_med_spec;

void cds_screen_spec(const cds_view *v, const char *spec, cds_med_spec *out);
/* The same from the knowledge base alone (order_set { } checks its drug references at load). */
void cds_screen_spec_kb(const cds_kb *kb, const char *spec, cds_med_spec *out);
/* Does medication m contain something the spec names? */
bool cds_screen_med_has(const cds_view *v, const cds_med *m, const cds_med_spec *spec);

#endif
