/* screen.c — pairwise interaction and allergy screening. */
#include "screen.h"

#include <ctype.h>
#include <string.h>

bool cds_screen_is_order_hook(const cds_view *v)
{
    const char *h = v->req->hook;
    return strcmp(h, "order-select") == 0 || strcmp(h, "order-sign") == 0 || strcmp(h, "medication-prescribe") == 0;
}

static bool screened(const cds_view *v, const cds_med *m, bool order_hook)
{
    (void)v;
    return order_hook ? m->source == CDS_MED_DRAFT && m->selected : m->source == CDS_MED_ACTIVE;
}

uint32_t cds_screen_interactions(const cds_view *v, cds_arena *a, cds_ddi_hit **out)
{
    bool order = cds_screen_is_order_hook(v);
    uint32_t n = 0, cap = 0;
    cds_ddi_hit *hits = NULL;
    for (uint32_t i = 0; i < v->nmeds; i++) {
        for (uint32_t j = i + 1; j < v->nmeds; j++) {
            const cds_med *mi = &v->meds[i], *mj = &v->meds[j];
            /* order hooks: at least one side is what the prescriber is ordering now */
            if (order ? !(screened(v, mi, true) || screened(v, mj, true))
                      : !(screened(v, mi, false) && screened(v, mj, false)))
                continue;
            for (uint32_t x = 0; x < mi->ningredients; x++) {
                for (uint32_t y = 0; y < mj->ningredients; y++) {
                    uint32_t gi = mi->ingredients[x], gj = mj->ingredients[y];
                    if (gi == gj) continue;   /* duplicate therapy is not an interaction */
                    uint32_t found[8];
                    size_t k = cds_kb_interactions(v->kb, gi, gj, found, 8);
                    for (size_t f = 0; f < k; f++) {
                        const cds_kb_interaction *ix = cds_kb_interaction_at(v->kb, found[f]);
                        /* orient: med_a carries the interaction's 'a' side */
                        bool a_is_i = (ix->a & CDS_KB_CLASS) ? cds_kb_in_class(v->kb, gi, ix->a) : ix->a == gi;
                        if (ix->a == ix->b) a_is_i = true;
                        cds_ddi_hit h = a_is_i ? (cds_ddi_hit){found[f], i, j, gi, gj} : (cds_ddi_hit){found[f], j, i, gj, gi};
                        bool dup = false;
                        for (uint32_t d = 0; d < n && !dup; d++)
                            dup = hits[d].ix == h.ix && ((hits[d].ing_a == h.ing_a && hits[d].ing_b == h.ing_b) ||
                                                         (hits[d].ing_a == h.ing_b && hits[d].ing_b == h.ing_a));
                        if (dup) continue;
                        cds_ddi_hit *grown = cds_arena_grow(a, hits, n, &cap, sizeof *hits);
                        if (!grown) goto done;   /* the arena is marked failed: no decision */
                        hits = grown;
                        hits[n++] = h;
                    }
                }
            }
        }
    }
done:
    *out = hits;
    return n;
}

static bool target_has(const cds_kb *kb, uint32_t target, uint32_t g)
{
    if (target & CDS_KB_CLASS) return cds_kb_in_class(kb, g, target);
    return target == g;
}

static int level_rank(const char *level)
{
    if (!level) return 0;
    if (strcmp(level, "high") == 0) return 3;
    if (strcmp(level, "moderate") == 0) return 2;
    if (strcmp(level, "low") == 0) return 1;
    return 0;
}

/* Does cross-sensitivity row c lead from allergen target tg to ingredient g? A class allergen
 * matches rows from that class; an ingredient allergen matches rows from any class holding it
 * (so "same class" spread is a row such as penicillins -> penicillins, never implied). */
static bool cross_applies(const cds_kb *kb, const cds_kb_cross *c, uint32_t tg, uint32_t g)
{
    bool from = (tg & CDS_KB_CLASS) ? (tg & ~CDS_KB_CLASS) == c->from : cds_kb_in_class(kb, tg, c->from);
    return from && cds_kb_in_class(kb, g, c->to);
}

/* One hit per allergy and medication: a direct match (the allergen is the ingredient, or a class
 * holding it) wins; otherwise the highest cross-sensitivity level over every matching row of
 * cross_sensitivity.tsv, every target of the allergy and every ingredient of the medication
 * (on a tie, the first row in table order). No row, no hit. */
uint32_t cds_screen_allergies(const cds_view *v, cds_arena *a, cds_allergy_hit **out)
{
    bool order = cds_screen_is_order_hook(v);
    const cds_kb_cross *cross;
    size_t ncross = cds_kb_cross_all(v->kb, &cross);
    uint32_t n = 0, cap = 0;
    cds_allergy_hit *hits = NULL;
    for (uint32_t m = 0; m < v->nmeds; m++) {
        const cds_med *med = &v->meds[m];
        if (!screened(v, med, order)) continue;
        for (uint32_t al = 0; al < v->nallergies; al++) {
            const cds_allergy *A = &v->allergies[al];
            cds_allergy_hit h = {al, m, 0, CDS_KB_NONE, false, NULL, NULL};
            int best = 0;
            for (uint32_t gi = 0; gi < med->ningredients && !(h.via != CDS_KB_NONE && !h.cross); gi++) {
                uint32_t g = med->ingredients[gi];
                for (uint32_t t = 0; t < A->ntargets; t++)
                    if (target_has(v->kb, A->targets[t], g)) {
                        h = (cds_allergy_hit){al, m, g, A->targets[t], false, NULL, NULL};
                        break;
                    }
                if (h.via != CDS_KB_NONE && !h.cross) break;
                for (uint32_t t = 0; t < A->ntargets; t++) {
                    for (size_t c = 0; c < ncross; c++) {
                        int r = level_rank(cross[c].level);
                        if (r <= best || !cross_applies(v->kb, &cross[c], A->targets[t], g)) continue;
                        best = r;
                        h = (cds_allergy_hit){al, m, g, A->targets[t], true, cross[c].level, cross[c].note};
                    }
                }
            }
            if (h.via == CDS_KB_NONE) continue;
            cds_allergy_hit *grown = cds_arena_grow(a, hits, n, &cap, sizeof *hits);
            if (!grown) goto done;   /* the arena is marked failed: no decision */
            hits = grown;
            hits[n++] = h;
        }
    }
done:
    *out = hits;
    return n;
}

void cds_screen_spec(const cds_view *v, const char *spec, cds_med_spec *out)
{
    cds_screen_spec_kb(v->kb, spec, out);
}

void cds_screen_spec_kb(const cds_kb *kb, const char *spec, cds_med_spec *out)
{
    out->cls = CDS_KB_NONE;
    out->nwant = 0;
    if (!spec || !*spec) return;
    if (strncmp(spec, "class:", 6) == 0) {
        out->cls = cds_kb_class_by_id(kb, spec + 6);
        return;
    }
    bool digits = true;
    for (const char *p = spec; *p; p++) digits &= isdigit((unsigned char)*p) != 0;
    if (!digits) {
        out->nwant = cds_kb_match_names(kb, spec, false, out->want, 8);
        return;
    }
    uint32_t g = cds_kb_ingredient_by_code(kb, spec);
    if (g != CDS_KB_NONE) {
        out->want[out->nwant++] = g;
        return;
    }
    const uint32_t *ings;
    size_t k = cds_kb_product_ingredients(kb, spec, &ings);
    for (size_t i = 0; i < k && out->nwant < 8; i++) out->want[out->nwant++] = ings[i];
}

bool cds_screen_med_has(const cds_view *v, const cds_med *m, const cds_med_spec *spec)
{
    for (uint32_t i = 0; i < m->ningredients; i++) {
        if (spec->cls != CDS_KB_NONE && cds_kb_in_class(v->kb, m->ingredients[i], spec->cls)) return true;
        for (size_t w = 0; w < spec->nwant; w++)
            if (m->ingredients[i] == spec->want[w]) return true;
    }
    return false;
}
