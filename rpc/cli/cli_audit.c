/* cli_audit.c — `cdsd audit verify [--state DIR | --db FILE]`: check the audit hash chain. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "cli.h"

int cli_audit(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "verify") != 0) {
        fprintf(stderr, "usage: cdsd audit verify [--state DIR | --db FILE]\n");
        return 2;
    }
    argc--;
    argv++;
    const char *state = "var", *db = NULL;
    static const struct option opts[] = {{"state", required_argument, 0, 's'}, {"db", required_argument, 0, 'd'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "s:d:", opts, NULL)) != -1) {
        if (c == 's') state = optarg;
        else if (c == 'd') db = optarg;
        else return 2;
    }
    char path[1100];
    if (!db) {
        snprintf(path, sizeof path, "%s/audit.db", state);
        db = path;
    }
    return cds_audit_verify(db, stdout);
}
