/* main.c — the cdsd command: dispatch to subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* usage: for commands whose own option parsing has no --help, the text `cdsd COMMAND --help`
 * prints here (keep it in step with the command's own usage message); NULL when the command
 * answers --help itself. */
static const struct { const char *name; int (*fn)(int, char **); const char *help, *usage; } commands[] = {
    {"serve", cli_serve, "run the service on an NNG REP socket", NULL},
    {"call", cli_call, "send one request to a running service and print the reply", NULL},
    {"reload", cli_reload, "ask a running service to reload its rules (admin socket)",
     "usage: cdsd reload [--state DIR]\n"
     "Asks the service whose state directory is DIR (default ./var) to reload its rule set; the new\n"
     "rules replace the live ones only if they load and pass the fixtures.\n"},
    {"eval", cli_eval, "evaluate one CDS Hooks request file and print the response", NULL},
    {"test", cli_test, "run regression fixtures against the rule set", NULL},
    {"new-rule", cli_new_rule, "start a rule from a template, with two fixtures", NULL},
    {"lint", cli_lint, "load and check a rule set without running it", NULL},
    {"kb", cli_kb, "build the knowledge base (kb build, kb import-rxnorm)",
     "usage: cdsd kb build [--rules DIR] [--out FILE]\n"
     "       cdsd kb import-rxnorm [--out-dir PACK_DIR] RXNCONSO.RRF RXNREL.RRF\n"
     "build: imports the rule set's knowledge tables into SQLite (default var/kb.sqlite), every problem\n"
     "as file:line. import-rxnorm: rewrites a pack's ingredients.tsv and products.tsv from NLM's files.\n"},
    {"report", cli_report, "alert-fatigue report from the audit log (text or html)", NULL},
    {"burden", cli_burden, "alert burden of a rule set over a patient population (per 100 orders)", NULL},
    {"explain", cli_explain, "why each card of a stored decision appeared (matched data, knowledge rows, values)", NULL},
    {"replay", cli_replay, "re-evaluate audited requests against another rule set",
     "usage: cdsd replay --pack RULES_DIR [--state DIR] [--since DATE]\n"
     "Re-evaluates the requests stored with --audit-requests against RULES_DIR and lists the cards\n"
     "that would appear, disappear or change indicator.\n"},
    {"config", cli_config, "validate a config file (config check FILE)", NULL},
    {"audit", cli_audit, "check the audit log's hash chain (audit verify), archive it, export it",
     "usage: cdsd audit verify [--state DIR | --db FILE]\n"
     "       cdsd audit export [--state DIR | --audit FILE] [--since CURSOR] [--format jsonl|fhir-auditevent]\n"
     "verify checks the audit log's hash chain and names the first row that was edited, deleted or\n"
     "reordered; export writes the decisions as JSON lines (chain checked on the way).\n"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: cdsd COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'cdsd COMMAND --help' describes each command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) != 0) continue;
        for (int a = 2; commands[i].usage && a < argc && strcmp(argv[a], "--") != 0; a++)
            if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
                fputs(commands[i].usage, stdout);
                return 0;
            }
        return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "cdsd: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
