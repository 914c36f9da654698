/* ruleset.h — a rule set on disk (--rules DIR): manifest.lua declaring the CDS services, and
 * pack directories (pack.lua, rule files NAME.lua, knowledge tables knowledge/NAME.tsv). Loaded once per generation:
 * sources read, metadata validated, rules compiled once to check them, knowledge base built.
 * Immutable once loaded; workers compile their own Lua state from it (cds_engine). */
#ifndef CDS_RULESET_H
#define CDS_RULESET_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

#include "kb.h"
#include "rule_decl.h"
#include "sandbox.h"
#include "strbuf.h"

typedef struct cds_service {
    char *id, *hook, *title, *description, *usage;
    char **prefetch_keys, **prefetch_templates;
    bool *prefetch_required;  /* per key: listed in required_prefetch */
    size_t nprefetch;
    /* A required key that cannot be had: false (the default, missing_prefetch = "card") answers
     * with a "screening did not run" warning card per key; true ("reject") fails the call with
     * prefetch_missing (HTTP 412), for clients known to show a failed call to the clinician. */
    bool reject_missing_prefetch;
    size_t *rules;            /* indices into cds_ruleset.rules */
    size_t nrules;
} cds_service;

typedef struct cds_pack_info { char *name, *version, *owner, *dir; } cds_pack_info;

typedef struct cds_ruleset {
    char *dir, *name, *version, *source_label;
    char digest[65];
    cds_pack_info *packs;
    size_t npacks;
    cds_source_file *files;   /* rule files in load order */
    size_t nfiles;
    cds_source_file *tables;  /* the packs' tables/NAME.tsv, for knowledge_table() (rule_tables.h) */
    size_t ntables;
    cds_rule_info *rules;
    size_t nrules;
    cds_service *services;
    size_t nservices;
    cds_kb *kb;
    cds_sb_limits limits;
} cds_ruleset;

typedef struct cds_ruleset_opts {
    const char *kb_path;      /* SQLite file for the knowledge base; NULL = in memory */
    cds_sb_limits limits;
    bool progress;
} cds_ruleset_opts;

/* Loads and checks everything. Problems go to `diag` as "file:line: message" lines. */
cds_rc cds_ruleset_load(const char *dir, const cds_ruleset_opts *opts, cds_ruleset **out, cds_strbuf *diag);
void cds_ruleset_free(cds_ruleset *rs);
const cds_service *cds_ruleset_service(const cds_ruleset *rs, const char *id);

/* Packs the CDS Hooks discovery object {"services": [...]}. */
void cds_ruleset_pack_discovery(const cds_ruleset *rs, msgpack_packer *pk);

#endif
