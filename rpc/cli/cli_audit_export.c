/* cli_audit_export.c — `cdsd audit export [--state DIR [--archive-dir DIR] | --audit FILE [--key FILE]]
 * [--since CURSOR] [--format jsonl|fhir-auditevent]`: the decisions of the audit history (archives,
 * then the live log) as JSON lines on stdout, each with its cursor; --since resumes after one.
 * Each file's chain is verified first and only its intact entries are written: at a broken
 * entry the export stops, having written those before it, and exits 1. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "audit_export.h"
#include "audit_history.h"
#include "cli.h"

#define USAGE "usage: cdsd audit export [--state DIR [--archive-dir DIR] | --audit FILE [--key FILE]] [--since CURSOR]\n" \
              "                         [--format jsonl|fhir-auditevent]\n"

/* Verifies files[i] (and that it continues the file before) into *span; the verifier's words
 * are kept in msg, shown only when the export stops. */
static int verify_one(char *const *files, size_t i, size_t live, const char *key, const cds_audit_span *prev,
                      cds_audit_span *span, FILE *msg)
{
    char anchor[1200];
    snprintf(anchor, sizeof anchor, "%s.anchor", files[i]);
    int status = cds_audit_verify_file(files[i], key, i == live ? anchor : NULL, span, msg);
    if (status == 0 && i > 0 && cds_audit_span_follows(prev, span, files[i - 1], files[i], msg)) {
        span->end_seq = prev->end_seq;   /* nothing of this file follows the chain */
        status = 1;
    }
    return status;
}

static int export_history(char *const *files, size_t n, size_t live, const char *key, int64_t since, cds_export_format fmt)
{
    cds_audit_span prev = {0};
    int64_t last = since;
    for (size_t i = 0; i < n; i++) {
        char *text = NULL;
        size_t len = 0;
        FILE *msg = open_memstream(&text, &len);
        if (!msg) {
            fprintf(stderr, "cdsd audit export: out of memory\n");
            return 2;
        }
        cds_audit_span span;
        int status = verify_one(files, i, live, key, &prev, &span, msg);
        fclose(msg);
        cds_error err;
        /* a broken file's span ends at its last intact entry */
        if (span.end_seq > last && cds_audit_export_file(files[i], last, span.end_seq, fmt, stdout, &last, &err) != CDS_OK) {
            fprintf(stderr, "cdsd audit export: %s\n", err.message);
            free(text);
            return 2;
        }
        if (status != 0) {
            fflush(stdout);
            fprintf(stderr, "%scdsd audit export: stopped: nothing after entry %lld exported (the audit chain is %s there)\n",
                    text ? text : "", (long long)span.end_seq, status == 1 ? "broken" : "not readable");
        }
        free(text);
        if (status != 0) return status;
        prev = span;
    }
    return fflush(stdout) == 0 ? 0 : 2;
}

int cli_audit_export(int argc, char **argv)
{
    const char *state = "var", *audit = NULL, *key = NULL, *archive_dir = NULL, *format = "jsonl";
    int64_t since = 0;
    static const struct option opts[] = {{"state", 1, 0, 's'}, {"audit", 1, 0, 'a'}, {"key", 1, 0, 'k'},
                                         {"archive-dir", 1, 0, 'A'}, {"since", 1, 0, 'c'}, {"format", 1, 0, 'f'},
                                         {0, 0, 0, 0}};
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 's') state = optarg;
        else if (c == 'a') audit = optarg;
        else if (c == 'k') key = optarg;
        else if (c == 'A') archive_dir = optarg;
        else if (c == 'f') format = optarg;
        else if (c == 'c' && (since = strtoll(optarg, &end, 10), *optarg && !*end && since >= 0)) continue;
        else {
            if (c == 'c') fprintf(stderr, "cdsd audit export: --since takes a cursor (a chain position, >= 0)\n");
            fprintf(stderr, USAGE);
            return 2;
        }
    }
    cds_export_format fmt;
    if (!strcmp(format, "jsonl")) fmt = CDS_EXPORT_JSONL;
    else if (!strcmp(format, "fhir-auditevent")) fmt = CDS_EXPORT_FHIR;
    else {
        fprintf(stderr, "cdsd audit export: --format jsonl or fhir-auditevent\n" USAGE);
        return 2;
    }
    if (audit) {   /* one file: an archive or a copy (no anchor: its newest entries are not checked) */
        char *files[] = {(char *)audit};
        return export_history(files, 1, 1, key, since, fmt);
    }
    cds_audit_history h;
    if (!cds_audit_history_list(state, archive_dir, &h)) return 2;
    char keyp[1200];
    snprintf(keyp, sizeof keyp, "%s/audit.db.key", state);
    int status = export_history(h.files, h.n, h.live, key ? key : keyp, since, fmt);
    cds_audit_history_free(&h);
    return status;
}
