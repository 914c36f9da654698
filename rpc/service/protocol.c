/* protocol.c — envelope decoding, op dispatch and replies. */
#include "protocol.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "digest.h"
#include "firing_live.h"
#include "mp.h"
#include "request.h"
#include "strbuf.h"
#include "suppression.h"

void cds_uuid_random(char out[37])
{
    /* UUIDv7 (RFC 9562): Unix milliseconds first, then 74 random bits. Decisions made in
     * sequence sort in sequence, so the audit log's decision index grows at its right edge
     * (one page per commit) instead of touching a random page per row. */
    unsigned char b[16];
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    if (RAND_bytes(b + 6, 10) != 1) memcpy(b + 6, &t.tv_nsec, sizeof t.tv_nsec < 10 ? sizeof t.tv_nsec : 10);
    uint64_t ms = (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
    for (int i = 0; i < 6; i++) b[i] = (unsigned char)(ms >> (40 - 8 * i));
    cds_uuid_format(b, 7, out);
}

static void pack_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    cds_mp_pack_str(pk, k);
    cds_mp_pack_str(pk, v);
}

void cds_proto_error_reply(msgpack_sbuffer *out, const msgpack_object *id, cds_rc code, const char *message,
                           const char *path)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2 + (id != NULL));
    cds_mp_pack_str(&pk, "ok");
    msgpack_pack_false(&pk);
    cds_mp_pack_str(&pk, "error");
    msgpack_pack_map(&pk, 2 + (path && *path));
    pack_kv_str(&pk, "code", cds_rc_name(code));
    pack_kv_str(&pk, "message", message);
    if (path && *path) pack_kv_str(&pk, "path", path);
    if (id) {
        cds_mp_pack_str(&pk, "id");
        msgpack_pack_object(&pk, *id);
    }
}

static void ok_reply(msgpack_sbuffer *out, const msgpack_object *id, const msgpack_sbuffer *result, const char *decision)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2 + (id != NULL) + (decision && *decision));
    cds_mp_pack_str(&pk, "ok");
    msgpack_pack_true(&pk);
    cds_mp_pack_str(&pk, "result");
    msgpack_sbuffer_write(out, result->data, result->size);   /* already MessagePack */
    if (id) {
        cds_mp_pack_str(&pk, "id");
        msgpack_pack_object(&pk, *id);
    }
    if (decision && *decision) pack_kv_str(&pk, "decision", decision);
}

unsigned cds_proto_http_status(cds_rc rc)
{
    static const unsigned status[CDS_RC_COUNT] = {
        [CDS_OK] = 200, [CDS_EBADREQ] = 400, [CDS_EUNKNOWN_OP] = 400, [CDS_EUNKNOWN_SVC] = 404, [CDS_EHOOK] = 400,
        [CDS_ETOOLARGE] = 413, [CDS_EPREFETCH] = 412, [CDS_EOVERLOAD] = 503, [CDS_ETIMEOUT] = 503,
        [CDS_EINTERNAL] = 500, [CDS_ELOAD] = 500, [CDS_EIO] = 500};
    return (unsigned)rc < CDS_RC_COUNT ? status[rc] : 500;
}

/* Today's firing-rate anomalies so far (firing_live.h): rule, service, kind, calls, cards, rate
 * and the limits it left. */
static void pack_firing_alarms(msgpack_packer *pk)
{
    cds_firing_alarm a[32];
    size_t n = cds_firing_live_anomalies(a, 32);
    if (n > 32) n = 32;
    cds_mp_pack_str(pk, "firing_alarms");
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_map(pk, 8);
        pack_kv_str(pk, "service", a[i].service);
        pack_kv_str(pk, "rule", a[i].rule);
        pack_kv_str(pk, "kind", cds_firing_kind_name(a[i].check.kind));
        cds_mp_pack_str(pk, "calls");
        msgpack_pack_int64(pk, a[i].check.n);
        cds_mp_pack_str(pk, "cards");
        msgpack_pack_int64(pk, a[i].check.x);
        cds_mp_pack_str(pk, "rate");
        msgpack_pack_double(pk, a[i].check.rate);
        cds_mp_pack_str(pk, "lower");
        msgpack_pack_double(pk, a[i].check.lcl);
        cds_mp_pack_str(pk, "upper");
        msgpack_pack_double(pk, a[i].check.ucl);
    }
}

static void pack_health(const cds_proto_env *env, msgpack_packer *pk)
{
    const cds_ruleset *rs = cds_engine_ruleset(env->engine);
    cds_stats *st = env->stats;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    bool shadow = st && atomic_load(&st->shadow_on);
    msgpack_pack_map(pk, 10 + shadow);
    pack_kv_str(pk, "status", "ok");
    cds_mp_pack_str(pk, "pack");
    msgpack_pack_map(pk, 3);
    pack_kv_str(pk, "name", rs->name);
    pack_kv_str(pk, "version", rs->version);
    pack_kv_str(pk, "digest", rs->digest);
    pack_kv_str(pk, "knowledge", cds_kb_digest(rs->kb));
    cds_mp_pack_str(pk, "uptime_s");
    msgpack_pack_int64(pk, st ? (int64_t)(now.tv_sec - st->started.tv_sec) : 0);
    cds_mp_pack_str(pk, "requests");
    msgpack_pack_uint64(pk, st ? atomic_load(&st->requests) : 0);
    cds_mp_pack_str(pk, "errors");
    int n = 0;
    for (int i = 1; st && i < CDS_RC_COUNT; i++) n += atomic_load(&st->errors[i]) > 0;
    msgpack_pack_map(pk, (size_t)n);
    for (int i = 1; st && i < CDS_RC_COUNT; i++) {
        unsigned long c = atomic_load(&st->errors[i]);
        if (!c) continue;
        cds_mp_pack_str(pk, cds_rc_name((cds_rc)i));
        msgpack_pack_uint64(pk, c);
    }
    /* answered 200 with a "screening did not run" card: a list the service requires was absent,
     * an OperationOutcome or unfetchable (a rise means an EHR or FHIR server is failing) */
    cds_mp_pack_str(pk, "prefetch_unavailable");
    msgpack_pack_uint64(pk, st ? atomic_load(&st->prefetch_unavailable) : 0);
    cds_mp_pack_str(pk, "inflight");
    msgpack_pack_int(pk, st ? atomic_load(&st->inflight) : 0);
    cds_mp_pack_str(pk, "workers");
    msgpack_pack_int(pk, st ? st->workers : 1);
    if (shadow) {   /* --shadow: calls the candidate rule set evaluated, dropped (queue full), failed */
        cds_mp_pack_str(pk, "shadow");
        msgpack_pack_map(pk, 3);
        cds_mp_pack_str(pk, "evaluated");
        msgpack_pack_uint64(pk, atomic_load(&st->shadow_evaluated));
        cds_mp_pack_str(pk, "dropped");
        msgpack_pack_uint64(pk, atomic_load(&st->shadow_dropped));
        cds_mp_pack_str(pk, "failed");
        msgpack_pack_uint64(pk, atomic_load(&st->shadow_failed));
    }
    pack_firing_alarms(pk);
}

#define FEEDBACK_MAX 200

/* CDS Hooks feedback: {"feedback": [{card, outcome, outcomeTimestamp, acceptedSuggestions?, overrideReason?}]} */
static cds_rc check_feedback(const msgpack_object *req, cds_error *err)
{
    if (!req || req->type != MSGPACK_OBJECT_MAP) return cds_error_set(err, CDS_EBADREQ, "request", "feedback must be an object");
    const msgpack_object *fb = cds_mp_get(req, "feedback");
    if (!fb || fb->type != MSGPACK_OBJECT_ARRAY)
        return cds_error_set(err, CDS_EBADREQ, "request.feedback", "'feedback' must be a list");
    /* one entry per card shown; a 4 MB request of 40 000 entries would be one long transaction
     * on the audit writer, with every decision's reply waiting behind it */
    if (fb->via.array.size > FEEDBACK_MAX)
        return cds_error_set(err, CDS_EBADREQ, "request.feedback", "at most %d entries per request (got %u)",
                             FEEDBACK_MAX, fb->via.array.size);
    for (uint32_t i = 0; i < fb->via.array.size; i++) {
        const msgpack_object *e = &fb->via.array.ptr[i];
        char path[96];
        snprintf(path, sizeof path, "request.feedback[%u]", i);
        if (e->type != MSGPACK_OBJECT_MAP) return cds_error_set(err, CDS_EBADREQ, path, "an entry must be an object");
        static const char *const req_fields[] = {"card", "outcome", "outcomeTimestamp"};
        for (size_t k = 0; k < 3; k++) {
            if (!cds_mp_is_str(cds_mp_get(e, req_fields[k]))) {
                snprintf(path, sizeof path, "request.feedback[%u].%s", i, req_fields[k]);
                return cds_error_set(err, CDS_EBADREQ, path, "'%s' is required and must be a string", req_fields[k]);
            }
        }
        const msgpack_object *oc = cds_mp_get(e, "outcome");
        if (!cds_mp_str_eq(oc, "accepted") && !cds_mp_str_eq(oc, "overridden")) {
            snprintf(path, sizeof path, "request.feedback[%u].outcome", i);
            return cds_error_set(err, CDS_EBADREQ, path, "'outcome' must be accepted or overridden");
        }
        const msgpack_object *as = cds_mp_get(e, "acceptedSuggestions");
        if (cds_mp_str_eq(oc, "accepted") && (!as || as->type != MSGPACK_OBJECT_ARRAY)) {
            snprintf(path, sizeof path, "request.feedback[%u].acceptedSuggestions", i);
            return cds_error_set(err, CDS_EBADREQ, path, "'acceptedSuggestions' is required when accepted");
        }
    }
    return CDS_OK;
}

/* The decision's audit row (audit.c owns its shape), written now or handed to the writer. */
static cds_rc audit_decision(const cds_proto_env *env, const char *buf, size_t len, const char *service,
                             const cds_proto_outcome *o, const char *error, double decode_us, double eval_us,
                             double total_us, bool async)
{
    cds_audit_call c = {.decision = o->decision, .service = service, .caller = env->caller, .code = o->code,
                        .error = error, .rs = cds_engine_ruleset(env->engine), .info = &o->info, .request = buf,
                        .request_len = len, .keep_request = env->audit_requests, .decode_us = decode_us,
                        .eval_us = eval_us, .total_us = total_us, .shadow = env->shadow};
    /* a shadow row never commits on its (lowest-priority) thread: holding the database there
     * would make live rows wait for it */
    bool alone = !env->shadow &&
                 (!env->stats || atomic_load(&env->stats->inflight) - atomic_load(&env->stats->parked) <= 1);
    return cds_audit_decision(env->audit, &c, async ? env->audit_done : NULL, env->audit_done_arg, alone);
}

/* CDS Hooks §2: the prefetch the client left out is fetched from its FHIR server when it gave
 * one (and a token), on the fetch thread while the call is parked (fetch_pool.h). A required key
 * that can be had neither way is, by default, answered with a "screening did not run" warning
 * card (the engine packs it from the key's status); a service with missing_prefetch = "reject"
 * fails the call with prefetch_missing (HTTP 412) instead. After a fetch the call evaluates the
 * completed copy (decoded into `cu`). */
static cds_rc complete_prefetch(const cds_proto_env *env, cds_call *c, msgpack_unpacked *cu, cds_error *err)
{
    if (c->ngaps == 0) return CDS_OK;
    if (c->req.fhir_authorization && env->prefetched) {   /* fetched while the call was parked */
        if (env->prefetched->rc) {
            *err = *env->prefetched->err;
            return env->prefetched->rc;
        }
        const msgpack_sbuffer *src = env->prefetched->completed;
        if (cds_mp_decode(src->data, src->size, cu, err) != CDS_OK) {
            char why[sizeof err->message];
            snprintf(why, sizeof why, "%s", err->message);
            return cds_error_set(err, CDS_EPREFETCH, "request.prefetch", "the fetched prefetch could not be read: %s", why);
        }
        cds_call_complete(c, &cu->data);
        return CDS_OK;
    }
    if (!c->service->reject_missing_prefetch) return CDS_OK;
    cds_strbuf keys;
    cds_strbuf_init(&keys);
    const char *first = NULL;
    for (size_t i = 0; i < c->ngaps; i++) {
        if (!c->gaps[i].required) continue;
        const char *k = c->service->prefetch_keys[c->gaps[i].key];
        cds_strbuf_printf(&keys, "%s'%s'%s", keys.len ? ", " : "", k, c->gaps[i].partial ? " (further pages)" : "");
        if (!first) first = k;
    }
    cds_rc rc = CDS_OK;
    if (first) {
        char path[160];
        snprintf(path, sizeof path, "request.prefetch.%s", first);
        rc = cds_error_set(err, CDS_EPREFETCH, path,
                           "required prefetch is missing: %s; send it, or fhirServer and fhirAuthorization so the service "
                           "can fetch it", keys.data);
    }
    cds_strbuf_free(&keys);
    return rc;
}

/* The reply is built: prepare the one for a failed audit write, then hand the row to the
 * writer, whose callback sends one of them. If even queueing fails, answer internal now. */
static void defer_audit(const cds_proto_env *env, const char *buf, size_t len, const char *service, cds_proto_outcome *o,
                        const char *error, const msgpack_object *id, msgpack_sbuffer *out, double decode_us,
                        double eval_us, const struct timespec *t_start)
{
    static const char *const unavailable = "the audit log is unavailable; no decision was made";
    msgpack_sbuffer_clear(env->audit_fail_reply);
    cds_proto_error_reply(env->audit_fail_reply, id, CDS_EINTERNAL, unavailable, NULL);
    if (audit_decision(env, buf, len, service, o, error, decode_us, eval_us, cds_us_since(t_start), true) == CDS_OK) {
        o->deferred = true;
        return;
    }
    o->code = CDS_EINTERNAL;
    msgpack_sbuffer_clear(out);
    cds_proto_error_reply(out, id, CDS_EINTERNAL, unavailable, NULL);
}

/* One message, decoded once: the envelope's fields and, for a call, the prepared call. */
typedef struct message {
    const msgpack_object *id, *request;
    const char *service;
    const char *caller;       /* the envelope's "caller", used only from a trusted peer (envelope_caller) */
    enum { OP_HEALTH, OP_DISCOVER, OP_CALL, OP_FEEDBACK } op;
    cds_rc prepared;          /* cds_call_prepare's result, for a call */
    cds_call call;
    struct timespec t_start;
    double decode_us;
} message;

/* A call or feedback that must wait (a prefetch fetch, a feedback commit), handed from a
 * transport thread to a worker with everything it was decoded into. */
struct cds_proto_pending {
    message m;
    msgpack_unpacked u;       /* the envelope, when it was not decoded into a zone */
    msgpack_zone *zone;       /* else the zone it was decoded into (taken from the evaluator) */
    cds_arena arena;          /* the evaluator's arena, taken with what the call parsed into it */
    char op[16], id[48];
};

void cds_proto_pending_free(cds_proto_pending *p)
{
    if (!p) return;
    msgpack_unpacked_destroy(&p->u);
    if (p->zone) msgpack_zone_free(p->zone);
    cds_arena_free(&p->arena);
    free(p);
}

/* Moves the decoded message out of the evaluator's arena and zone into a pending call. NULL
 * when out of memory (the caller answers internal). */
static cds_proto_pending *hand_over(const cds_proto_env *env, cds_arena *a, msgpack_unpacked *u, const message *m,
                                    const cds_proto_outcome *o)
{
    cds_proto_pending *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    msgpack_zone *fresh = NULL;
    if (env->zone && *env->zone && !(fresh = msgpack_zone_new(CDS_PROTO_ZONE_CHUNK))) {
        free(p);
        return NULL;
    }
    p->m = *m;
    p->u = *u;                /* its zone, if any, now belongs to p */
    msgpack_unpacked_init(u);
    if (fresh) {
        p->zone = *env->zone;
        *env->zone = fresh;
    }
    p->arena = *a;
    cds_arena_init(a);
    memcpy(p->op, o->op, sizeof p->op);
    memcpy(p->id, o->id, sizeof p->id);
    return p;
}

/* Reads the envelope into m. CDS_OK, or the error to answer. */
static cds_rc read_envelope(const msgpack_object *env_map, cds_arena *a, message *m, cds_proto_outcome *o, cds_error *err)
{
    if (env_map->type != MSGPACK_OBJECT_MAP)
        return cds_error_set(err, CDS_EBADREQ, "$", "the message must be a map with 'op'");
    const msgpack_object *id = m->id = cds_mp_get(env_map, "id");
    if (id && id->type == MSGPACK_OBJECT_POSITIVE_INTEGER) snprintf(o->id, sizeof o->id, "%llu", (unsigned long long)id->via.u64);
    else if (id && id->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) snprintf(o->id, sizeof o->id, "%lld", (long long)id->via.i64);
    else if (cds_mp_is_str(id)) snprintf(o->id, sizeof o->id, "%.*s", (int)(id->via.str.size < 40 ? id->via.str.size : 40), id->via.str.ptr);
    const msgpack_object *op = cds_mp_get(env_map, "op");
    if (!cds_mp_is_str(op)) return cds_error_set(err, CDS_EBADREQ, "op", "'op' is required and must be a string");
    snprintf(o->op, sizeof o->op, "%.*s", (int)(op->via.str.size < 15 ? op->via.str.size : 15), op->via.str.ptr);
    const msgpack_object *svc = cds_mp_get(env_map, "service");
    if (svc && !cds_mp_is_str(svc)) return cds_error_set(err, CDS_EBADREQ, "service", "'service' must be a string");
    m->service = cds_mp_strdup(a, svc);
    const msgpack_object *caller = cds_mp_get(env_map, "caller");
    m->caller = cds_mp_is_str(caller) ? cds_mp_strdup(a, caller) : NULL;
    if (m->service) snprintf(o->service, sizeof o->service, "%.63s", m->service);
    m->request = cds_mp_get(env_map, "request");
    if (cds_mp_str_eq(op, "health")) m->op = OP_HEALTH;
    else if (cds_mp_str_eq(op, "discover")) m->op = OP_DISCOVER;
    else if (cds_mp_str_eq(op, "call")) m->op = OP_CALL;
    else if (cds_mp_str_eq(op, "feedback")) m->op = OP_FEEDBACK;
    else return cds_error_set(err, CDS_EUNKNOWN_OP, "op", "unknown op '%s' (use discover, call, feedback or health)", o->op);
    if (m->op == OP_HEALTH || m->op == OP_DISCOVER) return CDS_OK;
    if (!m->service) return cds_error_set(err, CDS_EBADREQ, "service", "'service' is required for %s", o->op);
    return CDS_OK;
}

/* The service and request of a call or feedback; for a call, the call prepared (its own
 * errors, e.g. a hook mismatch, are kept in m->prepared: such a call is still audited). */
static cds_rc read_request(const cds_ruleset *rs, cds_arena *a, message *m, cds_error *err)
{
    if (!cds_ruleset_service(rs, m->service))
        return cds_error_set(err, CDS_EUNKNOWN_SVC, "service", "unknown service '%s'", m->service);
    if (!m->request) return cds_error_set(err, CDS_EBADREQ, "request", "'request' is required");
    if (m->request->type != MSGPACK_OBJECT_MAP) return cds_error_set(err, CDS_EBADREQ, "request", "'request' must be a map");
    if (m->op == OP_CALL) m->prepared = cds_call_prepare(rs, m->service, m->request, "request", a, &m->call, err);
    return CDS_OK;
}

/* A call whose absent prefetch would be fetched from its FHIR server. */
static bool fetches(const cds_proto_env *env, const message *m)
{
    return m->op == OP_CALL && m->prepared == CDS_OK && env->park_fetch && !env->prefetched &&
           m->call.ngaps > 0 && m->call.req.fhir_authorization;
}

/* Handed back to be fetched for elsewhere (park_fetch). */
static bool parks_fetch(const cds_proto_env *env, const message *m) { return env->park_fetch && fetches(env, m); }

/* On a transport thread (no_blocking), a feedback write (it waits for its commit) and a call
 * whose absent prefetch would be fetched here are left to a worker. */
static bool would_block(const cds_proto_env *env, const message *m)
{
    if (!env->no_blocking) return false;
    if (m->op == OP_FEEDBACK) return env->audit != NULL;
    return fetches(env, m);
}

/* The result being packed; a write that failed (out of memory) leaves a hole in it. */
typedef struct result_buf {
    msgpack_sbuffer sb;
    bool failed;
} result_buf;

static int result_write(void *data, const char *buf, size_t len)
{
    result_buf *r = data;
    if (!r->failed && msgpack_sbuffer_write(&r->sb, buf, len) != 0) r->failed = true;
    return r->failed ? -1 : 0;
}

/* Runs a decoded message and replies (the reply to `out`, or deferred to the audit writer). */
static void dispatch(const cds_proto_env *env, cds_arena *a, message *m, const char *buf, size_t len,
                     msgpack_sbuffer *out, cds_proto_outcome *o, cds_error *err)
{
    cds_proto_env from_gateway;
    if (env->envelope_caller && m->caller) {   /* the HTTP gateway says who called it */
        from_gateway = *env;
        from_gateway.caller = m->caller;
        env = &from_gateway;
    }
    result_buf result = {.failed = false};
    msgpack_sbuffer_init(&result.sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &result, result_write);
    bool deferred = false;   /* the audit row goes to the writer after the reply is built */
    double eval_us = 0;
    if (m->op == OP_HEALTH) {
        pack_health(env, &pk);
    } else if (m->op == OP_DISCOVER) {
        cds_ruleset_pack_discovery(cds_engine_ruleset(env->engine), &pk);
    } else if (m->op == OP_CALL) {
        cds_uuid_random(o->decision);
        struct timespec now, t_eval;
        clock_gettime(CLOCK_REALTIME, &now);
        clock_gettime(CLOCK_MONOTONIC, &t_eval);
        msgpack_unpacked cu;
        msgpack_unpacked_init(&cu);
        o->code = m->prepared;
        if (!o->code) o->code = complete_prefetch(env, &m->call, &cu, err);
        if (!o->code) {
            cds_suppression sup;
            cds_suppression_begin(&sup, env->suppress, env->audit, &m->call,
                                  (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
            o->code = cds_engine_run(env->engine, &m->call, now.tv_sec, a, &pk, &o->info, err);
            m->call.suppress = NULL;
            if (!o->code && result.failed)
                o->code = cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory packing the cards; no decision was made");
            if (!o->code && sup.store) cds_suppression_note(&sup);
        } else {   /* the audit row still names the hook and patient of a call that failed */
            o->info.hook = m->call.req.hook;
            o->info.hook_instance = m->call.req.hook_instance;
            o->info.patient_id = m->call.req.patient_id;
        }
        eval_us = cds_us_since(&t_eval);
        if (!o->code && env->deadline && cds_past(env->deadline))
            o->code = cds_error_set(err, CDS_ETIMEOUT, NULL, "the evaluation finished after the request deadline");
        /* No decision leaves without its audit row: written here, or (deferred) after the
         * reply is built, by the writer that then sends it. */
        if (env->audit && env->audit_done) {
            deferred = true;
        } else if (env->audit && audit_decision(env, buf, len, m->service, o, o->code ? err->message : NULL, m->decode_us,
                                                eval_us, cds_us_since(&m->t_start), false) != CDS_OK) {
            o->code = cds_error_set(err, CDS_EINTERNAL, NULL, "the audit log is unavailable; no decision was made");
        }
        msgpack_unpacked_destroy(&cu);
    } else {
        o->code = check_feedback(m->request, err);
        if (!o->code && env->audit && cds_audit_feedback(env->audit, m->service, m->request) != CDS_OK)
            o->code = cds_error_set(err, CDS_EINTERNAL, NULL, "feedback could not be stored");
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        if (!o->code && env->audit && env->suppress &&
            !cds_suppression_feedback(env->suppress, m->request, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000))
            o->code = cds_error_set(err, CDS_EINTERNAL, NULL, "feedback could not be stored (suppression store)");
        if (!o->code) msgpack_pack_map(&pk, 0);
    }
    if (o->code) {
        snprintf(o->path, sizeof o->path, "%.120s", err->path);
        cds_proto_error_reply(out, m->id, o->code, err->message, err->path);
    } else {
        ok_reply(out, m->id, &result.sb, o->decision);
    }
    msgpack_sbuffer_destroy(&result.sb);
    if (deferred)
        defer_audit(env, buf, len, m->service, o, o->code ? err->message : NULL, m->id, out, m->decode_us, eval_us,
                    &m->t_start);
    if (o->code) o->decision[0] = '\0';
}

void cds_proto_handle(const cds_proto_env *env, cds_arena *a, const char *buf, size_t len, msgpack_sbuffer *out,
                      cds_proto_outcome *o)
{
    memset(o, 0, sizeof *o);
    message m;
    memset(&m, 0, sizeof m);
    clock_gettime(CLOCK_MONOTONIC, &m.t_start);
    cds_error err;
    cds_error_clear(&err);
    if (len > env->max_request) {
        o->code = CDS_ETOOLARGE;
        char msg[128];
        snprintf(msg, sizeof msg, "the message is %zu bytes; the limit is %zu", len, env->max_request);
        cds_proto_error_reply(out, NULL, o->code, msg, NULL);
        return;
    }
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    msgpack_zone *zone = env->zone ? *env->zone : NULL;
    cds_rc rc;
    if (zone) {
        msgpack_zone_clear(zone);
        rc = cds_mp_decode_zone(buf, len, zone, &u.data, &err);
    } else {
        rc = cds_mp_decode(buf, len, &u, &err);
    }
    if (rc != CDS_OK) {
        o->code = err.code;
        cds_proto_error_reply(out, NULL, err.code, err.message, err.path);
        return;
    }
    m.decode_us = cds_us_since(&m.t_start);
    rc = read_envelope(&u.data, a, &m, o, &err);
    if (!rc && (m.op == OP_CALL || m.op == OP_FEEDBACK)) rc = read_request(cds_engine_ruleset(env->engine), a, &m, &err);
    if (rc) {
        o->code = rc;
        snprintf(o->path, sizeof o->path, "%.120s", err.path);
        cds_proto_error_reply(out, m.id, rc, err.message, err.path);
    } else if (parks_fetch(env, &m) || would_block(env, &m)) {
        /* nothing sent, nothing written: the fetch thread or a worker continues from here */
        bool park = parks_fetch(env, &m);
        if ((o->pending = hand_over(env, a, &u, &m, o))) {
            o->needs_fetch = park;
            o->needs_worker = !park;
            return;
        }
        o->code = CDS_EINTERNAL;
        cds_proto_error_reply(out, m.id, o->code, "the service is out of memory", NULL);
    } else {
        dispatch(env, a, &m, buf, len, out, o, &err);
    }
    msgpack_unpacked_destroy(&u);
}

void cds_proto_resume(const cds_proto_env *env, cds_arena *a, cds_proto_pending *p, const char *buf, size_t len,
                      msgpack_sbuffer *out, cds_proto_outcome *o)
{
    memset(o, 0, sizeof *o);
    memcpy(o->op, p->op, sizeof o->op);
    memcpy(o->id, p->id, sizeof o->id);
    if (p->m.service) snprintf(o->service, sizeof o->service, "%.63s", p->m.service);
    cds_error err;
    cds_error_clear(&err);
    const cds_ruleset *rs = cds_engine_ruleset(env->engine);
    /* a reload between the hand-over and now: the call is read against the worker's rule set */
    cds_rc rc = p->m.op == OP_CALL && p->m.call.rs != rs ? read_request(rs, &p->arena, &p->m, &err) : CDS_OK;
    if (rc) {
        o->code = rc;
        snprintf(o->path, sizeof o->path, "%.120s", err.path);
        cds_proto_error_reply(out, p->m.id, rc, err.message, err.path);
        return;
    }
    if (parks_fetch(env, &p->m)) {   /* handed over by a transport thread without park_fetch */
        o->needs_fetch = true;
        o->pending = p;
        return;
    }
    dispatch(env, a, &p->m, buf, len, out, o, &err);
}

const cds_call *cds_proto_pending_call(const cds_proto_pending *p) { return &p->m.call; }
