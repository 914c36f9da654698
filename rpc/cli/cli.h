/* cli.h — the cdsd command's subcommands (one file each) and what they share. */
#ifndef CDS_CLI_H
#define CDS_CLI_H

#include <stdbool.h>

#include "ruleset.h"

int cli_eval(int argc, char **argv);
int cli_test(int argc, char **argv);
int cli_lint(int argc, char **argv);
int cli_kb(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_call(int argc, char **argv);
int cli_reload(int argc, char **argv);
int cli_audit(int argc, char **argv);
int cli_audit_export(int argc, char **argv);   /* cdsd audit export */
int cli_report(int argc, char **argv);
int cli_replay(int argc, char **argv);
int cli_new_rule(int argc, char **argv);
int cli_config(int argc, char **argv);
int cli_burden(int argc, char **argv);
int cli_explain(int argc, char **argv);

/* Loads a rule set, printing every load problem to stderr. NULL on failure. */
cds_ruleset *cli_load_rules(const char *dir, const char *kb_path, bool progress);
/* The rule set in dir compiled for one evaluator: the engine, its rule set in *rs (free both with
 * cli_unload_engine); NULL after printing why. */
struct cds_engine *cli_load_engine(const char *dir, cds_ruleset **rs);
void cli_unload_engine(struct cds_engine *e, cds_ruleset *rs);

/* Default rules directory: ./rules. */
#define CLI_DEFAULT_RULES "rules"

/* Where the Debian package puts the binary and its config file (read by default only there). */
#define CLI_INSTALLED_BINARY "/usr/bin/cdsd"
#define CLI_INSTALLED_CONFIG "/etc/cdsd/cdsd.conf"

#endif
