/* test_audit_log.h — a fresh audit log in a temporary directory, for the tests that write one and
 * read it back (report, firing rate). Include after cmocka.h. */
#ifndef CDS_TEST_AUDIT_LOG_H
#define CDS_TEST_AUDIT_LOG_H

#include <stdio.h>

#include "audit.h"
#include "testutil.h"

/* Opens DIR/audit.db in a new temporary directory: *dir is the directory, db its path. */
static inline cds_audit *tu_audit_log(const char **dir, char *db, size_t n)
{
    *dir = tu_tempdir();
    snprintf(db, n, "%s/audit.db", *dir);
    cds_error err;
    cds_audit *a = cds_audit_open(db, false, &err);
    if (!a) fail_msg("audit log %s: %s", db, err.message);
    return a;
}

#endif
