/* interaction_pairs.h — how much interaction knowledge a rule set holds, counted three ways (for
 * cdsd burden; README "Interaction knowledge at scale" defines them):
 *   rows      curated rows (knowledge interactions) + public table rows (tables/ddi_*.tsv, one
 *             row per ingredient and severity, listing its partners);
 *   listed    distinct unordered ingredient pairs a row names outright: a curated row with an
 *             ingredient on both sides, every item of a public row;
 *   reachable distinct unordered ingredient pairs any row matches, a curated class row expanded to
 *             every member of its classes (what the matcher screens). */
#ifndef CDSD_INTERACTION_PAIRS_H
#define CDSD_INTERACTION_PAIRS_H

#include <stddef.h>

struct cds_ruleset;

typedef struct interaction_pairs {
    size_t curated_rows, public_rows, listed, reachable;
} interaction_pairs;

/* false when out of memory */
int interaction_pairs_count(const struct cds_ruleset *rs, interaction_pairs *out);

#endif
