/* cli_audit.c — `cdsd audit verify [--state DIR | --db FILE [--key FILE]]`: check the audit chain.
 * With --state, every file of the history is checked as one chain, oldest first: a log kept from
 * the first layout (audit-v1.db), then the live log (audit.db, with its anchor): each file must
 * start where the one before ended. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "cli.h"

/* Checks the files in order; 0 intact, 1 broken, 2 error. */
static int verify_history(const char *const *files, const char *const *anchors, size_t n, const char *key)
{
    cds_audit_span prev = {0};
    bool have_prev = false;
    int status = 0;
    for (size_t i = 0; i < n && status == 0; i++) {
        cds_audit_span span;
        status = cds_audit_verify_file(files[i], key, anchors[i], &span, stdout);
        if (status == 0 && have_prev &&
            (span.start_seq != prev.end_seq + 1 || memcmp(span.start_prev, prev.end_mac, sizeof prev.end_mac))) {
            printf("chain broken between %s and %s: entries %lld-%lld are missing, or one of them was replaced\n",
                   files[i - 1], files[i], (long long)prev.end_seq + 1, (long long)span.start_seq - 1);
            status = 1;
        }
        prev = span;
        have_prev = true;
    }
    return status;
}

int cli_audit(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "verify") != 0) {
        fprintf(stderr, "usage: cdsd audit verify [--state DIR | --db FILE [--key FILE]]\n");
        return 2;
    }
    argc--;
    argv++;
    const char *state = "var", *db = NULL, *key = NULL;
    static const struct option opts[] = {{"state", required_argument, 0, 's'}, {"db", required_argument, 0, 'd'},
                                         {"key", required_argument, 0, 'k'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "s:d:k:", opts, NULL)) != -1) {
        if (c == 's') state = optarg;
        else if (c == 'd') db = optarg;
        else if (c == 'k') key = optarg;
        else return 2;
    }
    if (db) {   /* one file: an archive or a copy (no anchor: its newest entries are not checked) */
        const char *files[] = {db}, *anchors[] = {NULL};
        return verify_history(files, anchors, 1, key);
    }
    char v1[1100], live[1100], anchor[1200], keyp[1200];
    snprintf(v1, sizeof v1, "%s/audit-v1.db", state);
    snprintf(live, sizeof live, "%s/audit.db", state);
    snprintf(anchor, sizeof anchor, "%s.anchor", live);
    snprintf(keyp, sizeof keyp, "%s.key", live);
    const char *files[2], *anchors[2];
    size_t n = 0;
    if (access(v1, F_OK) == 0) files[n] = v1, anchors[n++] = NULL;
    files[n] = live, anchors[n++] = anchor;
    return verify_history(files, anchors, n, key ? key : keyp);
}
