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

#include <curl/curl.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "error.h"
#include "prefetch.h"
#include "ruleset.h"

typedef struct cds_fetch_opts {
    int timeout_ms;           /* cap on the whole fetch (default 2000), inside the deadline */
    int max_pages;            /* pages per key, counting the first (default 10) */
    size_t max_bytes;         /* per response (default 4 MiB) */
    int max_calls;            /* calls fetched for at once (default 64); beyond, a call is answered
                                 as when its prefetch cannot be had (fetch_pool.h) */
} cds_fetch_opts;

/* Once per process, before threads start (curl_global_init is not thread-safe). */
void cds_fetch_global_init(void);

/* One call's fetch: every gap of its request, run on a libcurl multi handle that may serve
 * other calls' fetches too (fetch_pool.h). It copies what it needs of the service (key names,
 * rendered URLs, the token's header), so the rule set may be reloaded while it runs; it reads
 * `request` again in cds_fetch_job_finish, which must stay valid until then. */
typedef struct cds_fetch_job cds_fetch_job;

/* A job for the gaps of `request` (a CDS Hooks request map whose fhirServer and
 * fhirAuthorization.access_token are present). Problems of the request itself (fhirServer not
 * https, a template that does not render) fail their keys here, not the job. NULL with err set
 * only for a request without FHIR access or out of memory. */
cds_fetch_job *cds_fetch_job_new(const cds_fetch_opts *o, const cds_service *s, const msgpack_object *request,
                                 const cds_prefetch_gap *gaps, size_t ngaps, const struct timespec *deadline,
                                 cds_error *err);
/* Adds its transfers to m. */
void cds_fetch_job_attach(cds_fetch_job *j, CURLM *m);
/* A transfer of m finished (CURLMSG_DONE): keeps its page and starts the next one, or ends its
 * key. Returns its job when that job has no transfer left (call cds_fetch_job_detach), else NULL. */
cds_fetch_job *cds_fetch_transfer_done(CURLM *m, CURL *h, CURLcode res);
/* Whether every key has its answer or its failure. */
bool cds_fetch_job_done(const cds_fetch_job *j);
/* Milliseconds left of the job's time: --fetch-timeout from its start, inside the deadline less
 * a reserve for evaluation. */
long cds_fetch_job_ms_left(const cds_fetch_job *j);
/* Takes its transfers off m (m may be NULL: never attached); keys not done fail with `why`
 * (told to the caller when `tell`: a reason of the service's own, not the FHIR server's). */
void cds_fetch_job_detach(cds_fetch_job *j, CURLM *m, const char *why, bool tell);
/* The job's time is up: detached, its keys not done failed with "did not answer in time" (or
 * "before the deadline", whichever bound its time). */
void cds_fetch_job_time_up(cds_fetch_job *j, CURLM *m);
/* Logs each failed key and packs the completed request into `out`. A required key that could not
 * be fetched is CDS_EPREFETCH naming the key when the service rejects missing prefetch; any other
 * failed key is given the server's OperationOutcome (or one describing the failure) as its value,
 * so the rules can tell "not fetched" from "no data". */
cds_rc cds_fetch_job_finish(cds_fetch_job *j, msgpack_sbuffer *out, cds_error *err);
/* Frees it and wipes its copy of the token. */
void cds_fetch_job_free(cds_fetch_job *j);

#endif
