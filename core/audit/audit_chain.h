/* audit_chain.h — the keyed chain of the audit log (layout 2; see audit_layout.h).
 * Every entry (a decision with its cards, or one feedback row) carries
 *   mac = HMAC-SHA256(chain key, prev mac || tag || seq and every column, each typed and sized)
 * so an edit of any column (NULL and '' differ, as do 1 and '1'), a deletion, a reordering or a
 * row rebuilt without the key shows up in verify. The chain key is derived from the installation
 * secret ($STATE/audit.db.key, outside the database). Generation rows (pack and knowledge
 * identity, rule list) carry a MAC of their own; where the live chain starts (after archiving)
 * and the newest entry written (the anchor file beside the key) are MACed too. */
#ifndef CDS_AUDIT_CHAIN_H
#define CDS_AUDIT_CHAIN_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "strbuf.h"

#define CDS_MAC_LEN 32

/* One column value as the chain sees it: exactly what SQLite stores. */
typedef struct cds_audit_val {
    int type;                 /* SQLITE_NULL, SQLITE_INTEGER, SQLITE_TEXT, SQLITE_BLOB */
    int64_t i;
    const void *p;
    size_t n;
} cds_audit_val;

static inline cds_audit_val cds_val_text(const char *s)
{
    return s ? (cds_audit_val){.type = SQLITE_TEXT, .p = s, .n = strlen(s)} : (cds_audit_val){.type = SQLITE_NULL};
}
static inline cds_audit_val cds_val_blob(const void *p, size_t n)
{
    return p ? (cds_audit_val){.type = SQLITE_BLOB, .p = p, .n = n} : (cds_audit_val){.type = SQLITE_NULL};
}
static inline cds_audit_val cds_val_int(int64_t i) { return (cds_audit_val){.type = SQLITE_INTEGER, .i = i}; }

/* Binds vals[0..n) to parameters first..first+n-1; the values must outlive the step. */
int cds_audit_bind(sqlite3_stmt *st, int first, const cds_audit_val *vals, size_t n);
/* Column i of the current row as a value (REAL columns are not used by layout 2: read as a
 * value of their own type, so a REAL written over an INTEGER changes the MAC). */
cds_audit_val cds_audit_column(sqlite3_stmt *st, int i);

/* n bytes from 2n lowercase hex digits; false at anything else. */
bool cds_unhex(const char *s, unsigned char *out, size_t n);

/* The chain key derived from the 32-byte installation secret. */
void cds_chain_key(const unsigned char secret[32], unsigned char key[32]);
/* Reads the secret at path and derives the chain key; false with the reason in err. */
bool cds_chain_key_file(const char *path, unsigned char key[32], cds_error *err);

/* Incremental MAC of one entry: begin with the previous MAC and a one-letter tag ('D' decision,
 * 'C' card of that decision, 'F' feedback, 'G' generation, 'S' chain start, 'A' anchor), add
 * values, finish. buf is scratch space kept by the caller. */
void cds_chain_begin(cds_strbuf *buf, const unsigned char prev[CDS_MAC_LEN], char tag);
void cds_chain_add(cds_strbuf *buf, char tag, const cds_audit_val *vals, size_t n);
/* false when buf ran out of memory. */
bool cds_chain_end(cds_strbuf *buf, const unsigned char key[32], unsigned char mac[CDS_MAC_LEN]);

/* Where a chain segment starts: the first entry's seq and the MAC before it, MACed under the key
 * (meta row 'start' of a database). 80 bytes. */
#define CDS_CHAIN_POINT_LEN (8 + CDS_MAC_LEN + CDS_MAC_LEN)
void cds_chain_point_pack(const unsigned char key[32], char tag, int64_t seq, const unsigned char mac[CDS_MAC_LEN],
                          unsigned char out[CDS_CHAIN_POINT_LEN]);
/* false when the record's own MAC is wrong (forged or damaged). */
bool cds_chain_point_unpack(const unsigned char key[32], char tag, const void *in, size_t n, int64_t *seq,
                            unsigned char mac[CDS_MAC_LEN]);

/* The anchor file: the newest entry written (seq, mac), MACed. Rewritten in place after every
 * commit (one small pwrite, no fsync: as durable as the commit under synchronous=NORMAL). */
bool cds_anchor_write(int fd, const unsigned char key[32], int64_t seq, const unsigned char mac[CDS_MAC_LEN]);
/* 1 read and genuine, 0 no file, -1 unreadable or forged (reason in err). */
int cds_anchor_read(const char *path, const unsigned char key[32], int64_t *seq, unsigned char mac[CDS_MAC_LEN],
                    cds_error *err);

#endif
