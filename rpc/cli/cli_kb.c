/* cli_kb.c — `cdsd kb build [--rules DIR] [--out FILE]` */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kb.h"
#include "rxnorm_import.h"

static int import_rxnorm(int argc, char **argv)
{
    const char *out = "rules/vocabulary";
    static const struct option opts[] = {{"out-dir", required_argument, 0, 'o'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        if (c == 'o') out = optarg;
        else return 2;
    }
    if (argc - optind != 2) {
        fprintf(stderr, "usage: cdsd kb import-rxnorm [--out-dir PACK_DIR] RXNCONSO.RRF RXNREL.RRF\n");
        return 2;
    }
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_rxnorm_counts n;
    cds_rc rc = cds_rxnorm_import(argv[optind], argv[optind + 1], out, true, &diag, &n);
    if (diag.data) fputs(diag.data, stderr);
    cds_strbuf_free(&diag);
    if (rc) {
        fprintf(stderr, "cdsd kb import-rxnorm: nothing written\n");
        return 1;
    }
    printf("%s/knowledge: %zu ingredients, %zu precise ingredients, %zu brand names, %zu products (%zu concepts "
           "without ingredients skipped)\n", out, n.ingredients, n.precise, n.brands, n.products, n.unmapped);
    return 0;
}

int cli_kb(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "import-rxnorm") == 0) return import_rxnorm(argc - 1, argv + 1);
    if (argc < 2 || strcmp(argv[1], "build") != 0) {
        fprintf(stderr, "usage: cdsd kb build [--rules DIR] [--out FILE]\n"
                        "       cdsd kb import-rxnorm [--out-dir PACK_DIR] RXNCONSO.RRF RXNREL.RRF\n");
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
