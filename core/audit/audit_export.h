/* audit_export.h — decisions of an audit file as JSON lines for a SIEM or central store
 * (cdsd audit export): one object per decision, in chain order, each with its cursor (the chain
 * seq). jsonl: cdsd's own fields; fhir: a FHIR R4 AuditEvent per decision following the IHE Basic
 * Audit Log Patterns. The patient is the pseudonymous key only, never a name, id or token. The
 * caller checks the chain (cds_audit_verify_file) and passes how far it is intact. */
#ifndef CDS_AUDIT_EXPORT_H
#define CDS_AUDIT_EXPORT_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"

typedef enum { CDS_EXPORT_JSONL, CDS_EXPORT_FHIR } cds_export_format;

/* Writes the decisions of the layout 2 file at path with after_seq < seq <= until_seq to out;
 * *last receives the cursor of the last one written (unchanged when none). */
cds_rc cds_audit_export_file(const char *path, int64_t after_seq, int64_t until_seq, cds_export_format fmt, FILE *out,
                             int64_t *last, cds_error *err);

#endif
