/* audit_gen_calls.h — real calls for cdsd-audit-gen --calls: CDS Hooks requests (JSON files)
 * evaluated by the engine, so that the history's cards are the rule set's own (per-rule steady
 * rates for the firing-rate alarms, issue 18). */
#ifndef CDS_AUDIT_GEN_CALLS_H
#define CDS_AUDIT_GEN_CALLS_H

#include <msgpack.h>
#include <time.h>

#include "arena.h"
#include "engine.h"

typedef struct gen_call {
    char service[128];
    msgpack_sbuffer mp;           /* the request's MessagePack, which `request` points into */
    msgpack_unpacked request;
} gen_call;

typedef struct gen_calls {
    gen_call *call;
    size_t n;
    cds_engine *engine;
} gen_calls;

/* Reads `list`: one call a line, "SERVICE REQUEST.json" (relative to the list's directory; '#'
 * starts a comment). false with the reason on stderr. */
bool gen_calls_load(gen_calls *g, const char *list, const cds_ruleset *rs);
/* Evaluates call i at `now` into info (in arena). */
cds_rc gen_calls_eval(gen_calls *g, size_t i, time_t now, cds_arena *a, cds_eval_info *info);
void gen_calls_free(gen_calls *g);

#endif
