/* cli_explain.c — `cdsd explain DECISION_ID [--state DIR [--archive-dir DIR] | --audit FILE]`: why each card of
 * a stored decision appeared (the resources and codes that matched, the knowledge rows, the
 * computed values), from the live log or the archives (README "Why this card"). */
#include <getopt.h>
#include <stdio.h>

#include "audit_explain.h"
#include "audit_history.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: cdsd explain DECISION_ID [--state DIR [--archive-dir DIR] | --audit FILE]\n"
               "Prints each card of a stored decision with what produced it: the resources and codes that\n"
               "matched, the knowledge rows, the computed values (and the request, when the server kept it\n"
               "with --audit-requests). Looks in the live log and the archives of DIR (default ./var).\n");
}

int cli_explain(int argc, char **argv)
{
    const char *state = "var", *archive_dir = NULL, *audit = NULL;
    static const struct option opts[] = {{"state", 1, 0, 's'}, {"archive-dir", 1, 0, 'a'}, {"audit", 1, 0, 'f'},
                                         {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 's') state = optarg;
        else if (c == 'a') archive_dir = optarg;
        else if (c == 'f') audit = optarg;
        else if (c == 'h') { usage(stdout); return 0; }
        else { usage(stderr); return 2; }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    const char *id = argv[optind];
    cds_audit_history h = {0};
    char *one[1] = {(char *)audit};
    if (audit) h = (cds_audit_history){one, 1, 0};
    else if (!cds_audit_history_list(state, archive_dir, &h)) {
        fprintf(stderr, "cdsd explain: out of memory\n");
        return 2;
    }
    int found = 0, status = 1;
    /* newest first: a decision asked about is most often recent */
    for (size_t f = h.n; f-- > 0 && !found;) {
        cds_error err;
        cds_error_clear(&err);
        found = cds_audit_explain(h.files[f], id, stdout, &err);
        if (found < 0) {
            fprintf(stderr, "cdsd explain: %s\n", err.message);
            found = 0;
            status = 2;
        }
    }
    if (found) status = 0;
    else fprintf(stderr, "cdsd explain: decision %s is not in the audit history%s%s\n", id, audit ? " of " : " under ",
                 audit ? audit : state);
    if (!audit) cds_audit_history_free(&h);
    return status;
}
