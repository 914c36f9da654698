/* fixture_update.h — `cdsd test --update`: writes the cards a reviewed fixture produced into its
 * "expect" list and changes nothing else in the file: expectations that still match stay byte for
 * byte, stale ones go, a card no expectation matched gets one line in the file's own indentation. */
#ifndef CDS_FIXTURE_UPDATE_H
#define CDS_FIXTURE_UPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct cds_fixture_card {
    const char *rule, *indicator, *summary;
} cds_fixture_card;

/* claimed[k]: the card expectation k matched, or -1 (nexpect entries). Writes the file only when
 * an expectation is added or removed; reports "UPDATED FILE: N kept, N added, N removed" and each
 * change to out. false (and the file untouched) if it cannot be read, located or written. */
bool cds_fixture_update(const char *file, const cds_fixture_card *cards, size_t ncards, const int *claimed,
                        size_t nexpect, FILE *out);

#endif
