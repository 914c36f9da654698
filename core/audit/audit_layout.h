/* audit_layout.h — the audit database's tables (layout 2, PRAGMA user_version = 2), shared by
 * the writer, the verifier, the readers and the archiver.
 *   generation  one row per rule set generation: pack name/version/digest, knowledge digest and
 *               the rule list (JSON), with its own MAC; decisions refer to it by id
 *   decision    one row per call; seq is the chain position (shared with feedback); runs is the
 *               compact rule list of audit_runs.h; hashes are 32-byte blobs; times in tenths of us
 *   card        every card of a decision, by (decision seq, position); chained with its decision
 *   feedback    one row per feedback entry, a chain entry of its own
 *   meta        'start': where this file's chain starts (seq and the MAC before it), MACed;
 *               'end' in an archive: its last entry
 * Layout 1 (the first: plain SHA-256 chain over 17 text columns, rules and cards as JSON) is
 * still read by verify, report and replay; a server finding one keeps it as audit-v1.db and
 * starts a layout 2 log chained to its last hash. */
#ifndef CDS_AUDIT_LAYOUT_H
#define CDS_AUDIT_LAYOUT_H

#include <sqlite3.h>
#include <stdbool.h>

#define CDS_AUDIT_LAYOUT 2

extern const char CDS_AUDIT_SCHEMA[];

/* Column counts without the trailing mac column (what the chain covers with `seq`). */
#define CDS_DECISION_COLS 17
#define CDS_CARD_COLS 5
/* Columns added since, after those (and after decision's mac): decision.shadow (1: a shadow
 * rule set's decision, never shown to the client; NULL: live) and card.ext (MessagePack map:
 * "key" the alert's stable key, "suppressed" why it was demoted or dropped, "explain" what
 * produced it). The chain covers each only when it is not NULL, so rows written before they
 * existed verify as they were. */
#define CDS_DECISION_SHADOW_COL (CDS_DECISION_COLS + 1)
#define CDS_CARD_EXT_COL CDS_CARD_COLS
#define CDS_FEEDBACK_COLS 12
#define CDS_GENERATION_COLS 6

/* Adds the columns above to a log written before them (in attached database `schema`, e.g.
 * "main"); false on an SQLite error (message in db). */
bool cds_audit_layout_upgrade(sqlite3 *db, const char *schema);

/* 2: layout 2; 1: layout 1; 0: no audit tables (a new file); -1: not readable (message in db). */
int cds_audit_layout_of(sqlite3 *db);

#endif
