/* cli_test.c — `cdsd test [--rules DIR] [--quiet] [--require-coverage] [--require-explain] [FIXTURE_DIR...]` */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "fixture.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: cdsd test [--rules DIR] [--quiet] [--require-coverage] [--require-explain] [FIXTURE_PATH...]\n"
               "Runs regression fixtures (default: ./fixtures) and reports per-rule coverage.\n"
               "  --quiet              print only failing fixtures and the totals\n"
               "  --require-coverage   fail when a rule lacks a firing or a non-firing fixture\n"
               "  --require-explain    fail a fixture with a card whose explanation names no matched resource\n"
               "                       and no knowledge row or computed value (README \"Why this card\")\n"
               "  --update             write the cards the named (reviewed) fixtures produce into their \"expect\"\n"
               "                       lists; nothing else in the files changes, and each change is shown\n");
}

int cli_test(int argc, char **argv)
{
    const char *rules = CLI_DEFAULT_RULES;
    bool quiet = false, require = false, update = false, explain = false;
    static const struct option opts[] = {{"rules", required_argument, 0, 'r'}, {"quiet", no_argument, 0, 'q'},
                                         {"require-coverage", no_argument, 0, 'c'}, {"help", no_argument, 0, 'h'},
                                         {"update", no_argument, 0, 'u'}, {"require-explain", no_argument, 0, 'x'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "r:qch", opts, NULL)) != -1) {
        if (c == 'r') rules = optarg;
        else if (c == 'q') quiet = true;
        else if (c == 'c') require = true;
        else if (c == 'u') update = true;
        else if (c == 'x') explain = true;
        else if (c == 'h') { usage(stdout); return 0; }
        else { usage(stderr); return 2; }
    }
    const char *def[] = {"fixtures"};
    const char *const *paths = optind < argc ? (const char *const *)argv + optind : def;
    size_t npaths = optind < argc ? (size_t)(argc - optind) : 1;
    cds_ruleset *rs;
    cds_engine *e = cli_load_engine(rules, &rs);
    if (!e) return 2;
    if (update && optind >= argc) {
        fprintf(stderr, "cdsd test --update: name the fixtures you reviewed (it rewrites their expected cards)\n");
        cli_unload_engine(e, rs);
        return 2;
    }
    cds_fixture_opts fo = {quiet, stdout, update, explain};
    cds_fixture_result res;
    cds_fixtures_run(e, paths, npaths, &fo, &res);
    int gaps = cds_fixture_coverage(rs, &res, stdout);
    int status = res.failed || (res.passed + res.failed == 0) || (require && gaps) ? 1 : 0;
    if (res.passed + res.failed == 0) fprintf(stderr, "cdsd test: no fixtures found\n");
    cds_fixture_result_free(&res);
    cli_unload_engine(e, rs);
    return status;
}
