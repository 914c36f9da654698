/* cli_lint.c — `cdsd lint [--rules DIR]`: load and validate without running anything. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "kb.h"

int cli_lint(int argc, char **argv)
{
    const char *rules = CLI_DEFAULT_RULES;
    static const struct option opts[] = {{"rules", required_argument, 0, 'r'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "r:h", opts, NULL)) != -1) {
        if (c == 'r') rules = optarg;
        else {
            fprintf(c == 'h' ? stdout : stderr, "usage: cdsd lint [--rules DIR]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    cds_ruleset *rs = cli_load_rules(rules, NULL, false);
    if (!rs) return 1;
    printf("%s %s: %zu packs, %zu rules, %zu services, %zu ingredients, %zu interactions\n", rs->name, rs->version,
           rs->npacks, rs->nrules, rs->nservices, cds_kb_ningredients(rs->kb), cds_kb_ninteractions(rs->kb));
    printf("digest %s\nknowledge %s\n", rs->digest, cds_kb_digest(rs->kb));
    for (size_t i = 0; i < rs->nservices; i++)
        printf("service %-28s %-14s %zu rules\n", rs->services[i].id, rs->services[i].hook, rs->services[i].nrules);
    cds_ruleset_free(rs);
    return 0;
}
