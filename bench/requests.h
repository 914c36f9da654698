/* requests.h — benchmark requests: Synthea patients turned into order-sign requests (their
 * active medications, allergies, conditions and latest observations as prefetch, plus one to
 * three draft orders drawn from the knowledge base's interacting ingredients, so some requests
 * alert and some do not), or patients made of N random medications for scaling runs. Each is
 * a whole wire envelope {"op": "call", ...}, MessagePack-encoded once before measuring. */
#ifndef CDS_BENCH_REQUESTS_H
#define CDS_BENCH_REQUESTS_H

#include <stddef.h>

#include "ruleset.h"

typedef struct bench_msg { char *data; size_t len; } bench_msg;
typedef struct bench_set { bench_msg *m; size_t n; size_t bytes; } bench_set;

/* From every Synthea bundle (*.json) in dir. Returns 0 requests if the directory is missing. */
void bench_from_synthea(bench_set *out, const char *dir, const cds_ruleset *rs, unsigned seed);
/* From ready-made order-sign request files (*.json) in dir, except those lacking a prefetch key
 * the medication-safety service requires (they would be answered 412). */
void bench_from_requests(bench_set *out, const char *dir, const cds_ruleset *rs);
/* count requests each with nmeds active medications and one draft order, drawn at random. */
void bench_synthetic(bench_set *out, size_t count, size_t nmeds, const cds_ruleset *rs, unsigned seed);
void bench_set_free(bench_set *s);

#endif
