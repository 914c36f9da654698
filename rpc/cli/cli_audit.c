/* cli_audit.c — `cdsd audit verify [--state DIR [--archive-dir DIR] | --db FILE [--key FILE]]`:
 * check the audit chain; with --state every file of the history (audit_history.h) as one chain,
 * each starting where the one before ended.
 * `cdsd audit archive --before DATE [--state DIR] [--out FILE] [--batch N] [--pause MS]`: move the
 * entries older than DATE into a compressed archive (audit_archive.h), while the service runs. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "audit_archive.h"
#include "audit_history.h"
#include "cli.h"
#include "view.h"

/* Checks the files in order; 0 intact, 1 broken, 2 error. anchor_at: the file checked against
 * the anchor (the live log), or n for none. */
static int verify_history(char *const *files, size_t n, size_t anchor_at, const char *key)
{
    cds_audit_span prev = {0};
    int status = 0;
    for (size_t i = 0; i < n && status == 0; i++) {
        cds_audit_span span;
        char anchor[1200];
        snprintf(anchor, sizeof anchor, "%s.anchor", files[i]);
        status = cds_audit_verify_file(files[i], key, i == anchor_at ? anchor : NULL, &span, stdout);
        if (status == 0 && i > 0) status = cds_audit_span_follows(&prev, &span, files[i - 1], files[i], stdout);
        if (status == 0) prev = span;
    }
    return status;
}

static int verify(int argc, char **argv)
{
    const char *state = "var", *db = NULL, *key = NULL, *archive_dir = NULL;
    static const struct option opts[] = {{"state", required_argument, 0, 's'}, {"db", required_argument, 0, 'd'},
                                         {"key", required_argument, 0, 'k'}, {"archive-dir", required_argument, 0, 'a'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "s:d:k:", opts, NULL)) != -1) {
        if (c == 's') state = optarg;
        else if (c == 'd') db = optarg;
        else if (c == 'k') key = optarg;
        else if (c == 'a') archive_dir = optarg;
        else return 2;
    }
    if (db) {   /* one file: an archive or a copy (no anchor: its newest entries are not checked) */
        char *files[] = {(char *)db};
        return verify_history(files, 1, 1, key);
    }
    cds_audit_history h;
    if (!cds_audit_history_list(state, archive_dir, &h)) return 2;
    char keyp[1200];
    snprintf(keyp, sizeof keyp, "%s/audit.db.key", state);
    int status = verify_history(h.files, h.n, h.live, key ? key : keyp);
    cds_audit_history_free(&h);
    return status;
}

static int archive(int argc, char **argv)
{
    const char *state = "var", *before = NULL, *out = NULL;
    cds_archive_opts o = {0};
    static const struct option opts[] = {{"state", 1, 0, 's'}, {"before", 1, 0, 'b'}, {"out", 1, 0, 'o'},
                                         {"batch", 1, 0, 'n'}, {"pause", 1, 0, 'p'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 's') state = optarg;
        else if (c == 'b') before = optarg;
        else if (c == 'o') out = optarg;
        else if (c == 'n') o.batch = atoi(optarg);
        else if (c == 'p') o.pause_ms = atoi(optarg);
        else return 2;
    }
    time_t t;
    if (!before || !cds_parse_time(before, &t)) {
        fprintf(stderr, "usage: cdsd audit archive --before DATE [--state DIR] [--out FILE] [--batch N] [--pause MS]\n"
                        "  DATE is YYYY-MM-DD or RFC3339\n");
        return 2;
    }
    char path[1100], dir[1100], file[1300];
    snprintf(path, sizeof path, "%s/audit.db", state);
    if (!out) {
        struct tm tm;
        char day[16];
        gmtime_r(&t, &tm);
        strftime(day, sizeof day, "%Y-%m-%d", &tm);
        snprintf(dir, sizeof dir, "%s/%s", state, CDS_AUDIT_ARCHIVE_DIR);
        mkdir(dir, 0700);
        snprintf(file, sizeof file, "%s/audit-until-%s.db.gz", dir, day);
        out = file;
    }
    cds_archive_result r;
    cds_error err;
    if (cds_audit_archive(path, (int64_t)t * 1000, out, &o, &r, stderr, &err) != CDS_OK) {
        fprintf(stderr, "cdsd audit archive: %s\n", err.message);
        return 1;
    }
    if (r.last_seq >= r.first_seq)
        printf("archived entries %lld-%lld (%ld decisions, %ld feedback entries) to %s, %lld bytes\n",
               (long long)r.first_seq, (long long)r.last_seq, r.decisions, r.feedback, out, r.bytes);
    else printf("nothing to archive before %s\n", before);
    return 0;
}

int cli_audit(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "verify")) return verify(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "archive")) return archive(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "export")) return cli_audit_export(argc - 1, argv + 1);
    fprintf(stderr, "usage: cdsd audit verify [--state DIR [--archive-dir DIR] | --db FILE [--key FILE]]\n"
                    "       cdsd audit archive --before DATE [--state DIR] [--out FILE] [--batch N] [--pause MS]\n"
                    "       cdsd audit export [--state DIR | --audit FILE] [--since CURSOR] [--format jsonl|fhir-auditevent]\n");
    return 2;
}
