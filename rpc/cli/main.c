/* main.c — the cdsd command: dispatch to subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct { const char *name; int (*fn)(int, char **); const char *help; } commands[] = {
    {"serve", cli_serve, "run the service on an NNG REP socket"},
    {"call", cli_call, "send one request to a running service and print the reply"},
    {"reload", cli_reload, "ask a running service to reload its rules (admin socket)"},
    {"eval", cli_eval, "evaluate one CDS Hooks request file and print the response"},
    {"test", cli_test, "run regression fixtures against the rule set"},
    {"new-rule", cli_new_rule, "start a rule from a template, with two fixtures"},
    {"lint", cli_lint, "load and check a rule set without running it"},
    {"kb", cli_kb, "build the knowledge base (kb build, kb import-rxnorm)"},
    {"report", cli_report, "alert-fatigue report from the audit log (text or html)"},
    {"replay", cli_replay, "re-evaluate audited requests against another rule set"},
    {"audit", cli_audit, "check the audit log's hash chain (audit verify)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: cdsd COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-7s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'cdsd COMMAND --help' describes each command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "cdsd: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
