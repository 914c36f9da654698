/* protocol.c — envelope decoding, op dispatch and replies. */
#include "protocol.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "digest.h"
#include "mp.h"
#include "request.h"
#include "strbuf.h"

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

static void pack_health(const cds_proto_env *env, msgpack_packer *pk)
{
    const cds_ruleset *rs = cds_engine_ruleset(env->engine);
    cds_stats *st = env->stats;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    msgpack_pack_map(pk, 8);
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
    cds_mp_pack_str(pk, "inflight");
    msgpack_pack_int(pk, st ? atomic_load(&st->inflight) : 0);
    cds_mp_pack_str(pk, "workers");
    msgpack_pack_int(pk, st ? st->workers : 1);
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

/* Writes the decision's audit row (or, with env->audit_done, hands it to the writer);
 * false when it could not be committed (or queued). */
static bool audit_call(const cds_proto_env *env, const char *buf, size_t len, const char *service, const cds_proto_outcome *o,
                       const char *error, double decode_us, double eval_us, double total_us, bool async)
{
    const cds_ruleset *rs = cds_engine_ruleset(env->engine);
    const cds_eval_info *in = &o->info;
    cds_strbuf rules, cards;
    cds_strbuf_init(&rules);
    cds_strbuf_init(&cards);
    cds_strbuf_putc(&rules, '[');
    for (size_t i = 0; i < in->nruns; i++) {
        const cds_rule_run *r = &in->runs[i];
        cds_strbuf_puts(&rules, i ? ",{\"rule\":" : "{\"rule\":");
        cds_strbuf_json_string(&rules, r->rule, strlen(r->rule));
        cds_strbuf_puts(&rules, ",\"version\":");
        cds_strbuf_json_string(&rules, r->version, strlen(r->version));
        cds_strbuf_printf(&rules, ",\"cards\":%d,\"us\":", r->cards);
        cds_strbuf_tenths(&rules, r->micros);
        if (r->error) {
            cds_strbuf_puts(&rules, ",\"error\":");
            cds_strbuf_json_string(&rules, r->error, strlen(r->error));
        }
        cds_strbuf_putc(&rules, '}');
    }
    cds_strbuf_putc(&rules, ']');
    const char *uuid[64], *rule[64], *ind[64];
    size_t nc = in->ncards < 64 ? in->ncards : 64;
    cds_strbuf_putc(&cards, '[');
    for (size_t i = 0; i < in->ncards; i++) {
        const cds_card_out *c = &in->cards[i];
        if (i < 64) { uuid[i] = c->uuid; rule[i] = c->rule; ind[i] = c->indicator; }
        cds_strbuf_puts(&cards, i ? ",{\"uuid\":\"" : "{\"uuid\":\"");
        cds_strbuf_puts(&cards, c->uuid);
        cds_strbuf_puts(&cards, "\",\"rule\":");
        cds_strbuf_json_string(&cards, c->rule, strlen(c->rule));
        cds_strbuf_puts(&cards, ",\"indicator\":\"");
        cds_strbuf_puts(&cards, c->indicator);
        cds_strbuf_puts(&cards, "\"}");
    }
    cds_strbuf_putc(&cards, ']');
    char sha[65], pkey[65] = "";
    cds_sha256_hex(buf, len, sha);
    if (in->patient_id) cds_audit_patient_key(env->audit, in->patient_id, pkey);
    cds_audit_record rec = {
        .decision = o->decision, .outcome = o->code ? cds_rc_name(o->code) : "ok", .service = service,
        .hook = in->hook, .hook_instance = in->hook_instance, .caller = env->caller, .pack = rs->name,
        .pack_version = rs->version, .pack_digest = rs->digest, .kb_digest = cds_kb_digest(rs->kb),
        .rules_json = rules.data, .cards_json = cards.data, .error = error, .request_sha256 = sha,
        .patient_key = pkey[0] ? pkey : NULL, .decode_us = decode_us, .eval_us = eval_us, .total_us = total_us,
        .request_blob = env->audit_requests ? buf : NULL, .request_len = len,
        .card_uuid = uuid, .card_rule = rule, .card_indicator = ind, .ncards = nc};
    bool alone = !env->stats || atomic_load(&env->stats->inflight) <= 1;
    bool ok = (async ? cds_audit_write_async(env->audit, &rec, env->audit_done, env->audit_done_arg, alone)
                     : cds_audit_write(env->audit, &rec)) == CDS_OK;
    cds_strbuf_free(&rules);
    cds_strbuf_free(&cards);
    return ok;
}

/* CDS Hooks §2: the prefetch the client left out is fetched from its FHIR server when it gave
 * one (and a token); otherwise a required key that is absent makes the call prefetch_missing
 * (HTTP 412). On success *effective is the request to evaluate: the original, or the completed
 * copy in `cu` (packed into `completed`). */
static cds_rc complete_prefetch(const cds_proto_env *env, const cds_service *sv, const msgpack_object *request,
                                cds_arena *a, msgpack_sbuffer *completed, msgpack_unpacked *cu,
                                const msgpack_object **effective, cds_error *err)
{
    cds_prefetch_gap gaps[CDS_PREFETCH_MAX_KEYS];
    size_t n = cds_prefetch_gaps(sv, request, gaps, CDS_PREFETCH_MAX_KEYS);
    if (n == 0) return CDS_OK;
    cds_request rq;
    cds_rc rc = cds_request_parse(request, "request", a, &rq, err);   /* a malformed request is 400, not 412 */
    if (rc) return rc;
    if (rq.fhir_authorization && env->fetch) {
        if ((rc = env->fetch(env->fetch_opts, sv, request, gaps, n, env->deadline, completed, err))) return rc;
        if (cds_mp_decode(completed->data, completed->size, cu, err) != CDS_OK) {
            char why[sizeof err->message];
            snprintf(why, sizeof why, "%s", err->message);
            return cds_error_set(err, CDS_EPREFETCH, "request.prefetch", "the fetched prefetch could not be read: %s", why);
        }
        *effective = &cu->data;
        return CDS_OK;
    }
    cds_strbuf keys;
    cds_strbuf_init(&keys);
    const char *first = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!gaps[i].required) continue;
        const char *k = sv->prefetch_keys[gaps[i].key];
        cds_strbuf_printf(&keys, "%s'%s'%s", keys.len ? ", " : "", k, gaps[i].partial ? " (further pages)" : "");
        if (!first) first = k;
    }
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

/* On a transport thread (no_blocking), a feedback write (it waits for its commit) and a call
 * whose prefetch may have to be fetched are left to a worker. */
static bool would_block(const cds_proto_env *env, const cds_service *sv, const msgpack_object *request, bool call)
{
    if (!env->no_blocking) return false;
    if (!call) return env->audit != NULL;
    /* a fetch happens only for absent keys and with a token to fetch them with */
    const msgpack_object *auth = cds_mp_get(request, "fhirAuthorization");
    if (!env->fetch || !auth || auth->type == MSGPACK_OBJECT_NIL) return false;
    cds_prefetch_gap gaps[CDS_PREFETCH_MAX_KEYS];
    return cds_prefetch_gaps(sv, request, gaps, CDS_PREFETCH_MAX_KEYS) > 0;
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
    if (audit_call(env, buf, len, service, o, error, decode_us, eval_us, cds_us_since(t_start), true)) {
        o->deferred = true;
        return;
    }
    o->code = CDS_EINTERNAL;
    msgpack_sbuffer_clear(out);
    cds_proto_error_reply(out, id, CDS_EINTERNAL, unavailable, NULL);
}

void cds_proto_handle(const cds_proto_env *env, cds_arena *a, const char *buf, size_t len, msgpack_sbuffer *out,
                      cds_proto_outcome *o)
{
    memset(o, 0, sizeof *o);
    struct timespec t_start;
    clock_gettime(CLOCK_MONOTONIC, &t_start);
    double decode_us = 0, d_eval_us = 0;
    bool deferred = false;   /* the audit row goes to the writer after the reply is built */
    char *service = NULL;
    cds_error err;
    cds_error_clear(&err);
    if (len > env->max_request) {
        o->code = CDS_ETOOLARGE;
        char m[128];
        snprintf(m, sizeof m, "the message is %zu bytes; the limit is %zu", len, env->max_request);
        cds_proto_error_reply(out, NULL, o->code, m, NULL);
        return;
    }
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    cds_rc drc;
    if (env->zone) {
        msgpack_zone_clear(env->zone);
        drc = cds_mp_decode_zone(buf, len, env->zone, &u.data, &err);
    } else {
        drc = cds_mp_decode(buf, len, &u, &err);
    }
    if (drc != CDS_OK) {
        o->code = err.code;
        cds_proto_error_reply(out, NULL, err.code, err.message, err.path);
        return;
    }
    decode_us = cds_us_since(&t_start);
    const msgpack_object *env_map = &u.data, *id = NULL;
    if (env_map->type != MSGPACK_OBJECT_MAP) {
        o->code = cds_error_set(&err, CDS_EBADREQ, "$", "the message must be a map with 'op'");
        goto fail;
    }
    id = cds_mp_get(env_map, "id");
    if (id && id->type == MSGPACK_OBJECT_POSITIVE_INTEGER) snprintf(o->id, sizeof o->id, "%llu", (unsigned long long)id->via.u64);
    else if (id && id->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) snprintf(o->id, sizeof o->id, "%lld", (long long)id->via.i64);
    else if (cds_mp_is_str(id)) snprintf(o->id, sizeof o->id, "%.*s", (int)(id->via.str.size < 40 ? id->via.str.size : 40), id->via.str.ptr);
    const msgpack_object *op = cds_mp_get(env_map, "op");
    if (!cds_mp_is_str(op)) {
        o->code = cds_error_set(&err, CDS_EBADREQ, "op", "'op' is required and must be a string");
        goto fail;
    }
    snprintf(o->op, sizeof o->op, "%.*s", (int)(op->via.str.size < 15 ? op->via.str.size : 15), op->via.str.ptr);
    const msgpack_object *svc = cds_mp_get(env_map, "service");
    if (svc && !cds_mp_is_str(svc)) {
        o->code = cds_error_set(&err, CDS_EBADREQ, "service", "'service' must be a string");
        goto fail;
    }
    service = cds_mp_strdup(a, svc);
    const msgpack_object *request = cds_mp_get(env_map, "request");
    msgpack_sbuffer result;
    msgpack_sbuffer_init(&result);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &result, msgpack_sbuffer_write);
    const cds_ruleset *rs = cds_engine_ruleset(env->engine);
    if (cds_mp_str_eq(op, "health")) {
        pack_health(env, &pk);
    } else if (cds_mp_str_eq(op, "discover")) {
        cds_ruleset_pack_discovery(rs, &pk);
    } else if (cds_mp_str_eq(op, "call") || cds_mp_str_eq(op, "feedback")) {
        bool call = cds_mp_str_eq(op, "call");
        if (!service) o->code = cds_error_set(&err, CDS_EBADREQ, "service", "'service' is required for %s", o->op);
        else if (!cds_ruleset_service(rs, service))
            o->code = cds_error_set(&err, CDS_EUNKNOWN_SVC, "service", "unknown service '%s'", service);
        else if (!request) o->code = cds_error_set(&err, CDS_EBADREQ, "request", "'request' is required");
        else if (request->type != MSGPACK_OBJECT_MAP)
            o->code = cds_error_set(&err, CDS_EBADREQ, "request", "'request' must be a map");
        else if (would_block(env, cds_ruleset_service(rs, service), request, call)) {
            o->needs_worker = true;   /* nothing sent, nothing written: a worker starts over */
            msgpack_sbuffer_destroy(&result);
            msgpack_unpacked_destroy(&u);
            return;
        } else if (call) {
            cds_uuid_random(o->decision);
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            struct timespec t_eval;
            clock_gettime(CLOCK_MONOTONIC, &t_eval);
            const msgpack_object *effective = request;
            msgpack_sbuffer completed;
            msgpack_sbuffer_init(&completed);
            msgpack_unpacked cu;
            msgpack_unpacked_init(&cu);
            o->code = complete_prefetch(env, cds_ruleset_service(rs, service), request, a, &completed, &cu, &effective, &err);
            if (!o->code)
                o->code = cds_engine_call(env->engine, service, effective, "request", now.tv_sec, a, &pk, &o->info, &err);
            double eval_us = cds_us_since(&t_eval);
            if (!o->code && env->deadline && cds_past(env->deadline))
                o->code = cds_error_set(&err, CDS_ETIMEOUT, NULL, "the evaluation finished after the request deadline");
            /* No decision leaves without its audit row: written here, or (deferred) after the
             * reply is built, by the writer that then sends it. */
            if (env->audit && env->audit_done) {
                deferred = true;
                d_eval_us = eval_us;
            } else if (env->audit && !audit_call(env, buf, len, service, o, o->code ? err.message : NULL, decode_us,
                                                 eval_us, cds_us_since(&t_start), false)) {
                o->code = cds_error_set(&err, CDS_EINTERNAL, NULL, "the audit log is unavailable; no decision was made");
            }
            msgpack_unpacked_destroy(&cu);
            msgpack_sbuffer_destroy(&completed);
        } else {
            o->code = check_feedback(request, &err);
            if (!o->code && env->audit && cds_audit_feedback(env->audit, service, request) != CDS_OK)
                o->code = cds_error_set(&err, CDS_EINTERNAL, NULL, "feedback could not be stored");
            if (!o->code) msgpack_pack_map(&pk, 0);
        }
    } else {
        o->code = cds_error_set(&err, CDS_EUNKNOWN_OP, "op", "unknown op '%s' (use discover, call, feedback or health)", o->op);
    }
    if (o->code) {
        msgpack_sbuffer_destroy(&result);
        goto fail;
    }
    ok_reply(out, id, &result, o->decision);
    msgpack_sbuffer_destroy(&result);
    if (deferred) defer_audit(env, buf, len, service, o, NULL, id, out, decode_us, d_eval_us, &t_start);
    msgpack_unpacked_destroy(&u);
    return;
fail:
    snprintf(o->path, sizeof o->path, "%.120s", err.path);
    cds_proto_error_reply(out, id, o->code, err.message, err.path);
    if (deferred) defer_audit(env, buf, len, service, o, err.message, id, out, decode_us, d_eval_us, &t_start);
    o->decision[0] = '\0';
    msgpack_unpacked_destroy(&u);
}
