/* prefetch_fetch.h — fetching the prefetch a client did not send from its FHIR server
 * (CDS Hooks §2: "fetch anything missing itself, if fhirServer + fhirAuthorization are available").
 *
 * All absent keys are fetched at once (libcurl multi), each with the bearer token from
 * fhirAuthorization, following searchset `next` links up to a page limit. The bounds:
 *   - https only, except to a loopback host (http://127.0.0.1, localhost, [::1]);
 *   - no redirects, and `next` links only under fhirServer (the token goes nowhere else);
 *   - everything finishes before the request's deadline (less a reserve for evaluation) and
 *     within the configured timeout; each response is capped in size.
 * The token is used for the requests only: never copied into logs, errors or the audit log,
 * and its header buffer is wiped after use. Errors name the key and the reason, never the URL
 * (it carries patient ids). */
#ifndef CDS_PREFETCH_FETCH_H
#define CDS_PREFETCH_FETCH_H

#include <msgpack.h>
#include <stddef.h>
#include <time.h>

#include "error.h"
#include "prefetch.h"
#include "ruleset.h"

typedef struct cds_fetch_opts {
    int timeout_ms;           /* cap on the whole fetch (default 2000), inside the deadline */
    int max_pages;            /* pages per key, counting the first (default 10) */
    size_t max_bytes;         /* per response (default 4 MiB) */
} cds_fetch_opts;

/* Once per process, before threads start (curl_global_init is not thread-safe). */
void cds_fetch_global_init(void);

/* Fetches the gaps of `request` (a CDS Hooks request map whose fhirServer and
 * fhirAuthorization.access_token are present) and packs the completed request into `out`.
 * A required key that cannot be fetched is CDS_EPREFETCH naming the key; an optional one is
 * given the server's OperationOutcome (or one describing the failure) as its value, so the
 * rules can tell "not fetched" from "no data". */
cds_rc cds_prefetch_fetch(const cds_fetch_opts *o, const cds_service *s, const msgpack_object *request,
                          const cds_prefetch_gap *gaps, size_t ngaps, const struct timespec *deadline,
                          msgpack_sbuffer *out, cds_error *err);

#endif
