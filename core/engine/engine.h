/* engine.h — one worker's evaluator: its own sandboxed Lua state with the rule set compiled in,
 * created once at load and reused for every request (never per request). Not thread-safe:
 * one engine per worker thread. */
#ifndef CDS_ENGINE_H
#define CDS_ENGINE_H

#include <msgpack.h>
#include <time.h>

#include "arena.h"
#include "prefetch.h"
#include "request.h"
#include "ruleset.h"

typedef struct cds_engine cds_engine;

/* What an evaluation did, for logs and the audit record (lives in the request arena). */
typedef struct cds_rule_run {
    const char *rule, *version;
    int cards;                /* cards it produced (0 = did not fire) */
    const char *error;        /* NULL on success */
    double micros;
} cds_rule_run;

typedef struct cds_card_out {
    const char *uuid, *rule, *indicator, *summary;
    const char *key;          /* the rule's key for the card (its `key`, else "#n"): rule + key is "the same alert" */
    const char *suppressed;   /* why it was demoted or dropped (repeat suppression), or NULL; a dropped
                                 card is listed after those shown, with indicator "suppressed" */
    const void *explain;      /* what produced it, MessagePack (a map), or NULL */
    size_t explain_len;
} cds_card_out;

typedef struct cds_eval_info {
    cds_rule_run *runs;
    size_t nruns;
    cds_card_out *cards;
    size_t ncards;
    size_t nerrors;
    size_t nunavailable;      /* required prefetch keys answered with a "did not run" card */
    const char *patient_id, *hook, *hook_instance;
} cds_eval_info;

/* Repeat suppression for one call (README "Repeat suppression"), given by the service, which
 * knows the patient (its pseudonymous key) and the suppression store: for a card of a rule that
 * declares suppression, why it repeats an alert (e.g. "overridden 2026-11-30 (card UUID), within
 * 90d"; in the arena) or NULL to show it as the rule made it. The engine then demotes or drops it. */
typedef struct cds_suppress_hook {
    const char *(*repeat)(void *arg, const cds_rule_info *rule, const char *key, const char *card_uuid, cds_arena *a);
    void *arg;
} cds_suppress_hook;

/* One call, read once: the service it names, its request validated, and the prefetch keys it
 * left out. Built by cds_call_prepare before anything is fetched or evaluated; the engine, the
 * protocol (prefetch, audit) and, for a call bounced to a worker, the worker all use it.
 * Borrows from the request's msgpack zone and the arena. */
typedef struct cds_call {
    const cds_ruleset *rs;
    const cds_service *service;
    const msgpack_object *request;   /* the request map (the completed one after a fetch) */
    const char *base_path;           /* "request" in error paths */
    cds_request req;
    cds_prefetch_gap gaps[CDS_PREFETCH_MAX_KEYS];
    size_t ngaps;
    const cds_suppress_hook *suppress;   /* NULL: no repeat suppression (tools, benchmarks) */
} cds_call;

/* Checks, in the order an integrator should fix them: the service exists (unknown_service),
 * the request is well formed (bad_request with a path), the hook is the service's
 * (hook_mismatch); then lists the absent prefetch keys. Request fields are in c->req as soon
 * as the request parsed, even when the hook does not match (for the audit row). */
cds_rc cds_call_prepare(const cds_ruleset *rs, const char *service, const msgpack_object *request,
                        const char *base_path, cds_arena *a, cds_call *c, cds_error *err);

/* The request to evaluate is now `completed` (absent prefetch fetched into it). */
void cds_call_complete(cds_call *c, const msgpack_object *completed);

cds_engine *cds_engine_new(const cds_ruleset *rs, cds_strbuf *diag);
void cds_engine_free(cds_engine *e);
const cds_ruleset *cds_engine_ruleset(const cds_engine *e);

/* Evaluates a prepared call (c->rs must be this engine's rule set) at time `now` and packs the
 * CDS Hooks response ({"cards": [...]}, plus "extension" with rule errors) into pk. Absent
 * prefetch is not checked here: the rules see what the request holds. Out of memory anywhere
 * is CDS_EINTERNAL ("no decision was made"), never a shorter list. */
cds_rc cds_engine_run(cds_engine *e, const cds_call *c, time_t now, cds_arena *a, msgpack_packer *pk,
                      cds_eval_info *info, cds_error *err);

/* cds_call_prepare then cds_engine_run, for tools that evaluate a stored or given request
 * (eval, test, replay). Request errors (bad_request with a path, unknown_service,
 * hook_mismatch) return non-zero and pack nothing. */
cds_rc cds_engine_call(cds_engine *e, const char *service, const msgpack_object *request, const char *base_path,
                       time_t now, cds_arena *a, msgpack_packer *pk, cds_eval_info *info, cds_error *err);

#endif
