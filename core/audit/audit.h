/* audit.h — the audit log and card feedback ($STATE/audit.db, SQLite WAL, separate from the
 * knowledge base). One writer thread owns the connection and commits in batches (group commit);
 * a reply is sent only after its row exists: callers either block until then, or hand the
 * record over with a callback that sends the reply after the commit.
 * Rows are chained under a keyed MAC over every column of decisions, cards and feedback
 * (audit_chain.h), so an edit, deletion or reordering shows up in cds_audit_verify. No patient data: the patient is an HMAC-SHA256 key
 * under a per-installation secret; no names, birth dates, resources or tokens. */
#ifndef CDS_AUDIT_H
#define CDS_AUDIT_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "engine.h"
#include "error.h"

typedef struct cds_audit cds_audit;

/* Bytes owned by the caller (len 0: none). */
typedef struct cds_audit_blob {
    const void *data;
    size_t len;
} cds_audit_blob;

typedef struct cds_audit_record {
    const char *decision;     /* uuid */
    const char *outcome;      /* "ok" or the error code */
    const char *service, *hook, *hook_instance, *caller;
    const char *pack, *pack_version, *pack_digest, *kb_digest;
    const char *gen_rules;    /* the generation's rule list (audit_runs.h); read when the generation is new */
    const void *runs;         /* the rules that ran, encoded (cds_audit_runs_encode) */
    size_t runs_len;
    const char *error;        /* error message or NULL */
    const char *request_sha256;  /* hex (stored as 32 bytes) */
    const char *patient_key;  /* HMAC of patientId (hex, stored as 32 bytes), or NULL */
    double decode_us, eval_us, total_us;   /* decode: pre-check + unpack; eval: rules and card encoding */
    const char *request_blob; /* only with --audit-requests: the request (PHI-bearing) */
    size_t request_len;
    /* cards for the card index (uuid, rule, indicator) */
    const char *const *card_uuid, *const *card_rule, *const *card_indicator;
    const cds_audit_blob *card_ext;   /* NULL, or per card its ext map (audit_layout.h; len 0: none) */
    size_t ncards;
    bool shadow;              /* a shadow rule set's decision (never shown to the client) */
} cds_audit_record;

/* Opens (creating) the database and starts the writer. sync_full: synchronous=FULL. */
cds_audit *cds_audit_open(const char *path, bool sync_full, cds_error *err);
void cds_audit_close(cds_audit *a);

/* The clock that stamps rows (epoch ms), called by the writer; for generators of synthetic
 * history (bench/audit_gen.c). Set before the first write. */
void cds_audit_set_clock(cds_audit *a, int64_t (*clock)(void *), void *arg);

/* The writer's page cache in KiB (0: SQLite's default, 2000). A generator writing years of rows
 * in big batches needs far more (random card and decision ids land on random index pages). */
void cds_audit_cache_kib(cds_audit *a, int kib);

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
/* As cds_audit_write_async, for rows no reply waits for (shadow decisions): queued apart and
 * committed in batches of their own (256 rows, or after 1 s; cds_audit_flush and close commit
 * them at once), so the live rows seldom wait for their commit. done runs after it. */
cds_rc cds_audit_write_lazy(cds_audit *a, const cds_audit_record *r, cds_audit_done_fn done, void *arg);

/* One call as the service answered it: what the audit row of a decision is made from. */
typedef struct cds_audit_call {
    const char *decision, *service, *caller;
    cds_rc code;              /* CDS_OK or the error answered */
    const char *error;        /* its message, or NULL */
    const cds_ruleset *rs;
    const cds_eval_info *info;   /* rules run and every card shown (all go into the card index) */
    const char *request;      /* the envelope as received: hashed, and kept with keep_request */
    size_t request_len;
    bool keep_request;
    bool shadow;              /* the shadow rule set's evaluation of the call (audit_layout.h) */
    double decode_us, eval_us, total_us;
} cds_audit_call;

/* Writes the decision's row: blocking when done is NULL, else as cds_audit_write_async.
 * CDS_EINTERNAL when the row could not be built (out of memory), CDS_EIO when not written. */
cds_rc cds_audit_decision(cds_audit *a, const cds_audit_call *c, cds_audit_done_fn done, void *arg, bool alone);

/* Decisions read back (audit_reader.c): rows that kept their request, oldest first. */
typedef struct cds_audit_card { char *uuid, *rule, *indicator; } cds_audit_card;
typedef struct cds_audit_stored {
    const char *decision, *service;
    int64_t time_ms, seq;
    const void *request;      /* the envelope, MessagePack */
    size_t request_len;
    const cds_audit_card *cards;
    size_t ncards;
} cds_audit_stored;
typedef struct cds_audit_reader cds_audit_reader;
/* Decisions from since_ms on, past chain entry after_seq (reading archives then the live log as
 * one history, an entry still in both after an interrupted archive run is read once). */
cds_audit_reader *cds_audit_reader_open(const char *path, int64_t since_ms, int64_t after_seq, cds_error *err);
/* 1: *out holds the next row (valid until the next call); 0: no more; -1: error in err. */
int cds_audit_reader_next(cds_audit_reader *r, cds_audit_stored *out, cds_error *err);
void cds_audit_reader_close(cds_audit_reader *r);

/* For /metrics and /health/ready (stable names, read by rpc/service/health.c): decisions waiting
 * for the writer, commits made and failed (each a batch of rows) and their total time, and when
 * the last failure happened (CLOCK_MONOTONIC ms, 0 = never) and whether it was the last commit. */
typedef struct cds_audit_stats {
    size_t queued;
    unsigned long commits, failures;
    double commit_seconds;
    int64_t last_failure_ms;
    bool last_failed;
} cds_audit_stats;
void cds_audit_stats_read(cds_audit *a, cds_audit_stats *out);

/* Waits until every asynchronous record has been written and reported. */
void cds_audit_flush(cds_audit *a);

/* Stores CDS Hooks feedback entries ({"feedback": [...]}, already validated); idempotent.
 * Blocks until committed. */
cds_rc cds_audit_feedback(cds_audit *a, const char *service, const msgpack_object *request);

/* HMAC-SHA256 of the patient id under the installation secret (hex). */
void cds_audit_patient_key(const cds_audit *a, const char *patient_id, char out[65]);

/* Loads or creates the 32-byte installation secret at path (mode 0600). */
bool cds_audit_secret(const char *path, unsigned char secret[32], cds_error *err);

/* Checks the chain of one audit file (live log, archive or a layout 1 log) with the key at
 * key_path (NULL: path + ".key") and, for a live log, the anchor at anchor_path (NULL: none);
 * prints the first bad entry. Returns 0 when intact, 1 when broken, 2 on error. *end_seq and
 * end_mac (either may be NULL) receive where the file's chain ends, *start_* where it starts,
 * so that a sequence of files can be checked as one history. */
typedef struct cds_audit_span {
    int64_t start_seq, end_seq;     /* first entry, last entry (start_seq - 1 when empty) */
    unsigned char start_prev[32], end_mac[32];
    long decisions, feedback;
} cds_audit_span;
int cds_audit_verify_file(const char *path, const char *key_path, const char *anchor_path, cds_audit_span *span, FILE *out);
/* Whether the file whose span is next continues the one before it (prev): 0 yes (a note on out
 * when they overlap, after an interrupted archive run), 1 broken (said on out). */
int cds_audit_span_follows(const cds_audit_span *prev, const cds_audit_span *next, const char *prev_path,
                           const char *next_path, FILE *out);
/* The live log at path with its key and anchor beside it. */
int cds_audit_verify(const char *path, FILE *out);

#endif
