/* audit.h — the audit log and card feedback ($STATE/audit.db, SQLite WAL, separate from the
 * knowledge base). One writer thread owns the connection and commits in batches (group commit);
 * a reply is sent only after its row exists: callers either block until then, or hand the
 * record over with a callback that sends the reply after the commit.
 * Rows are hash-chained: row_hash = SHA-256(prev_hash || canonical row), so an edit, deletion or
 * reordering shows up in cds_audit_verify. No patient data: the patient is an HMAC-SHA256 key
 * under a per-installation secret; no names, birth dates, resources or tokens. */
#ifndef CDS_AUDIT_H
#define CDS_AUDIT_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdio.h>

#include "error.h"

typedef struct cds_audit cds_audit;

typedef struct cds_audit_record {
    const char *decision;     /* uuid */
    const char *outcome;      /* "ok" or the error code */
    const char *service, *hook, *hook_instance, *caller;
    const char *pack, *pack_version, *pack_digest, *kb_digest;
    const char *rules_json;   /* [{"rule","version","cards","error","us"}] */
    const char *cards_json;   /* [{"uuid","rule","indicator"}] */
    const char *error;        /* error message or NULL */
    const char *request_sha256;
    const char *patient_key;  /* HMAC of patientId, or NULL */
    double decode_us, eval_us, total_us;   /* decode: pre-check + unpack; eval: rules and card encoding */
    const char *request_blob; /* only with --audit-requests: the request (PHI-bearing) */
    size_t request_len;
    /* cards for the card index (uuid, rule, indicator) */
    const char *const *card_uuid, *const *card_rule, *const *card_indicator;
    size_t ncards;
} cds_audit_record;

/* Opens (creating) the database and starts the writer. sync_full: synchronous=FULL. */
cds_audit *cds_audit_open(const char *path, bool sync_full, cds_error *err);
void cds_audit_close(cds_audit *a);

/* WAL pages that trigger a background checkpoint (0: the default, 8192). For tests and tuning. */
void cds_audit_checkpoint_every(cds_audit *a, int pages);

/* Blocks until the record is committed. CDS_EIO when it could not be written. */
cds_rc cds_audit_write(cds_audit *a, const cds_audit_record *r);

/* Queues a copy of the record and returns at once; done(arg, rc) runs on the writer thread
 * after the batch holding it committed (CDS_OK) or failed (CDS_EIO). The service sends its
 * reply from done, so a reply still leaves only after its row exists, but the evaluating
 * thread is free meanwhile. CDS_EINTERNAL (and no callback) when the copy cannot be made.
 * With `alone` (no other call in flight) and the writer idle, the row is committed by the
 * caller and done runs before this returns: no thread hop for a lone request. Under load rows
 * go to the writer, whose batches cost far less per row than single-row commits. */
typedef void (*cds_audit_done_fn)(void *arg, cds_rc rc);
cds_rc cds_audit_write_async(cds_audit *a, const cds_audit_record *r, cds_audit_done_fn done, void *arg, bool alone);

/* Waits until every asynchronous record has been written and reported. */
void cds_audit_flush(cds_audit *a);

/* Stores CDS Hooks feedback entries ({"feedback": [...]}, already validated); idempotent.
 * Blocks until committed. */
cds_rc cds_audit_feedback(cds_audit *a, const char *service, const msgpack_object *request);

/* HMAC-SHA256 of the patient id under the installation secret (hex). */
void cds_audit_patient_key(const cds_audit *a, const char *patient_id, char out[65]);

/* Loads or creates the 32-byte installation secret at path (mode 0600). */
bool cds_audit_secret(const char *path, unsigned char secret[32], cds_error *err);

/* Checks the hash chain; prints the first bad row. Returns 0 when intact, 1 when broken, 2 on
 * error. */
int cds_audit_verify(const char *path, FILE *out);

#endif
