/* audit_file.h — opening an audit file to read it: a live log or a first-layout log (SQLite), or
 * an archive (an SQLite file compressed with gzip, audit_archive.c), which is inflated into
 * memory: readers never write a plaintext copy of an archive (which may hold requests) to disk. */
#ifndef CDS_AUDIT_FILE_H
#define CDS_AUDIT_FILE_H

#include <sqlite3.h>
#include <stdbool.h>

#include "error.h"

/* Opens path read-only; NULL with the reason in err. */
sqlite3 *cds_audit_file_open(const char *path, cds_error *err);

/* From now on, `decision` on this connection means the live decisions only: a TEMP view of that
 * name (SQLite resolves an unqualified name in temp before main) hides the shadow rule set's rows
 * (decision.shadow = 1, `cdsd serve --shadow`) from every query that counts what clinicians were
 * shown - report, export, replay. Cards hang off a decision, so joins through it skip theirs too.
 * `main.decision` still names every row (verify, archive and `report --shadow` read them all).
 * A log without the column has no shadow rows: nothing to do. False (err set) on failure. */
bool cds_audit_live_only(sqlite3 *db, cds_error *err);

#endif
