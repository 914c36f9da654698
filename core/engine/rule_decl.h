/* rule_decl.h — running rule files' declarations (`rule { ... }`) in a rule state: the one place
 * that knows how a rule is declared. The loader (ruleset.c) reads the rules' metadata with it
 * once; each worker's engine (engine.c) compiles its own state with it. */
#ifndef CDS_RULE_DECL_H
#define CDS_RULE_DECL_H

#include <stdbool.h>
#include <stddef.h>

#include "sandbox.h"
#include "strbuf.h"

typedef struct cds_kb cds_kb;

/* Repeat suppression a rule declares (README "Repeat suppression"):
 *   suppress = { after_override = "90d", scope = "patient", action = "demote" | "drop",
 *                critical = "also" }   -- critical cards only with critical = "also"
 *   once_per = "encounter"
 * All zero: the rule's cards are never suppressed. */
typedef struct cds_rule_suppress {
    long after_override_s;    /* seconds; 0: overrides do not suppress */
    bool once_per_encounter;  /* shown once per encounter, repeats demoted or dropped */
    bool drop;                /* else demote (to info, non-interruptive) */
    bool critical;            /* critical cards too (declared explicitly; never by default) */
} cds_rule_suppress;

typedef struct cds_rule_info {
    char *id, *version, *title, *owner, *file;
    char **hooks;
    size_t nhooks;
    char **references;
    size_t nreferences;
    cds_rule_suppress suppress;
    /* service_notes = { [hook] = text }: a sentence the rule adds to the description of every
     * service that runs it at that hook (the interaction rule's site policy, made from its table) */
    char **note_hooks, **notes;
    size_t nnotes;
} cds_rule_info;

typedef struct cds_source_file {
    char *path;               /* as shown in messages: DIR/pack/file.lua */
    char *src;
    size_t len;
} cds_source_file;

/* A sandboxed state with the prelude run and `rule` defined, locked. NULL with a message. */
cds_sandbox *cds_rule_state_new(const cds_sb_limits *limits, cds_strbuf *diag);
/* Lets order_set { } check its drug references against kb while files run in sb (the loader
 * does; a worker's state has none and skips that check). kb must outlive the runs. */
void cds_rule_state_set_kb(cds_sandbox *sb, const cds_kb *kb);

/* Runs the files in order and collects their declarations: infos (malloc'd, one per rule) and,
 * with refs != NULL, each rule's evaluate function as a registry reference in sb. false with
 * "file:line: message" lines in diag when any declaration is wrong. */
bool cds_rule_decls_run(cds_sandbox *sb, const cds_source_file *files, size_t nfiles, cds_rule_info **infos, int **refs,
                        size_t *ninfos, cds_strbuf *diag);

void cds_rule_info_free(cds_rule_info *r);
void cds_rule_infos_free(cds_rule_info *list, size_t n);

#endif
