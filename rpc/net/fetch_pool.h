/* fetch_pool.h — one thread fetching absent prefetch for every call that needs it (libcurl
 * multi), so that a call waiting on a slow FHIR server holds no evaluation worker: the call is
 * parked here with its job and handed back (done) when its data is there, or its time is up.
 *
 * Bounded: at most max_calls jobs in flight. Beyond it a job is not fetched: its keys fail with a
 * reason of the service's own ("too many calls are fetching"), so the call is answered as when
 * its prefetch cannot be had (a did-not-run card, or 412 from a strict service), and counted
 * (cdsd_prefetch_fetch_refused_total). */
#ifndef CDS_FETCH_POOL_H
#define CDS_FETCH_POOL_H

#include "prefetch_fetch.h"

typedef struct cds_fetch_pool cds_fetch_pool;

/* Called once per submitted job, on the pool's thread (or on the submitting one, for a refused
 * job, and on the stopping one): the job is finished fetching and is the callee's. */
typedef void (*cds_fetch_done_fn)(void *arg, cds_fetch_job *job);

/* NULL when the thread or libcurl cannot be started. */
cds_fetch_pool *cds_fetch_pool_start(int max_calls, cds_fetch_done_fn done);

/* Never blocks on the network. */
void cds_fetch_pool_submit(cds_fetch_pool *p, cds_fetch_job *job, void *arg);

/* Ends the jobs still fetching (their keys fail: the service is stopping), hands each back, and
 * stops the thread. */
void cds_fetch_pool_stop(cds_fetch_pool *p);

#endif
