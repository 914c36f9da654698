/* audit_runs.h — the rules a decision ran, stored compactly (layout 2): the generation's rule
 * list (every rule of the loaded rule set, with its version) is stored once per generation, and
 * each decision keeps only, per rule run, its index in that list, the cards it made, its time in
 * tenths of a microsecond and its error if any (varints: ~4 bytes a rule instead of ~60 as JSON).
 * A run whose rule is not in the list (the engine's own pseudo-rules) keeps its name inline. */
#ifndef CDS_AUDIT_RUNS_H
#define CDS_AUDIT_RUNS_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "error.h"
#include "strbuf.h"

/* The generation's rule list as JSON: [["rule","version"],...] in the rule set's order. */
void cds_audit_gen_rules(cds_strbuf *out, const cds_rule_info *rules, size_t nrules);
/* Appends the encoded runs; indices refer to rules[0..nrules). */
void cds_audit_runs_encode(cds_strbuf *out, const cds_rule_run *runs, size_t nruns, const cds_rule_info *rules,
                           size_t nrules);

/* A generation's rule list read back (from its JSON). */
typedef struct cds_audit_gen {
    char **rule, **version;
    size_t n;
} cds_audit_gen;
bool cds_audit_gen_parse(const char *json, cds_audit_gen *out);
void cds_audit_gen_free(cds_audit_gen *g);

/* Generations read from an audit file, each parsed once on its first decision (a rule set has
 * few generations). */
typedef struct cds_audit_gen_cache {
    int64_t *id;
    cds_audit_gen *gen;
    size_t n;
} cds_audit_gen_cache;
/* Generation id of db (an unknown id: an empty list); NULL with the reason in err. */
const cds_audit_gen *cds_audit_gen_cache_get(cds_audit_gen_cache *c, sqlite3 *db, int64_t id, cds_error *err);
void cds_audit_gen_cache_free(cds_audit_gen_cache *c);

/* One run decoded; strings point into the blob or the generation (not NUL-terminated: lengths). */
typedef struct cds_audit_run {
    const char *rule, *version, *error;
    size_t rule_len, version_len, error_len;   /* error NULL: no error */
    long cards;
    double us;
} cds_audit_run;
typedef struct cds_audit_runs_iter {
    const unsigned char *p, *end;
    const cds_audit_gen *gen;
} cds_audit_runs_iter;
/* 1 a run, 0 the end, -1 a malformed blob or an index outside the generation. */
int cds_audit_runs_next(cds_audit_runs_iter *it, cds_audit_run *out);

#endif
