/* cli_kb.c — `cdsd kb build [--rules DIR] [--out FILE]` */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kb.h"

int cli_kb(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "build") != 0) {
        fprintf(stderr, "usage: cdsd kb build [--rules DIR] [--out FILE]\n");
        return 2;
    }
    argc--;
    argv++;
    const char *rules = CLI_DEFAULT_RULES, *out = "var/kb.sqlite";
    static const struct option opts[] = {{"rules", required_argument, 0, 'r'}, {"out", required_argument, 0, 'o'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "r:o:", opts, NULL)) != -1) {
        if (c == 'r') rules = optarg;
        else if (c == 'o') out = optarg;
        else return 2;
    }
    cds_ruleset *rs = cli_load_rules(rules, out, true);
    if (!rs) return 1;
    printf("%s: %zu ingredients, %zu interactions, digest %s\n", out, cds_kb_ningredients(rs->kb),
           cds_kb_ninteractions(rs->kb), cds_kb_digest(rs->kb));
    cds_ruleset_free(rs);
    return 0;
}
