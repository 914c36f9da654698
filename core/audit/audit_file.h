/* audit_file.h — opening an audit file to read it: a live log or a first-layout log (SQLite), or
 * an archive (an SQLite file compressed with gzip, audit_archive.c), which is inflated into
 * memory: readers never write a plaintext copy of an archive (which may hold requests) to disk. */
#ifndef CDS_AUDIT_FILE_H
#define CDS_AUDIT_FILE_H

#include <sqlite3.h>

#include "error.h"

/* Opens path read-only; NULL with the reason in err. */
sqlite3 *cds_audit_file_open(const char *path, cds_error *err);

#endif
