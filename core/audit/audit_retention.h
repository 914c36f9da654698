/* audit_retention.h — serve --audit-retain DAYS: a thread of the service that archives, once a
 * day (first a few seconds after the start), every entry older than DAYS days (cut at UTC
 * midnight) into ARCHIVE_DIR/audit-until-YYYY-MM-DD.db.gz, at a lower CPU priority and in the
 * archiver's small transactions, so replies are not held up (issue 23). */
#ifndef CDS_AUDIT_RETENTION_H
#define CDS_AUDIT_RETENTION_H

#include "error.h"

typedef struct cds_audit_retention cds_audit_retention;

/* db: the live log; archive_dir: created 0700 when missing. */
cds_audit_retention *cds_audit_retention_start(const char *db, const char *archive_dir, int days, cds_error *err);
/* Stops the thread (an archive run in progress stops between two transactions). */
void cds_audit_retention_stop(cds_audit_retention *r);

#endif
