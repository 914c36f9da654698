/* engine.h — one worker's evaluator: its own sandboxed Lua state with the rule set compiled in,
 * created once at load and reused for every request (never per request). Not thread-safe:
 * one engine per worker thread. */
#ifndef CDS_ENGINE_H
#define CDS_ENGINE_H

#include <msgpack.h>
#include <time.h>

#include "arena.h"
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
} cds_card_out;

typedef struct cds_eval_info {
    cds_rule_run *runs;
    size_t nruns;
    cds_card_out *cards;
    size_t ncards;
    size_t nerrors;
    const char *patient_id, *hook, *hook_instance;
} cds_eval_info;

cds_engine *cds_engine_new(const cds_ruleset *rs, cds_strbuf *diag);
void cds_engine_free(cds_engine *e);
const cds_ruleset *cds_engine_ruleset(const cds_engine *e);

/* Evaluates a CDS Hooks request for `service` at time `now` and packs the CDS Hooks response
 * ({"cards": [...]}, plus "extension" with rule errors) into pk. Request errors (bad_request
 * with a path, unknown_service, hook_mismatch) return non-zero and pack nothing. */
cds_rc cds_engine_call(cds_engine *e, const char *service, const msgpack_object *request, const char *base_path,
                       time_t now, cds_arena *a, msgpack_packer *pk, cds_eval_info *info, cds_error *err);

#endif
