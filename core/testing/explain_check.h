/* explain_check.h — is a card's explanation (cds_card_out.explain, see card_explain.h) enough to
 * answer "why this card?": a rule card names at least one matched resource ("Type/id") and a
 * knowledge row or a computed value; an engine card names the failed rule or the prefetch key.
 * Used by `cdsd test --require-explain` over every fixture. */
#ifndef CDS_EXPLAIN_CHECK_H
#define CDS_EXPLAIN_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* true when complete; else false with the reason in why. */
bool cds_explain_complete(const void *data, size_t len, char *why, size_t whylen);

#endif
