/* audit_archive.h — moving the oldest part of the live audit log into a compressed archive file
 * while the service keeps writing (cdsd audit archive, serve --audit-retain).
 *
 * An archive is a chain prefix: entries start..S-1 (every decision with its cards, and every
 * feedback entry, older than the cut-off), the generations, the live log's start record and an
 * end record (S-1 and its MAC, MACed), as an SQLite file in layout 2, VACUUMed and gzip-compressed
 * (zlib): readers inflate it in memory. Archive + live verify as one history.
 *
 * Crash safety: the archive is built beside its name, checked (its chain verified under the key)
 * and fsynced, then renamed into place; only then are the entries deleted from the live log, in
 * small transactions that each move the live log's start record past what they delete. A run
 * killed at any point leaves every entry in the live log, the archive, or both (identical, and
 * verify says so); running the same command again finishes the move. */
#ifndef CDS_AUDIT_ARCHIVE_H
#define CDS_AUDIT_ARCHIVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

typedef struct cds_archive_opts {
    int batch;                /* entries deleted per live transaction (0: 20) */
    int pause_ms;             /* least pause between them, leaving the service's writer free (0: 20;
                               * longer when a transaction took long: the lock is held at most
                               * 1/200 of the time) */
    atomic_bool *stop;        /* set: stop between two transactions (the next run finishes) */
} cds_archive_opts;

typedef struct cds_archive_result {
    int64_t first_seq, last_seq;   /* the entries archived (last < first: nothing to archive) */
    long decisions, feedback;
    long long bytes;               /* the archive file's size */
} cds_archive_result;

/* Moves the entries of the live log at path older than before_ms into out (a new file, or the
 * archive of an interrupted run to finish). Progress lines go to log (may be NULL). */
cds_rc cds_audit_archive(const char *path, int64_t before_ms, const char *out, const cds_archive_opts *o,
                         cds_archive_result *res, FILE *log, cds_error *err);

#endif
