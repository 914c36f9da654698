/* protocol.h — the wire protocol of DESIGN.md: one MessagePack map in, one out.
 *   request  {"op": "discover"|"call"|"feedback"|"health", "service": str, "request": map, "id": any}
 *            (+ "caller": str from the in-process HTTP gateway; ignored from any other peer)
 *   reply    {"ok": true, "result": R, "id": ..., "decision": uuid}  or
 *            {"ok": false, "error": {"code": C, "message": M, "path": P}, "id": ...}
 * Transport-free: the server and the in-process benchmark both call cds_proto_handle. */
#ifndef CDS_PROTOCOL_H
#define CDS_PROTOCOL_H

#include <msgpack.h>
#include <stdatomic.h>
#include <time.h>

#include "audit.h"
#include "engine.h"
#include "prefetch.h"
#include "suppress_store.h"

typedef struct cds_stats {
    atomic_ulong requests;
    atomic_ulong errors[CDS_RC_COUNT];
    atomic_int inflight;      /* received and not yet answered: see cds_stats_answered */
    _Atomic int64_t answered_us;   /* CLOCK_MONOTONIC us of the last answer (shadow mode waits for a quiet spell) */
    atomic_int parked;        /* of those in flight, calls waiting for their prefetch on the fetch thread: they
                                 hold no thread, so a call beside them still counts as alone */
    atomic_ulong prefetch_unavailable;   /* calls answered with a "did not run" card for a required list */
    /* shadow mode (shadow.h): on, calls whose shadow row was committed, dropped (queue full),
     * failed (the row could not be written) */
    atomic_bool shadow_on;
    atomic_ulong shadow_evaluated, shadow_dropped, shadow_failed;
    struct timespec started;
    int workers;
} cds_stats;

/* A call received has been answered: out of `inflight`, and the time noted. */
static inline void cds_stats_answered(cds_stats *st)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    atomic_store(&st->answered_us, (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000);
    atomic_fetch_sub(&st->inflight, 1);
}

typedef struct cds_proto_env {
    cds_engine *engine;       /* this worker's engine for the current generation */
    cds_stats *stats;         /* for health; may be NULL */
    size_t max_request;       /* application limit (too_large above it) */
    const struct timespec *deadline;   /* monotonic; NULL = none */
    struct cds_audit *audit;  /* NULL: no audit (eval, benchmarks) */
    const char *caller;       /* peer address for the audit row */
    bool envelope_caller;     /* the peer is the in-process HTTP gateway: the envelope's "caller" (HTTP
                                 peer address, JWT iss and sub) replaces `caller` */
    bool audit_requests;      /* keep the whole request in the audit row (PHI-bearing) */
    msgpack_zone **zone;      /* optional: the worker's reusable unpack zone (cleared per request); a
                                 message handed to a worker takes it and leaves a new one here */
    /* Deferred audit: when set, a call's audit row is handed to the writer with this callback
     * and the reply (in `out`) and the reply for a failed write (in audit_fail_reply) are sent by
     * it after the commit; cds_proto_handle then sets outcome.deferred and the caller must not
     * send or touch either buffer. NULL: the row is written before cds_proto_handle returns. */
    cds_audit_done_fn audit_done;
    void *audit_done_arg;
    msgpack_sbuffer *audit_fail_reply;
    bool park_fetch;                      /* a call whose absent prefetch would be fetched is handed back
                                             (needs_fetch) for the caller to fetch elsewhere (fetch_pool.h),
                                             then continued with cds_proto_resume and `prefetched` */
    const struct cds_proto_prefetched *prefetched;   /* resuming a parked call: its fetch's outcome */
    bool no_blocking;                     /* on a transport thread: hand back (needs_worker) instead of fetching
                                             prefetch or waiting for a feedback write */
    cds_suppress_store *suppress;         /* repeat suppression (needs audit for the patient key); NULL: none */
    bool shadow;              /* the shadow thread's candidate rule set: its audit rows are marked shadow */
} cds_proto_env;

typedef struct cds_proto_outcome {
    cds_rc code;              /* CDS_OK or the error code sent */
    char op[16];
    char service[64];         /* for logs; empty when the message named none */
    char decision[37];        /* for call; empty otherwise */
    char id[48];              /* the envelope id (integers and short strings), for logs */
    char path[128];           /* the error path, for logs */
    cds_eval_info info;       /* for call (arena-backed) */
    bool deferred;            /* the audit callback owns and sends the reply */
    bool needs_worker;        /* no_blocking and the request would block: nothing was sent or written;
                                 a worker continues it with cds_proto_resume(pending) */
    bool needs_fetch;         /* park_fetch and the call's prefetch must be fetched: nothing was sent or
                                 written; fetch for cds_proto_pending_call(pending), then resume it */
    struct cds_proto_pending *pending;
} cds_proto_outcome;

/* What fetching a parked call's prefetch came to: the completed request (MessagePack), or the
 * error to answer (rc, err). */
typedef struct cds_proto_prefetched {
    cds_rc rc;
    const cds_error *err;
    const msgpack_sbuffer *completed;
} cds_proto_prefetched;

typedef struct cds_proto_pending cds_proto_pending;

/* The HTTP status a reply with this code gets (the gateway answers with it; logs show it). */
unsigned cds_proto_http_status(cds_rc rc);
#define CDS_PROTO_ZONE_CHUNK (256u << 10)

/* Handles one message; the reply is appended to out. Never fails to produce a reply. */
void cds_proto_handle(const cds_proto_env *env, cds_arena *a, const char *buf, size_t len, msgpack_sbuffer *out,
                      cds_proto_outcome *o);

/* Continues a message handed over by cds_proto_handle (needs_worker), on a worker: the same
 * bytes (buf, len; the audit row hashes them), decoded once. Free p afterwards, when the
 * outcome has been logged (it points into p). */
void cds_proto_resume(const cds_proto_env *env, cds_arena *a, cds_proto_pending *p, const char *buf, size_t len,
                      msgpack_sbuffer *out, cds_proto_outcome *o);
void cds_proto_pending_free(cds_proto_pending *p);
/* The call a parked message carries (needs_fetch): its service, request and gaps, valid until
 * the pending is resumed or freed. */
const cds_call *cds_proto_pending_call(const cds_proto_pending *p);

/* A reply that needs no decoding of the request (overloaded, timeout, too_large). */
void cds_proto_error_reply(msgpack_sbuffer *out, const msgpack_object *id, cds_rc code, const char *message,
                           const char *path);

/* A decision id: UUIDv7 (time-ordered, 74 random bits). */
void cds_uuid_random(char out[37]);

#endif
