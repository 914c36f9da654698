/* shadow_report.h — `cdsd report --shadow`: the candidate rule set of `cdsd serve --shadow`
 * against the live one, on the same calls. Each shadow decision (decision.shadow = 1) names its
 * live decision in its caller column ("shadow of <id>"); per rule, the share of those calls on
 * which each set fired, the cards only the candidate shows (new), only the live set shows
 * (vanished), and the same card (rule + card key, card.ext "key") with another indicator, each
 * with example live decision ids. What a committee reviews before switching a candidate live. */
#ifndef CDS_SHADOW_REPORT_H
#define CDS_SHADOW_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"

#define CDS_SHADOW_EXAMPLES 3

typedef struct cds_shadow_rule {
    char rule[128];
    long live_fired, shadow_fired;   /* calls on which the rule gave at least one card */
    long live_cards, shadow_cards;
    long added, vanished, changed;   /* cards new in the candidate, gone from it, indicator changed */
    char added_ex[CDS_SHADOW_EXAMPLES][37], vanished_ex[CDS_SHADOW_EXAMPLES][37], changed_ex[CDS_SHADOW_EXAMPLES][37];
    char changed_how[48];            /* the first change seen, e.g. "warning -> critical" */
} cds_shadow_rule;

typedef struct cds_shadow_report {
    long calls;                      /* shadow decisions whose live decision was found */
    long unmatched;                  /* shadow decisions whose live one is not in these files */
    long shadow_errors;              /* shadow decisions that failed (outcome not ok) */
    char live_pack[160], shadow_pack[160];   /* "name version (digest)" of the newest of each */
    cds_shadow_rule *rules;          /* sorted by rule */
    size_t nrules;
} cds_shadow_report;

/* Reads the audit files (live logs or archives); since/until in epoch ms. */
cds_rc cds_shadow_report_build(const char *const *paths, size_t npaths, int64_t since, int64_t until, cds_shadow_report *out,
                               cds_error *err);
void cds_shadow_report_text(const cds_shadow_report *r, FILE *f);
void cds_shadow_report_free(cds_shadow_report *r);

#endif
