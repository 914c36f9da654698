/* audit_history.h — the files that make up a state directory's audit history, oldest first: a
 * log kept from the first layout ($STATE/audit-v1.db), the archives (ARCHIVE_DIR/audit-*.db.gz,
 * named by their cut-off date, so name order is time order), then the live log ($STATE/audit.db).
 * verify checks them as one chain; replay reads them in turn. */
#ifndef CDS_AUDIT_HISTORY_H
#define CDS_AUDIT_HISTORY_H

#include <stdbool.h>
#include <stddef.h>

/* The archive directory when none is given. */
#define CDS_AUDIT_ARCHIVE_DIR "audit-archive"

typedef struct cds_audit_history {
    char **files;
    size_t n;
    size_t live;              /* index of the live log */
} cds_audit_history;

/* archive_dir NULL: STATE/audit-archive. false when out of memory. */
bool cds_audit_history_list(const char *state, const char *archive_dir, cds_audit_history *h);
void cds_audit_history_free(cds_audit_history *h);

#endif
