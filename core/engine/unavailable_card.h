/* unavailable_card.h — the card a clinician sees when a list the service requires could not be
 * had (absent, an OperationOutcome, or only part of it): "Allergy screening did not run ...".
 * A missing list must never read as "no problems" (issue 21): many EHR clients show nothing
 * at all for a failed call, so this is a 200 answer with a warning card per key. */
#ifndef CDS_UNAVAILABLE_CARD_H
#define CDS_UNAVAILABLE_CARD_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "card.h"
#include "engine.h"
#include "prefetch.h"

/* Whether key k's status calls for such a card (a required key, not sent/none). */
bool cds_unavailable(const cds_prefetch_status *st);

/* Packs the card for status `st` (one for which cds_unavailable is true) and records it in
 * `out`. The uuid is derived from the hook instance and the key, like rule cards. */
void cds_unavailable_card_pack(msgpack_packer *pk, const cds_prefetch_status *st, const char *hook,
                               const char *hook_instance, const char *source_label, cds_arena *a,
                               cds_card_out *out);

#endif
