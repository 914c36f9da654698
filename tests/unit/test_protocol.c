/* test_protocol.c — the transport-free service layer (rpc/service/protocol.c) from the envelope
 * on: the order of request checks, every card of a decision in the audit log's card index, and
 * a message handed from a transport thread to a worker without being decoded again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "json.h"
#include "mp.h"
#include "protocol.h"
#include "testutil.h"

static const char *MANIFEST =
    "ruleset { name = 't', version = '1', source = 'test source', services = {\n"
    "  { id = 'svc', hook = 'order-sign', description = 'd', rules = { 't.*' },\n"
    "    prefetch = { meds = 'MedicationRequest?patient={{context.patientId}}' }, required_prefetch = { 'meds' } },\n"
    "  { id = 'strict', hook = 'order-sign', description = 'd', rules = { 't.*' }, missing_prefetch = 'reject',\n"
    "    prefetch = { meds = 'MedicationRequest?patient={{context.patientId}}' }, required_prefetch = { 'meds' } } } }\n";

/* 150 cards from one rule: more than the 64 the card index once kept */
static const char *MANY_CARDS =
    "rule { id = 't.many', version = '1', title = 'Many', hooks = { 'order-sign' },\n"
    "  evaluate = function(ctx)\n"
    "    local out = {}\n"
    "    for i = 1, 150 do out[i] = card { indicator = 'info', summary = 'card ' .. i, key = 'k' .. i } end\n"
    "    return out\n"
    "  end }\n";

static const char *ORDER_SIGN =
    "{\"hook\":\"%s\",\"hookInstance\":\"hi-1\",\"context\":{\"userId\":\"Practitioner/1\",\"patientId\":\"p1\","
    "\"draftOrders\":{\"resourceType\":\"Bundle\",\"entry\":[]}}%s}";

typedef struct fixture {
    const char *dir;
    cds_ruleset *rs;
    cds_engine *e;
    cds_audit *audit;
    char db[1100];
} fixture;

static int setup(void **state)
{
    static fixture f;
    f.dir = tu_tempdir();
    tu_write(f.dir, "rules/manifest.lua", MANIFEST);
    tu_write(f.dir, "rules/p/pack.lua", "pack { name = 'p', version = '1' }\n");
    tu_write(f.dir, "rules/p/knowledge/ingredients.tsv", "rxcui\tname\n11289\twarfarin\n");
    tu_write(f.dir, "rules/p/rules.lua", MANY_CARDS);
    char rules[1024];
    snprintf(rules, sizeof rules, "%s/rules", f.dir);
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_ruleset_opts o = {.limits = {.memory = 32u << 20, .instructions = 10000000, .milliseconds = 5000}};
    if (cds_ruleset_load(rules, &o, &f.rs, &diag) != CDS_OK || !(f.e = cds_engine_new(f.rs, &diag)))
        fail_msg("%s", diag.data);
    cds_strbuf_free(&diag);
    snprintf(f.db, sizeof f.db, "%s/audit.db", f.dir);
    cds_error err;
    f.audit = cds_audit_open(f.db, false, &err);
    assert_non_null(f.audit);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cds_audit_close(f->audit);
    cds_engine_free(f->e);
    cds_ruleset_free(f->rs);
    tu_rmrf(f->dir);
    return 0;
}

/* The envelope {"op": op, "service": service, "request": <json>} as MessagePack. */
static void envelope_to(const char *service, const char *op, const char *request_json, msgpack_sbuffer *out)
{
    char *json = malloc(strlen(request_json) + 128);
    sprintf(json, "{\"op\":\"%s\",\"service\":\"%s\",\"id\":7,\"request\":%s}", op, service, request_json);
    cds_error err;
    msgpack_sbuffer_init(out);
    if (cds_json_to_mp(json, strlen(json), "test", out, &err) != CDS_OK) fail_msg("%s", err.message);
    free(json);
}

static void envelope(const char *op, const char *request_json, msgpack_sbuffer *out)
{
    envelope_to("svc", op, request_json, out);
}

/* The decoded reply borrows from its bytes: one buffer per test, freed at the end. */
static msgpack_sbuffer replies[8];
static int nreplies;

/* Handles one envelope; returns the decoded reply (destroy it). */
static msgpack_unpacked handle(const cds_proto_env *env, cds_arena *a, const msgpack_sbuffer *in, cds_proto_outcome *o)
{
    msgpack_sbuffer *out = &replies[nreplies++];
    msgpack_sbuffer_init(out);
    cds_proto_handle(env, a, in->data, in->size, out, o);
    msgpack_unpacked r;
    cds_error err;
    if (o->needs_worker) msgpack_unpacked_init(&r);
    else assert_int_equal(cds_mp_decode(out->data, out->size, &r, &err), CDS_OK);
    return r;
}

static void free_replies(void)
{
    while (nreplies > 0) msgpack_sbuffer_destroy(&replies[--nreplies]);
}

static const char *error_code(const msgpack_unpacked *r)
{
    static char code[64];
    const msgpack_object *c = cds_mp_get(cds_mp_get(&r->data, "error"), "code");
    const msgpack_object *m = cds_mp_get(cds_mp_get(&r->data, "error"), "message");
    if (m) print_message("error: %.*s\n", (int)m->via.str.size, m->via.str.ptr);
    snprintf(code, sizeof code, "%.*s", c ? (int)c->via.str.size : 2, c ? c->via.str.ptr : "ok");
    return code;
}

/* A call for the wrong hook that also lacks its prefetch: the integrator is told the hook is
 * wrong (what to fix first), not that prefetch is missing (a service that rejects calls
 * without their required prefetch). */
static void hook_mismatch_comes_before_prefetch_missing(void **state)
{
    fixture *f = *state;
    cds_proto_env env = {.engine = f->e, .max_request = 1u << 20};
    cds_arena a;
    cds_arena_init(&a);
    char req[1024];
    snprintf(req, sizeof req, ORDER_SIGN, "patient-view", "");
    msgpack_sbuffer in;
    envelope_to("strict", "call", req, &in);
    cds_proto_outcome o;
    msgpack_unpacked r = handle(&env, &a, &in, &o);
    assert_string_equal(error_code(&r), "hook_mismatch");
    assert_string_equal(o.path, "request.hook");
    msgpack_unpacked_destroy(&r);
    msgpack_sbuffer_destroy(&in);
    /* the right hook without the prefetch is prefetch_missing */
    snprintf(req, sizeof req, ORDER_SIGN, "order-sign", "");
    envelope_to("strict", "call", req, &in);
    r = handle(&env, &a, &in, &o);
    assert_string_equal(error_code(&r), "prefetch_missing");
    msgpack_unpacked_destroy(&r);
    msgpack_sbuffer_destroy(&in);
    cds_arena_free(&a);
    free_replies();
}

/* An order-sign call with a drafted medication, and `prefetch` (",\"prefetch\":{...}" or ""). */
static const char *WITH_DRAFT =
    "{\"hook\":\"order-sign\",\"hookInstance\":\"hi-2\",\"context\":{\"userId\":\"Practitioner/1\",\"patientId\":\"p1\","
    "\"draftOrders\":{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":{\"resourceType\":\"MedicationRequest\","
    "\"id\":\"d1\",\"status\":\"draft\",\"medicationCodeableConcept\":{\"text\":\"warfarin 5 mg\"}}}]}}%s}";

/* The first card of a reply: its indicator, summary, detail and rule (source.topic.code). */
static void first_card(const msgpack_unpacked *r, char ind[16], char summary[160], char detail[1024], char rule[64])
{
    const msgpack_object *cards = cds_mp_get(cds_mp_get(&r->data, "result"), "cards");
    assert_non_null(cards);
    assert_true(cards->via.array.size > 0);
    const msgpack_object *c = &cards->via.array.ptr[0];
    const msgpack_object *i = cds_mp_get(c, "indicator"), *s = cds_mp_get(c, "summary"), *d = cds_mp_get(c, "detail");
    const msgpack_object *t = cds_mp_get(cds_mp_get(cds_mp_get(c, "source"), "topic"), "code");
    snprintf(ind, 16, "%.*s", (int)i->via.str.size, i->via.str.ptr);
    snprintf(summary, 160, "%.*s", (int)s->via.str.size, s->via.str.ptr);
    snprintf(detail, 1024, "%.*s", d ? (int)d->via.str.size : 0, d ? d->via.str.ptr : "");
    snprintf(rule, 64, "%.*s", (int)t->via.str.size, t->via.str.ptr);
}

/* Issue 21, point 1: a required list that is absent (and cannot be fetched) or came back as an
 * OperationOutcome is a 200 answer whose first card says the screening did not run, with the
 * reason; `null` (the client has no data) is not; and an order with no medication is silent. */
static void missing_required_prefetch_is_a_warning_card_not_silence(void **state)
{
    fixture *f = *state;
    cds_proto_env env = {.engine = f->e, .max_request = 1u << 20};
    cds_arena a;
    cds_arena_init(&a);
    char req[2048], ind[16], summary[160], detail[1024], rule[64];
    msgpack_sbuffer in;
    cds_proto_outcome o;

    snprintf(req, sizeof req, WITH_DRAFT, "");
    envelope("call", req, &in);
    msgpack_unpacked r = handle(&env, &a, &in, &o);
    assert_string_equal(error_code(&r), "ok");
    first_card(&r, ind, summary, detail, rule);
    assert_string_equal(ind, "warning");
    assert_string_equal(rule, "prefetch.meds");
    assert_non_null(strstr(summary, "did not run"));
    assert_non_null(strstr(detail, "did not send"));
    assert_int_equal(o.info.nunavailable, 1);
    msgpack_unpacked_destroy(&r);
    msgpack_sbuffer_destroy(&in);

    snprintf(req, sizeof req, WITH_DRAFT, ",\"prefetch\":{\"meds\":{\"resourceType\":\"OperationOutcome\",\"issue\":"
                                          "[{\"severity\":\"error\",\"code\":\"timeout\",\"diagnostics\":\"upstream timed out\"}]}}");
    envelope("call", req, &in);
    r = handle(&env, &a, &in, &o);
    assert_string_equal(error_code(&r), "ok");
    first_card(&r, ind, summary, detail, rule);
    assert_string_equal(rule, "prefetch.meds");
    assert_non_null(strstr(detail, "Reason given: upstream timed out"));
    msgpack_unpacked_destroy(&r);
    msgpack_sbuffer_destroy(&in);

    snprintf(req, sizeof req, WITH_DRAFT, ",\"prefetch\":{\"meds\":null}");
    envelope("call", req, &in);
    r = handle(&env, &a, &in, &o);
    assert_string_equal(error_code(&r), "ok");
    first_card(&r, ind, summary, detail, rule);
    assert_string_equal(rule, "t.many");   /* the rules' cards only */
    assert_int_equal(o.info.nunavailable, 0);
    msgpack_unpacked_destroy(&r);
    msgpack_sbuffer_destroy(&in);

    snprintf(req, sizeof req, ORDER_SIGN, "order-sign", "");   /* no medication drafted */
    envelope("call", req, &in);
    r = handle(&env, &a, &in, &o);
    assert_string_equal(error_code(&r), "ok");
    assert_int_equal(o.info.nunavailable, 0);
    msgpack_unpacked_destroy(&r);
    msgpack_sbuffer_destroy(&in);
    cds_arena_free(&a);
    free_replies();
}

static int64_t query_int(const char *db, const char *sql, const char *arg)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* Feedback on the 150th card of a decision joins its card (was: "unknown card" past the 64th),
 * and the feedback, handed to a worker from a transport thread, is continued from its first
 * decoding even after that thread's arena and zone served another message. */
static void every_card_is_indexed_and_handed_over_feedback_is_stored(void **state)
{
    fixture *f = *state;
    msgpack_zone *zone = msgpack_zone_new(CDS_PROTO_ZONE_CHUNK);
    cds_proto_env env = {.engine = f->e, .max_request = 1u << 20, .audit = f->audit, .zone = &zone};
    cds_arena a;
    cds_arena_init(&a);
    char req[1024];
    snprintf(req, sizeof req, ORDER_SIGN, "order-sign", ",\"prefetch\":{\"meds\":null}");
    msgpack_sbuffer in;
    envelope("call", req, &in);
    cds_proto_outcome o;
    msgpack_unpacked r = handle(&env, &a, &in, &o);
    assert_string_equal(error_code(&r), "ok");
    const msgpack_object *cards = cds_mp_get(cds_mp_get(&r.data, "result"), "cards");
    assert_non_null(cards);
    assert_int_equal(cards->via.array.size, 150);
    const msgpack_object *u = cds_mp_get(&cards->via.array.ptr[149], "uuid");
    char uuid[64], decision[64];
    snprintf(uuid, sizeof uuid, "%.*s", (int)u->via.str.size, u->via.str.ptr);
    snprintf(decision, sizeof decision, "%s", o.decision);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM card WHERE decision = (SELECT seq FROM decision WHERE decision = ?)", decision), 150);
    msgpack_unpacked_destroy(&r);
    msgpack_sbuffer_destroy(&in);
    cds_arena_reset(&a);

    char fb[512];
    snprintf(fb, sizeof fb, "{\"feedback\":[{\"card\":\"%s\",\"outcome\":\"overridden\","
                            "\"outcomeTimestamp\":\"2026-12-04T10:00:00Z\"}]}", uuid);
    envelope("feedback", fb, &in);
    env.no_blocking = true;   /* as on an NNG thread: a feedback write waits, so it is handed over */
    r = handle(&env, &a, &in, &o);
    assert_true(o.needs_worker);
    assert_non_null(o.pending);
    cds_proto_pending *p = o.pending;
    msgpack_unpacked_destroy(&r);
    /* the transport thread's arena and zone serve another message meanwhile */
    msgpack_sbuffer other;
    envelope("health", "{}", &other);
    r = handle(&env, &a, &other, &o);
    assert_string_equal(error_code(&r), "ok");
    msgpack_unpacked_destroy(&r);
    msgpack_sbuffer_destroy(&other);
    cds_arena_reset(&a);
    /* a worker continues the feedback */
    env.no_blocking = false;
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    cds_proto_resume(&env, &a, p, in.data, in.size, &out, &o);
    cds_proto_pending_free(p);
    cds_error err;
    assert_int_equal(cds_mp_decode(out.data, out.size, &r, &err), CDS_OK);
    assert_string_equal(error_code(&r), "ok");
    assert_int_equal(query_int(f->db, "SELECT known_card FROM feedback WHERE card = ?", uuid), 1);
    msgpack_unpacked_destroy(&r);
    msgpack_sbuffer_destroy(&out);
    msgpack_sbuffer_destroy(&in);
    cds_arena_free(&a);
    msgpack_zone_free(zone);
    free_replies();
}


/* Issue 22 item 6: an HTTP decision's audit row names its caller, which the in-process gateway
 * puts in the envelope; from any other peer an envelope's "caller" is ignored (an NNG client
 * could otherwise write what it likes there). */
static void the_envelope_names_the_caller_only_from_the_gateway(void **state)
{
    fixture *f = *state;
    cds_proto_env env = {.engine = f->e, .max_request = 1u << 20, .audit = f->audit, .caller = "10.0.0.9:5000"};
    cds_arena a;
    cds_arena_init(&a);
    char req[1024], json[1400];
    snprintf(req, sizeof req, ORDER_SIGN, "order-sign", ",\"prefetch\":{\"meds\":null}");
    snprintf(json, sizeof json, "{\"op\":\"call\",\"service\":\"svc\",\"caller\":\"http 192.0.2.7:4711 iss=https://ehr.example "
             "sub=Practitioner/p-1\",\"request\":%s}", req);
    msgpack_sbuffer in;
    msgpack_sbuffer_init(&in);
    cds_error err;
    assert_int_equal(cds_json_to_mp(json, strlen(json), "test", &in, &err), CDS_OK);
    for (int gateway = 0; gateway < 2; gateway++) {
        env.envelope_caller = gateway;
        cds_proto_outcome o;
        msgpack_unpacked r = handle(&env, &a, &in, &o);
        assert_string_equal(error_code(&r), "ok");
        const char *want = gateway ? "SELECT count(*) FROM decision WHERE decision = ? AND caller = "
                                     "'http 192.0.2.7:4711 iss=https://ehr.example sub=Practitioner/p-1'"
                                   : "SELECT count(*) FROM decision WHERE decision = ? AND caller = '10.0.0.9:5000'";
        assert_int_equal(query_int(f->db, want, o.decision), 1);
        msgpack_unpacked_destroy(&r);
        cds_arena_reset(&a);
    }
    msgpack_sbuffer_destroy(&in);
    cds_arena_free(&a);
    free_replies();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hook_mismatch_comes_before_prefetch_missing),
        cmocka_unit_test(missing_required_prefetch_is_a_warning_card_not_silence),
        cmocka_unit_test(every_card_is_indexed_and_handed_over_feedback_is_stored),
        cmocka_unit_test(the_envelope_names_the_caller_only_from_the_gateway),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
