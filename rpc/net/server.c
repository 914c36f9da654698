/* server.c — the NNG service loop (see server.h).
 *
 * Each context is a small state machine driven by its aio callback (on NNG's threads):
 * RECV -> (nothing else in flight ? evaluate here : queue full ? reply overloaded : enqueue)
 * ... reply (by the worker, or by the audit writer once the row is committed) -> SEND -> RECV.
 * Workers never touch the socket except through their job's context. Signals are taken
 * synchronously by the main thread (sigtimedwait): SIGHUP reloads, SIGTERM/SIGINT drain. */
#include "server.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fetch_pool.h"
#include "generation.h"
#include "http_gateway.h"
#include "json.h"
#include "ops_http.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "audit.h"
#include "audit_history.h"
#include "audit_retention.h"
#include "firing_live.h"
#include "protocol.h"
#include "shadow.h"
#include "supervisor.h"
#include <arpa/inet.h>

typedef enum { SLOT_RECV, SLOT_WORK, SLOT_SEND } slot_state;

typedef struct server server;
typedef struct gateway_call gateway_call;

/* One request being served: an NNG context's (aio, ctx, msg), or a call of the in-process HTTP
 * gateway handed over without a socket (gw). */
typedef struct slot {
    server *s;
    nng_aio *aio;
    nng_ctx ctx;
    slot_state state;
    nng_msg *msg;
    cds_proto_pending *pending;   /* decoded on a transport thread, continued by a worker */
    struct timespec deadline, received;
    /* the reply, and the one sent instead if its audit row cannot be written; with the audit
     * log on, the audit writer sends one of them after the commit (audited) */
    msgpack_sbuffer reply, audit_fail_reply;
    gateway_call *gw;         /* NULL for an NNG context */
    cds_fetch_job *fetch_job; /* its prefetch, fetched while it was parked (fetch_pool.h) */
    struct slot *next_fetched;   /* in the server's list of calls back from fetching */
} slot;

/* A call from the HTTP gateway: its thread waits for the reply (up to its timeout), while the
 * request is served inline or by a worker, and its audit row may complete it later still. Freed
 * by whichever of the three lets go last (refs). */
struct gateway_call {
    slot sl;
    char *envelope;           /* the MessagePack envelope, owned */
    size_t len;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool answered;
    char *reply;              /* malloc'd; NULL when out of memory */
    size_t reply_len;
    int refs;                 /* the gateway's thread, serving it, answering it */
};

static void gateway_call_release(gateway_call *gc)
{
    pthread_mutex_lock(&gc->lock);
    bool last = --gc->refs == 0;
    pthread_mutex_unlock(&gc->lock);
    if (!last) return;
    pthread_mutex_destroy(&gc->lock);
    pthread_cond_destroy(&gc->cond);
    msgpack_sbuffer_destroy(&gc->sl.reply);
    msgpack_sbuffer_destroy(&gc->sl.audit_fail_reply);
    cds_proto_pending_free(gc->sl.pending);
    free(gc->envelope);
    free(gc->reply);
    free(gc);
}

/* The reply goes to the waiting gateway thread. */
static void gateway_answer(gateway_call *gc, const msgpack_sbuffer *body)
{
    char *copy = malloc(body->size ? body->size : 1);
    if (copy) memcpy(copy, body->data, body->size);
    pthread_mutex_lock(&gc->lock);
    gc->reply = copy;
    gc->reply_len = copy ? body->size : 0;
    gc->answered = true;
    pthread_cond_signal(&gc->cond);
    pthread_mutex_unlock(&gc->lock);
}

struct server {
    const cds_server_opts *o;
    nng_socket sock;
    nng_listener listener;
    slot *slots;
    int nslots;
    /* bounded job queue */
    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    slot **queue;
    int qcap, qhead, qlen;
    /* calls back from the fetch thread: taken before the queue (they have waited longest), and
     * never refused (fetch_pool.h bounds how many there can be) */
    slot *fetched_head, *fetched_tail;
    cds_fetch_pool *fetch_pool;
    atomic_bool stopping;      /* draining: contexts take no new requests after their reply */
    atomic_bool workers_exit;  /* drained: workers leave once the queue is empty */
    pthread_t *workers;
    cds_stats stats;
    cds_gen_opts gen_opts;
    cds_audit *audit;
    cds_suppress_store *suppress;   /* repeat suppression, $STATE/suppress.db */
    cds_http_gateway *http;
    cds_ops_listener *ops;    /* --metrics */
    cds_shadow *shadow;       /* --shadow, or NULL */
    /* A request that arrives while nothing else is in flight is evaluated on the NNG thread that
     * received it, with this evaluator: no hand-off to a sleeping worker (on this VM a wake-up
     * costs tens of microseconds and a cold cache). Under load every request goes to a worker. */
    pthread_mutex_t inline_lock;
    struct evaluator *inline_ev;
    bool inline_off;          /* draining: no more inline evaluations (under inline_lock) */
    /* admin socket */
    nng_socket admin;
    pthread_t admin_thread;
    bool admin_open;
};

static void reply_now(slot *sl, const msgpack_sbuffer *body)
{
    if (sl->gw) {   /* answered as NNG's send completes: the call is no longer in flight */
        gateway_answer(sl->gw, body);
        cds_stats_answered(&sl->s->stats);
        gateway_call_release(sl->gw);
        return;
    }
    nng_msg *m;
    if (nng_msg_alloc(&m, 0) != 0 || nng_msg_append(m, body->data, body->size) != 0) {
        cds_log(CDS_LOG_ERROR, "reply", "out of memory building a reply");
        if (m) nng_msg_free(m);
        nng_msg_alloc(&m, 0);
    }
    /* Copied into the message: give the slot's buffers back before the send can complete and
     * the slot take its next request (kept, they held the largest reply each slot ever sent). */
    msgpack_sbuffer_destroy(&sl->reply);
    msgpack_sbuffer_init(&sl->reply);
    msgpack_sbuffer_destroy(&sl->audit_fail_reply);
    msgpack_sbuffer_init(&sl->audit_fail_reply);
    sl->state = SLOT_SEND;
    nng_aio_set_msg(sl->aio, m);
    nng_ctx_send(sl->ctx, sl->aio);
}

/* The audit writer committed (or failed to write) this slot's decision: send its reply. */
static void audited(void *arg, cds_rc rc)
{
    slot *sl = arg;
    if (rc != CDS_OK) {
        atomic_fetch_add(&sl->s->stats.errors[CDS_EINTERNAL], 1);
        cds_log(CDS_LOG_ERROR, "audit", "a decision's audit row could not be written; the call was answered 'internal'");
    }
    reply_now(sl, rc == CDS_OK ? &sl->reply : &sl->audit_fail_reply);
}

static bool serve_inline(server *s, slot *sl, int inflight_before);
static void served(slot *sl);

/* To the workers' queue; when it is full, answered overloaded at once rather than let the EHR wait. */
static void enqueue(server *s, slot *sl)
{
    pthread_mutex_lock(&s->qlock);
    if (s->qlen < s->qcap) {
        s->queue[(s->qhead + s->qlen) % s->qcap] = sl;
        s->qlen++;
        sl->state = SLOT_WORK;
        pthread_cond_signal(&s->qcond);
        pthread_mutex_unlock(&s->qlock);
        return;
    }
    pthread_mutex_unlock(&s->qlock);
    if (sl->msg) nng_msg_free(sl->msg);
    sl->msg = NULL;
    atomic_fetch_add(&s->stats.requests, 1);
    atomic_fetch_add(&s->stats.errors[CDS_EOVERLOAD], 1);
    cds_metrics_op(NULL, CDS_EOVERLOAD);
    cds_log_request(CDS_LOG_WARN, "request", &(cds_log_fields){.status = 503, .outcome = "overloaded"}, NULL);
    msgpack_sbuffer b;
    msgpack_sbuffer_init(&b);
    cds_proto_error_reply(&b, NULL, CDS_EOVERLOAD, "the service is at capacity; retry shortly", NULL);
    reply_now(sl, &b);
    served(sl);
    msgpack_sbuffer_destroy(&b);
}

static void slot_cb(void *arg)
{
    slot *sl = arg;
    server *s = sl->s;
    int rv = nng_aio_result(sl->aio);
    switch (sl->state) {
    case SLOT_RECV:
        if (rv != 0) {
            if (rv == NNG_ECLOSED || atomic_load(&s->stopping)) return;
            nng_ctx_recv(sl->ctx, sl->aio);   /* e.g. a peer went away; keep serving */
            return;
        }
        sl->msg = nng_aio_get_msg(sl->aio);
        int before = atomic_fetch_add(&s->stats.inflight, 1) - atomic_load(&s->stats.parked);
        clock_gettime(CLOCK_MONOTONIC, &sl->received);
        cds_deadline_in(&sl->deadline, s->o->deadline_ms);
        if (serve_inline(s, sl, before)) return;   /* answered (or handed to the audit writer) */
        enqueue(s, sl);
        return;
    case SLOT_SEND:
        if (rv != 0) nng_msg_free(nng_aio_get_msg(sl->aio));   /* a failed send leaves us the message */
        cds_stats_answered(&s->stats);
        if (atomic_load(&s->stopping)) return;
        sl->state = SLOT_RECV;
        nng_ctx_recv(sl->ctx, sl->aio);
        return;
    case SLOT_WORK:
        return;
    }
}

/* What evaluating needs, owned by one thread at a time: a worker's, or the inline one. */
typedef struct evaluator {
    cds_gen *gen;
    cds_engine *engine;
    cds_arena arena;
    msgpack_zone *zone;       /* one unpack zone, reused */
} evaluator;

static evaluator *evaluator_new(void)
{
    evaluator *ev = calloc(1, sizeof *ev);
    if (!ev) return NULL;
    cds_arena_init(&ev->arena);
    ev->zone = msgpack_zone_new(CDS_PROTO_ZONE_CHUNK);
    if (!ev->zone) {
        free(ev);
        return NULL;
    }
    return ev;
}

static void evaluator_free(evaluator *ev)
{
    if (!ev) return;
    cds_engine_free(ev->engine);
    cds_gen_release(ev->gen);
    cds_arena_free(&ev->arena);
    msgpack_zone_free(ev->zone);
    free(ev);
}

/* Moves to the newest generation (between requests). */
static void evaluator_refresh(evaluator *ev)
{
    cds_gen *now = cds_gen_acquire();
    if (now == ev->gen) {
        cds_gen_release(now);
        return;
    }
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_engine *e = now ? cds_engine_new(cds_gen_ruleset(now), &diag) : NULL;
    if (e) {
        cds_engine_free(ev->engine);
        cds_gen_release(ev->gen);
        ev->engine = e;
        ev->gen = now;
    } else {
        cds_log(CDS_LOG_ERROR, "generation", "cannot compile generation %lu; staying on the previous one", now ? cds_gen_id(now) : 0);
        cds_gen_release(now);
    }
    cds_strbuf_free(&diag);
}

/* "ip:port" of an NNG peer, and whether its TLS certificate verified. */
static void caller_of(nng_msg *msg, char *caller, size_t n)
{
    caller[0] = '\0';
    nng_pipe pipe = nng_msg_get_pipe(msg);
    nng_sockaddr sa;
    if (nng_pipe_get_addr(pipe, NNG_OPT_REMADDR, &sa) != 0) return;
    if (sa.s_family == NNG_AF_INET) {
        const unsigned char *ip = (const unsigned char *)&sa.s_in.sa_addr;
        snprintf(caller, n, "%u.%u.%u.%u:%u", ip[0], ip[1], ip[2], ip[3], (unsigned)ntohs(sa.s_in.sa_port));
    } else if (sa.s_family == NNG_AF_IPC) {
        snprintf(caller, n, "ipc");
    }
    /* NNG 1.5.2 exposes whether the client certificate verified, not its subject */
    bool verified = false;
    if (nng_pipe_get_bool(pipe, NNG_OPT_TLS_VERIFIED, &verified) == 0 && verified) {
        size_t l = strlen(caller);
        snprintf(caller + l, n - l, " tls-verified");
    }
}

/* The request's server side is done with it (the reply may still be the audit writer's to send). */
static void served(slot *sl)
{
    if (sl->gw) gateway_call_release(sl->gw);
}

/* Counts the request (stats, metrics) and logs it: one line per request (info for calls,
 * debug for the other ops, warn for errors), plus one per failed rule and one naming the lists a
 * service requires that could not be had. */
static void log_outcome(cds_stats *st, const cds_proto_outcome *oc, double ms)
{
    bool call = !strcmp(oc->op, "call");
    cds_log_fields f = {oc->id, oc->op, oc->service, oc->info.hook, cds_proto_http_status(oc->code),
                        oc->code ? cds_rc_name(oc->code) : "ok", oc->decision, oc->path, ms};
    if (call) cds_metrics_call(oc->service, oc->code, ms / 1000);
    else cds_metrics_op(oc->op, oc->code);
    if (oc->code) {
        atomic_fetch_add(&st->errors[oc->code < CDS_RC_COUNT ? oc->code : CDS_EINTERNAL], 1);
        cds_log_request(CDS_LOG_WARN, "request", &f, NULL);
        return;
    }
    for (size_t i = 0; i < oc->info.ncards; i++) {
        const cds_card_out *co = &oc->info.cards[i];
        if (co->indicator && !strcmp(co->indicator, "suppressed")) cds_metrics_card_suppressed(co->rule);   /* dropped */
        else cds_metrics_card(co->rule, co->indicator);
    }
    if (call) cds_firing_live_call(oc->service, &oc->info);
    cds_log_request(call ? CDS_LOG_INFO : CDS_LOG_DEBUG, "request", &f, call ? "%zu card(s)" : NULL, oc->info.ncards);
    for (size_t i = 0; i < oc->info.nruns; i++)
        if (oc->info.runs[i].error) {
            cds_metrics_rule_error(oc->info.runs[i].rule);
            cds_log_request(CDS_LOG_WARN, "rule_error", &f, "rule %s failed: %s", oc->info.runs[i].rule,
                            oc->info.runs[i].error);
        }
    if (oc->info.nunavailable) {
        atomic_fetch_add(&st->prefetch_unavailable, 1);
        char keys[256] = "";
        for (size_t i = 0; i < oc->info.ncards; i++) {
            const char *r = oc->info.cards[i].rule;
            size_t l = strlen(keys);
            if (r && !strncmp(r, "prefetch.", 9)) snprintf(keys + l, sizeof keys - l, "%s%s", l ? "," : "", r + 9);
        }
        cds_log_request(CDS_LOG_WARN, "prefetch_unavailable", &f, "required list(s) %s could not be had: answered with a did-not-run card",
                        keys);
    }
}

/* Evaluates the slot's request and replies (or leaves the reply to the audit writer's
 * callback). On an NNG thread (`inline_`), work that may block - fetching prefetch from a FHIR
 * server, storing feedback - is not done: returns false with the request untouched, for a
 * worker. */
static bool serve(server *s, slot *sl, evaluator *ev, bool inline_)
{
    /* Ours now: once a deferred reply is sent, the slot takes its next request (and message)
     * while this function may still be running. */
    nng_msg *msg = sl->msg;
    sl->msg = NULL;
    struct timespec received = sl->received;
    gateway_call *gw = sl->gw;
    /* back from the fetch thread: what it fetched, read against the request it still holds */
    cds_fetch_job *job = sl->fetch_job;
    sl->fetch_job = NULL;
    msgpack_sbuffer completed;
    msgpack_sbuffer_init(&completed);
    cds_error fetch_err;
    cds_error_clear(&fetch_err);
    cds_proto_prefetched fetched = {.err = &fetch_err, .completed = &completed};
    const char *buf = sl->gw ? sl->gw->envelope : nng_msg_body(msg);
    size_t len = sl->gw ? sl->gw->len : nng_msg_len(msg);
    msgpack_sbuffer *out = &sl->reply;
    msgpack_sbuffer_clear(out);
    cds_proto_outcome oc;
    memset(&oc, 0, sizeof oc);
    cds_proto_pending *pend_free = NULL;
    if (job) fetched.rc = cds_fetch_job_finish(job, &completed, &fetch_err);   /* logs the keys not fetched */
    cds_fetch_job_free(job);
    if (cds_past(&sl->deadline)) {
        cds_proto_pending_free(sl->pending);
        sl->pending = NULL;
        oc.code = CDS_ETIMEOUT;
        snprintf(oc.op, sizeof oc.op, "?");
        cds_proto_error_reply(out, NULL, CDS_ETIMEOUT, "the request waited past its deadline", NULL);
    } else {
        char caller[64] = "";
        bool gateway = sl->gw != NULL;   /* the gateway's envelope names the HTTP caller */
        if (!gateway) caller_of(msg, caller, sizeof caller);
        cds_proto_env env = {.engine = ev->engine, .stats = &s->stats, .max_request = s->o->max_request,
                             .deadline = &sl->deadline, .audit = s->audit, .caller = caller[0] ? caller : NULL,
                             .envelope_caller = gateway,
                             .audit_requests = s->o->audit_requests, .zone = &ev->zone,
                             .park_fetch = true, .prefetched = job ? &fetched : NULL, .no_blocking = inline_,
                             .audit_done = audited, .audit_done_arg = sl, .audit_fail_reply = &sl->audit_fail_reply,
                             .suppress = s->suppress};
        cds_proto_pending *pending = sl->pending;
        sl->pending = NULL;
        if (pending) cds_proto_resume(&env, &ev->arena, pending, buf, len, out, &oc);
        else cds_proto_handle(&env, &ev->arena, buf, len, out, &oc);
        if (oc.needs_fetch) {
            /* parked: no thread waits on the FHIR server but the fetch thread */
            const cds_call *c = cds_proto_pending_call(oc.pending);
            cds_fetch_job *j = cds_fetch_job_new(&s->o->fetch, c->service, c->request, c->gaps, c->ngaps, &sl->deadline,
                                                 &fetch_err);
            if (j) {
                sl->msg = msg;
                sl->pending = oc.pending;
                cds_arena_reset(&ev->arena);
                msgpack_sbuffer_destroy(&completed);
                atomic_fetch_add(&s->stats.parked, 1);   /* before: the pool may hand it back at once */
                cds_fetch_pool_submit(s->fetch_pool, j, sl);   /* the slot is the fetch thread's now */
                return true;
            }
            /* no job (out of memory): answered with its error now */
            pending = oc.pending;
            fetched.rc = fetch_err.code;
            env.prefetched = &fetched;
            cds_proto_resume(&env, &ev->arena, pending, buf, len, out, &oc);
        }
        if (oc.needs_worker) {   /* nothing was sent: the slot is still this request's, decoded */
            sl->msg = msg;
            sl->pending = oc.pending;
            cds_arena_reset(&ev->arena);
            return false;
        }
        /* logged below, then freed: the outcome may point into it */
        pend_free = pending;
        /* deferred: the slot now belongs to the audit writer's callback; touch it no more */
    }
    atomic_fetch_add(&s->stats.requests, 1);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    log_outcome(&s->stats, &oc, (double)(now.tv_sec - received.tv_sec) * 1e3 + (double)(now.tv_nsec - received.tv_nsec) / 1e6);
    cds_proto_pending_free(pend_free);
    if (!oc.deferred) reply_now(sl, out);   /* else the audit writer sends it after the commit */
    /* The reply is gone (or queued behind its audit row, which the shadow row follows): only
     * now, a copy of the call for the candidate rule set. */
    if (s->shadow && oc.code == CDS_OK && oc.decision[0] && !strcmp(oc.op, "call"))
        cds_shadow_submit(s->shadow, buf, len, oc.decision);
    msgpack_sbuffer_destroy(&completed);
    if (msg) nng_msg_free(msg);
    if (gw) gateway_call_release(gw);   /* held until here: its reply may have gone long before */
    cds_arena_reset(&ev->arena);
    return true;
}

/* cds_fetch_done_fn: a parked call's fetch is over; a worker continues it. */
static void fetch_done(void *arg, cds_fetch_job *job)
{
    slot *sl = arg;
    server *s = sl->s;
    sl->fetch_job = job;
    sl->next_fetched = NULL;
    atomic_fetch_sub(&s->stats.parked, 1);
    pthread_mutex_lock(&s->qlock);
    if (s->fetched_tail) s->fetched_tail->next_fetched = sl;
    else s->fetched_head = sl;
    s->fetched_tail = sl;
    pthread_cond_signal(&s->qcond);
    pthread_mutex_unlock(&s->qlock);
}

/* The next slot for a worker (under qlock): a call back from fetching, else the queue's head. */
static slot *next_job(server *s)
{
    slot *sl = s->fetched_head;
    if (sl) {
        s->fetched_head = sl->next_fetched;
        if (!s->fetched_head) s->fetched_tail = NULL;
        return sl;
    }
    if (s->qlen == 0) return NULL;
    sl = s->queue[s->qhead];
    s->qhead = (s->qhead + 1) % s->qcap;
    s->qlen--;
    return sl;
}

static void *worker_main(void *arg)
{
    server *s = arg;
    evaluator *ev = evaluator_new();
    /* compiled now, not on the first call: a call back from fetching its prefetch has only
     * what is left of its deadline (the compile takes ~100-200 ms) */
    if (ev) evaluator_refresh(ev);
    for (;;) {
        pthread_mutex_lock(&s->qlock);
        while (s->qlen == 0 && !s->fetched_head && !atomic_load(&s->workers_exit)) pthread_cond_wait(&s->qcond, &s->qlock);
        slot *sl = next_job(s);
        pthread_mutex_unlock(&s->qlock);
        if (!sl) break;
        if (!ev) {   /* out of memory at start: answer rather than leave the EHR waiting */
            cds_fetch_job_free(sl->fetch_job);
            sl->fetch_job = NULL;
            if (sl->msg) nng_msg_free(sl->msg);
            sl->msg = NULL;
            cds_proto_pending_free(sl->pending);
            sl->pending = NULL;
            msgpack_sbuffer_clear(&sl->reply);
            cds_proto_error_reply(&sl->reply, NULL, CDS_EINTERNAL, "the service is out of memory", NULL);
            reply_now(sl, &sl->reply);
            served(sl);
            continue;
        }
        evaluator_refresh(ev);
        serve(s, sl, ev, false);
    }
    evaluator_free(ev);
    return NULL;
}

/* On the NNG thread that received it: evaluate now if nothing else is in flight (calls parked
 * on the fetch thread aside: inflight_before does not count them). */
static bool serve_inline(server *s, slot *sl, int inflight_before)
{
    if (inflight_before != 0 || !s->inline_ev || pthread_mutex_trylock(&s->inline_lock) != 0) return false;
    bool done = false;
    if (!s->inline_off) {
        evaluator_refresh(s->inline_ev);
        sl->state = SLOT_WORK;
        done = serve(s, sl, s->inline_ev, true);
        if (!done) sl->state = SLOT_RECV;
    }
    pthread_mutex_unlock(&s->inline_lock);
    return done;
}

/* --- the HTTP gateway's calls, handed over without a socket ---------------------------------- */

/* cds_http_call_fn: served like an NNG request (inline when nothing else is in flight, else by a
 * worker; the same deadline, queue bound and audit row), without the MessagePack message going
 * through an inproc socket and NNG's threads twice. */
static bool gateway_call_serve(void *arg, char *envelope, size_t len, int timeout_ms, char **reply, size_t *reply_len)
{
    server *s = arg;
    gateway_call *gc = calloc(1, sizeof *gc);
    if (!gc) {
        free(envelope);
        return false;
    }
    gc->envelope = envelope;
    gc->len = len;
    gc->refs = 3;
    pthread_mutex_init(&gc->lock, NULL);
    pthread_condattr_t ca;   /* the wait is bounded on the monotonic clock, like the deadline */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&gc->cond, &ca);
    pthread_condattr_destroy(&ca);
    slot *sl = &gc->sl;
    sl->s = s;
    sl->gw = gc;
    sl->state = SLOT_RECV;
    msgpack_sbuffer_init(&sl->reply);
    msgpack_sbuffer_init(&sl->audit_fail_reply);
    int before = atomic_fetch_add(&s->stats.inflight, 1) - atomic_load(&s->stats.parked);
    clock_gettime(CLOCK_MONOTONIC, &sl->received);
    cds_deadline_in(&sl->deadline, s->o->deadline_ms);
    if (!serve_inline(s, sl, before)) enqueue(s, sl);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&gc->lock);
    while (!gc->answered)
        if (pthread_cond_timedwait(&gc->cond, &gc->lock, &until) == ETIMEDOUT) break;
    bool ok = gc->answered && gc->reply;
    if (ok) {
        *reply = gc->reply;
        *reply_len = gc->reply_len;
        gc->reply = NULL;
    }
    pthread_mutex_unlock(&gc->lock);
    gateway_call_release(gc);
    return ok;
}

/* --- admin socket: `cdsd reload` ---------------------------------------------------------- */

static void *admin_main(void *arg)
{
    server *s = arg;
    for (;;) {
        nng_msg *m;
        if (nng_recvmsg(s->admin, &m, 0) != 0) break;
        bool reload = nng_msg_len(m) >= 6 && memcmp(nng_msg_body(m), "reload", 6) == 0;
        nng_msg_clear(m);
        const char *answer = "unknown admin command";
        if (reload) {
            cds_log(CDS_LOG_INFO, "reload", "reload requested through the admin socket");
            answer = cds_gen_reload(&s->gen_opts) ? "ok" : "failed: the previous rule set stays live (see the log)";
            if (s->shadow && !cds_shadow_reload(s->shadow))
                answer = !strcmp(answer, "ok") ? "ok; the shadow rule set failed: the previous candidate stays (see the log)"
                                                : "failed: the previous rule set and candidate stay (see the log)";
        }
        nng_msg_append(m, answer, strlen(answer));
        if (nng_sendmsg(s->admin, m, 0) != 0) nng_msg_free(m);
    }
    return NULL;
}

static int start_listener(server *s)
{
    const cds_server_opts *o = s->o;
    int rv = nng_listener_create(&s->listener, s->sock, o->listen);
    if (rv) return rv;
    if (strncmp(o->listen, "tls+", 4) == 0) {
        if (!o->tls_cert || !o->tls_key) {
            cds_log(CDS_LOG_ERROR, "start", "%s needs --tls-cert and --tls-key", o->listen);
            return NNG_EINVAL;
        }
        nng_tls_config *cfg;
        if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER))) return rv;
        /* nng_tls_config_cert_key_file wants cert and key in one file; ours are two */
        cds_error err;
        cds_error_clear(&err);
        char *cert = cds_read_file(o->tls_cert, NULL, 1u << 20, &err), *key = cds_read_file(o->tls_key, NULL, 1u << 20, &err);
        rv = cert && key ? nng_tls_config_own_cert(cfg, cert, key, NULL) : NNG_ENOENT;
        if (!cert || !key) cds_log(CDS_LOG_ERROR, "start", "TLS: %s", err.message);
        free(cert);
        free(key);
        if (rv == 0 && o->tls_ca) {
            if ((rv = nng_tls_config_ca_file(cfg, o->tls_ca)) == 0)
                rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
        }
        if (!rv) rv = nng_listener_set_ptr(s->listener, NNG_OPT_TLS_CONFIG, cfg);
        nng_tls_config_free(cfg);   /* the listener holds its own reference */
        if (rv) return rv;
    }
    return nng_listener_start(s->listener, 0);
}

/* The state directory holds the admin socket (reload), the audit log and the knowledge cache:
 * one that others may write to lets them replace any of these. Created 0750; an existing one
 * writable by group or others is refused. */
static bool state_dir_ok(const char *dir)
{
    struct stat st;
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        cds_log(CDS_LOG_ERROR, "start", "cannot create the state directory %s: %s", dir, strerror(errno));
        return false;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        cds_log(CDS_LOG_ERROR, "start", "the state directory %s is not a directory", dir);
        return false;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        cds_log(CDS_LOG_ERROR, "start", "the state directory %s is writable by %s (mode %04o): others could replace the admin "
                               "socket or the audit log; not starting (chmod go-w %s)", dir,
                (st.st_mode & S_IWOTH) ? "everyone" : "its group", (unsigned)(st.st_mode & 07777), dir);
        return false;
    }
    return true;
}

/* The admin socket (reload, unauthenticated) for the owner only, whatever the umask: NNG sets
 * the mode between bind and listen, so no connection is accepted before. */
static int listen_admin(server *s, const char *url)
{
    nng_listener l;
    int rv = nng_rep0_open(&s->admin);
    if (rv) return rv;
    if ((rv = nng_listener_create(&l, s->admin, url)) || (rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, 0600)) ||
        (rv = nng_listener_start(l, 0)))
        nng_close(s->admin);
    return rv;
}

#define SHUTDOWN_GRACE_S 20

/* How far shutdown got, for the watchdog's message. */
static _Atomic int shutdown_phase;
enum { PHASE_DRAINING, PHASE_FLUSHED };

/* Started when shutdown begins (requests drained, or 3 s passed): joining the workers and
 * flushing the audit log take milliseconds, closing NNG should too. A shutdown stuck anywhere
 * (Debian's NNG 1.5.2 has hung in close) must not keep the process alive. Replies are sent only
 * after their audit row is committed, so exiting cannot lose an acknowledged decision. */
static void *shutdown_watchdog(void *arg)
{
    (void)arg;
    sleep(SHUTDOWN_GRACE_S);
    if (atomic_load(&shutdown_phase) == PHASE_FLUSHED)
        cds_log(CDS_LOG_WARN, "shutdown", "NNG did not close within %d s (a known NNG 1.5.2 hang); exiting without it "
                              "- every audit row is committed", SHUTDOWN_GRACE_S);
    else
        cds_log(CDS_LOG_ERROR, "shutdown", "workers or the audit log did not finish within %d s; exiting - calls still "
                              "unanswered were never acknowledged", SHUTDOWN_GRACE_S);
    _exit(0);
}

static long ms_between(const struct timespec *a, const struct timespec *b)
{
    return (long)(b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

/* READY=1 to systemd, with the live rule set in the status line. */
static void notify_ready(const char *what)
{
    cds_gen *g = cds_gen_acquire();
    const cds_ruleset *rs = cds_gen_ruleset(g);
    char status[300];
    snprintf(status, sizeof status, "%s: %s %s, %zu services, %zu rules", what, rs->name, rs->version, rs->nservices,
             rs->nrules);
    cds_gen_release(g);
    cds_supervisor_ready(status);
}

/* Readiness is already false: keep serving everything for drain_ms so a load balancer's health
 * check sees it and stops sending, then drain. SIGHUP is ignored; a second SIGTERM or SIGINT
 * ends the wait. */
static void drain_delay(const sigset_t *sigs, int drain_ms)
{
    struct timespec end;
    cds_deadline_in(&end, drain_ms);
    while (drain_ms > 0 && !cds_past(&end)) {
        struct timespec tick = {0, 100 * 1000000};
        int sig = sigtimedwait(sigs, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            cds_log(CDS_LOG_INFO, "drain", "second signal: draining now");
            return;
        }
        if (sig == SIGHUP) cds_log(CDS_LOG_INFO, "reload", "SIGHUP while draining: ignored");
    }
}

int cds_server_run(const cds_server_opts *o)
{
    server srv = {.o = o};
    server *s = &srv;
    int status = 1;
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);   /* inherited by every thread started below */
    signal(SIGPIPE, SIG_IGN);
    cds_fetch_global_init();

    if (!state_dir_ok(o->state)) return 1;
    char kb_path[1024], admin_url[1100];
    snprintf(kb_path, sizeof kb_path, "%s/kb.sqlite", o->state);
    s->gen_opts = (cds_gen_opts){o->rules, o->fixtures, kb_path};
    char audit_path[1100];
    snprintf(audit_path, sizeof audit_path, "%s/audit.db", o->state);
    cds_error aerr;
    cds_error_clear(&aerr);
    s->audit = cds_audit_open(audit_path, o->audit_sync_full, &aerr);
    if (!s->audit) {
        cds_log(CDS_LOG_ERROR, "start", "audit log: %s; not starting without one", aerr.message);
        return 1;
    }
    cds_audit_retention *retention = NULL;
    if (o->audit_retain_days > 0) {
        char dir[1100];
        if (o->audit_archive_dir) snprintf(dir, sizeof dir, "%s", o->audit_archive_dir);
        else snprintf(dir, sizeof dir, "%s/%s", o->state, CDS_AUDIT_ARCHIVE_DIR);
        if (!(retention = cds_audit_retention_start(audit_path, dir, o->audit_retain_days, &aerr))) {
            cds_log(CDS_LOG_ERROR, "start", "audit retention: %s; not starting without it", aerr.message);
            cds_audit_close(s->audit);
            return 1;
        }
    }
    cds_health_bind(&s->stats, s->audit, o->state);
    if (!cds_gen_reload(&s->gen_opts)) {
        cds_health_unbind();
        cds_audit_retention_stop(retention);
        cds_audit_close(s->audit);
        cds_log(CDS_LOG_ERROR, "start", "no rule set to serve; not starting");
        return 1;
    }
    char suppress_path[1100];
    snprintf(suppress_path, sizeof suppress_path, "%s/suppress.db", o->state);
    if (!(s->suppress = cds_suppress_sqlite_open(suppress_path, &aerr))) {
        cds_log(CDS_LOG_ERROR, "start", "%s; not starting without it", aerr.message);
        cds_gen_shutdown();
        cds_health_unbind();
        cds_audit_retention_stop(retention);
        cds_audit_close(s->audit);
        return 1;
    }
    if (!cds_firing_live_start(o->state, CDS_FIRING_BASELINE_DAYS))
        cds_log(CDS_LOG_WARN, "start", "firing-rate alarms: no baseline thread; health lists none");
    clock_gettime(CLOCK_MONOTONIC, &s->stats.started);
    s->stats.workers = o->workers;
    if (o->shadow) {
        char shadow_kb[1100];
        snprintf(shadow_kb, sizeof shadow_kb, "%s/kb-shadow.sqlite", o->state);
        cds_shadow_opts so = {.rules_dir = o->shadow, .kb_path = shadow_kb, .queue = o->shadow_queue > 0 ? o->shadow_queue : 256,
                              .max_request = o->max_request, .audit = s->audit, .stats = &s->stats};
        if (!(s->shadow = cds_shadow_start(&so))) {
            cds_log(CDS_LOG_ERROR, "start", "--shadow %s: the candidate rule set cannot be evaluated; not starting", o->shadow);
            cds_gen_shutdown();
            cds_health_unbind();
            cds_audit_retention_stop(retention);
            cds_audit_close(s->audit);
            return 1;
        }
    }
    pthread_mutex_init(&s->qlock, NULL);
    pthread_cond_init(&s->qcond, NULL);
    pthread_mutex_init(&s->inline_lock, NULL);
    s->inline_ev = evaluator_new();   /* NULL (out of memory): every request goes to a worker */
    s->qcap = o->queue;
    s->queue = calloc((size_t)s->qcap, sizeof *s->queue);
    s->nslots = o->queue + o->workers + 16;
    s->slots = calloc((size_t)s->nslots, sizeof *s->slots);
    s->workers = calloc((size_t)o->workers, sizeof *s->workers);
    int rv;
    if (!(s->fetch_pool = cds_fetch_pool_start(o->fetch.max_calls, fetch_done))) goto cleanup;
    if ((rv = nng_rep0_open(&s->sock)) != 0) goto nng_fail;
    /* Debian's NNG 1.5.2 accepts any size by default: bound it. Between max_request and this,
     * the application answers too_large; beyond it NNG drops the message. */
    if ((rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, o->max_request * 2)) != 0) goto nng_fail;
    for (int i = 0; i < s->nslots; i++) {
        slot *sl = &s->slots[i];
        sl->s = s;
        msgpack_sbuffer_init(&sl->reply);
        msgpack_sbuffer_init(&sl->audit_fail_reply);
        if ((rv = nng_aio_alloc(&sl->aio, slot_cb, sl)) || (rv = nng_ctx_open(&sl->ctx, s->sock))) goto nng_fail;
    }
    if ((rv = start_listener(s)) != 0) {
        cds_log(CDS_LOG_ERROR, "start", "cannot listen on %s: %s", o->listen, nng_strerror(rv));
        goto cleanup;
    }
    for (int i = 0; i < o->workers; i++) {
        pthread_create(&s->workers[i], NULL, worker_main, s);
        pthread_setname_np(s->workers[i], "cdsd-worker");   /* what `top -H` shows on call */
    }
    if (s->inline_ev) evaluator_refresh(s->inline_ev);   /* likewise, while the workers compile theirs */
    for (int i = 0; i < s->nslots; i++) {
        s->slots[i].state = SLOT_RECV;
        nng_ctx_recv(s->slots[i].ctx, s->slots[i].aio);
    }
    if (o->metrics && !(s->ops = cds_ops_listen(o->metrics))) goto cleanup;
    if (o->http) {
        cds_http_opts ho = {.addr = o->http, .call = gateway_call_serve, .call_arg = s, .max_body = o->max_request,
                            .max_buffered = o->http_max_buffered, .cors_origins = o->cors_origins,
                            .timeout_ms = o->deadline_ms + 1000, .jwt = o->jwt, .public_urls = o->public_urls,
                            .npublic_urls = o->npublic_urls};
        if (!(s->http = cds_http_start(&ho))) goto cleanup;
    }
    snprintf(admin_url, sizeof admin_url, "ipc://%s/admin.sock", o->state);
    if (listen_admin(s, admin_url) == 0) {
        s->admin_open = true;
        pthread_create(&s->admin_thread, NULL, admin_main, s);
        pthread_setname_np(s->admin_thread, "cdsd-admin");
    } else {
        cds_log(CDS_LOG_WARN, "start", "admin socket %s unavailable: 'cdsd reload' will not work (SIGHUP still does)", admin_url);
    }
    {
        cds_gen *g = cds_gen_acquire();
        const cds_ruleset *rs = cds_gen_ruleset(g);
        cds_log(CDS_LOG_INFO, "start", "cdsd serving on %s: %s %s, %zu services, %zu rules, %d workers, max request %zu bytes, "
                              "deadline %d ms, queue %d", o->listen, rs->name, rs->version, rs->nservices, rs->nrules,
                o->workers, o->max_request, o->deadline_ms, o->queue);
        for (size_t i = 0; i < rs->nservices; i++)
            cds_log(CDS_LOG_INFO, "start", "service %s (%s)", rs->services[i].id, rs->services[i].hook);
        cds_gen_release(g);
    }
    /* The watchdog is pinged from this loop: a main thread stuck (in a reload, a signal storm)
     * stops the pings and systemd restarts the service. */
    long watchdog_ms = cds_supervisor_watchdog_interval_ms();
    notify_ready("serving");
    struct timespec last, last_alive;
    clock_gettime(CLOCK_MONOTONIC, &last);
    last_alive = last;
    for (;;) {
        struct timespec tick = {1, 0};
        if (watchdog_ms > 0 && watchdog_ms < 2000) tick = (struct timespec){0, (watchdog_ms / 2) * 1000000L + 1};
        int sig = sigtimedwait(&sigs, NULL, &tick);
        if (sig == SIGHUP) {
            cds_log(CDS_LOG_INFO, "reload", "SIGHUP: reloading %s", o->rules);
            cds_supervisor_reloading();
            notify_ready(cds_gen_reload(&s->gen_opts) ? "reloaded" : "reload failed; the previous rule set stays live");
            if (s->shadow) cds_shadow_reload(s->shadow);   /* logs its own outcome */
        } else if (sig == SIGTERM || sig == SIGINT) {
            cds_health_set_draining();
            cds_log(CDS_LOG_INFO, "drain", "%s: /health/ready now answers 503; draining%s", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                    o->drain_ms > 0 ? " after --drain-ms" : "");
            cds_supervisor_stopping();
            drain_delay(&sigs, o->drain_ms);
            break;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (watchdog_ms > 0 && ms_between(&last_alive, &now) >= watchdog_ms) {
            last_alive = now;
            cds_supervisor_alive();
        }
        if (o->summary_s > 0 && now.tv_sec - last.tv_sec >= o->summary_s) {
            last = now;
            unsigned long errs = 0;
            for (int i = 1; i < CDS_RC_COUNT; i++) errs += atomic_load(&s->stats.errors[i]);
            cds_log(CDS_LOG_INFO, "summary", "requests=%lu errors=%lu inflight=%d", atomic_load(&s->stats.requests), errs,
                    atomic_load(&s->stats.inflight));
        }
    }
    /* Drain: stop accepting connections and new requests, finish what is in flight (bounded). */
    cds_http_stop(s->http);   /* waits for HTTP requests in progress, which the workers still answer */
    s->http = NULL;
    atomic_store(&s->stopping, true);
    /* The listener stays open until nng_close: closing it separately has deadlocked Debian's NNG 1.5.2
     * (its endpoint-close backport). Contexts simply stop taking new requests. */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        pthread_mutex_lock(&s->qlock);
        int q = s->qlen;
        pthread_mutex_unlock(&s->qlock);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (q == 0 && atomic_load(&s->stats.inflight) == 0) break;
        if (now.tv_sec - t0.tv_sec >= 3) {
            cds_log(CDS_LOG_WARN, "drain", "%d request(s) still in flight after 3 s; closing", atomic_load(&s->stats.inflight));
            break;
        }
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    status = 0;
cleanup:;
    pthread_t watchdog;
    if (pthread_create(&watchdog, NULL, shutdown_watchdog, NULL) == 0) pthread_detach(watchdog);
    cds_http_stop(s->http);
    s->http = NULL;
    cds_ops_close(s->ops);   /* scrapes read the server's state: stop them before it goes */
    s->ops = NULL;
    cds_firing_live_stop();
    cds_health_unbind();
    atomic_store(&s->stopping, true);
    /* calls still fetching come back (their keys not fetched: stopping) before the workers go */
    cds_fetch_pool_stop(s->fetch_pool);
    s->fetch_pool = NULL;
    atomic_store(&s->workers_exit, true);
    pthread_mutex_lock(&s->qlock);
    pthread_cond_broadcast(&s->qcond);
    pthread_mutex_unlock(&s->qlock);
    for (int i = 0; i < o->workers; i++)
        if (s->workers[i]) pthread_join(s->workers[i], NULL);
    pthread_mutex_lock(&s->inline_lock);   /* waits for an inline evaluation in progress */
    s->inline_off = true;
    pthread_mutex_unlock(&s->inline_lock);
    cds_shadow_stop(s->shadow);   /* no more submissions; its rows in the writer's queue are flushed below */
    s->shadow = NULL;
    cds_audit_flush(s->audit);   /* replies waiting for their audit row are sent before the slots go */
    /* ...and have finished sending (each send's callback takes its call out of `inflight`)
     * before the contexts are stopped: stopping one mid-send lost that reply's message inside
     * NNG 1.5.2 once (LeakSanitizer, SIGTERM under load). Bounded: 2 s. */
    for (int i = 0; i < 200 && atomic_load(&s->stats.inflight) > 0; i++) usleep(10000);
    atomic_store(&shutdown_phase, PHASE_FLUSHED);   /* what is left is closing NNG */
    /* Stop every aio (waits for its callback) and close each context before the socket:
     * closing the socket with contexts still open has hung NNG 1.5.2 here. */
    for (int i = 0; i < s->nslots; i++) {
        if (s->slots[i].aio) nng_aio_stop(s->slots[i].aio);
        if (s->slots[i].aio) nng_ctx_close(s->slots[i].ctx);
        if (s->slots[i].msg) nng_msg_free(s->slots[i].msg);
        cds_proto_pending_free(s->slots[i].pending);
        if (s->slots[i].aio) nng_aio_free(s->slots[i].aio);
        msgpack_sbuffer_destroy(&s->slots[i].reply);
        msgpack_sbuffer_destroy(&s->slots[i].audit_fail_reply);
    }
    nng_close(s->sock);
    if (s->admin_open) {
        nng_close(s->admin);
        pthread_join(s->admin_thread, NULL);
    }
    unsigned long errs = 0;
    for (int i = 1; i < CDS_RC_COUNT; i++) errs += atomic_load(&s->stats.errors[i]);
    cds_log(CDS_LOG_INFO, "stop", "stopped: requests=%lu errors=%lu", atomic_load(&s->stats.requests), errs);
    evaluator_free(s->inline_ev);
    cds_gen_shutdown();
    cds_audit_retention_stop(retention);   /* an archive run stops between two transactions */
    cds_audit_close(s->audit);   /* every queued row is committed before this returns */
    s->suppress->close(s->suppress);
    free(s->queue);
    free(s->slots);
    free(s->workers);
    return status;
nng_fail:
    cds_log(CDS_LOG_ERROR, "start", "NNG: %s", nng_strerror(rv));
    goto cleanup;
}
