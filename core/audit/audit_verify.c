/* audit_verify.c — checking an audit file's chain: layout 2 (keyed MAC over decisions with their
 * cards, feedback, generations, the start record and the anchor) and layout 1 (plain SHA-256
 * over 17 decision columns, the first layout; its logs are still checked as they were). */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "audit_chain.h"
#include "audit_file.h"
#include "audit_layout.h"
#include "digest.h"

/* --- layout 1 ------------------------------------------------------------------------------ */

#define V1_FIELDS 17

static void v1_hash(const char *prev, const char *const *fields, char out[65])
{
    cds_digest *d = cds_digest_new();
    cds_digest_update(d, prev, strlen(prev));
    for (int i = 0; i < V1_FIELDS; i++) {
        const char *f = fields[i] ? fields[i] : "";
        cds_digest_update(d, "\x1f", 1);
        cds_digest_update(d, f, strlen(f));
    }
    cds_digest_final(d, out);
}

static int verify_layout1(sqlite3 *db, const char *path, cds_audit_span *span, FILE *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT seq, decision, time_ms, outcome, service, hook, hook_instance, caller, pack,"
                               " pack_version, pack_digest, kb_digest, rules, cards, error, request_sha256, patient_key,"
                               " eval_us, prev_hash, row_hash FROM decision ORDER BY seq", -1, &st, NULL) != SQLITE_OK) {
        fprintf(out, "%s: %s\n", path, sqlite3_errmsg(db));
        return 2;
    }
    char prev[65];
    snprintf(prev, sizeof prev, "%064d", 0);
    long rows = 0;
    long long seq = 0;
    int status = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *f[V1_FIELDS];
        char eval[32];
        snprintf(eval, sizeof eval, "%s", sqlite3_column_text(st, 17) ? (const char *)sqlite3_column_text(st, 17) : "");
        for (int i = 0; i < V1_FIELDS - 1; i++) f[i] = (const char *)sqlite3_column_text(st, i + 1);
        f[V1_FIELDS - 1] = eval;
        const char *stored_prev = (const char *)sqlite3_column_text(st, 18);
        const char *stored = (const char *)sqlite3_column_text(st, 19);
        char want[65];
        v1_hash(prev, f, want);
        seq = sqlite3_column_int64(st, 0);
        if (!stored_prev || strcmp(stored_prev, prev) != 0) {
            fprintf(out, "chain broken at row %lld (decision %s): it does not follow the previous row "
                         "(a row was deleted or reordered before it)\n", seq, f[0] ? f[0] : "?");
            status = 1;
            break;
        }
        if (!stored || strcmp(stored, want) != 0) {
            fprintf(out, "chain broken at row %lld (decision %s): its content was changed\n", seq, f[0] ? f[0] : "?");
            status = 1;
            break;
        }
        memcpy(prev, want, 65);
        rows++;
    }
    if (!status && rc != SQLITE_DONE) {   /* a damaged page ends the scan: not "intact" */
        fprintf(out, "%s: cannot read past row %ld: %s\n", path, rows, sqlite3_errmsg(db));
        status = 2;
    }
    sqlite3_finalize(st);
    if (!status)
        fprintf(out, "audit chain intact: %ld decisions (%s, first layout: unkeyed SHA-256 over the decision rows only)\n",
                rows, path);
    span->start_seq = 1;
    span->end_seq = seq;
    if (!rows || !cds_unhex(prev, span->end_mac, 32)) memset(span->end_mac, 0, 32);
    span->decisions = rows;
    return status;
}

/* --- layout 2 ------------------------------------------------------------------------------ */

/* The statement's columns: n covered by the chain, then `mac` (a table changed behind the
 * verifier's back, e.g. a column added, is not "intact"). */
/* n columns and the mac, then at most `added` later columns (audit_layout.h). */
static bool shaped(sqlite3_stmt *st, int n, int added)
{
    int k = sqlite3_column_count(st);
    return k >= n + 1 && k <= n + 1 + added && !strcmp(sqlite3_column_name(st, n), "mac");
}

/* Column i as a value, or NULL when the table predates it. */
static cds_audit_val optional_column(sqlite3_stmt *st, int i)
{
    return i < sqlite3_column_count(st) ? cds_audit_column(st, i) : cds_val_text(NULL);
}

typedef struct walk {
    sqlite3 *db;
    const char *path;
    FILE *out;
    unsigned char key[32];
    cds_strbuf buf;
    int64_t *gens;            /* generation ids whose MAC is right */
    size_t ngens;
} walk;

static int read_generations(walk *w)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(w->db, "SELECT * FROM generation ORDER BY id", -1, &st, NULL) != SQLITE_OK || !shaped(st, CDS_GENERATION_COLS, 0)) {
        sqlite3_finalize(st);
        fprintf(w->out, "%s: the generation table is not in the expected shape\n", w->path);
        return 1;
    }
    static const unsigned char zero[CDS_MAC_LEN];
    int status = 0, rc;
    while (!status && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        cds_audit_val v[CDS_GENERATION_COLS];
        for (int i = 0; i < CDS_GENERATION_COLS; i++) v[i] = cds_audit_column(st, i);
        unsigned char mac[CDS_MAC_LEN];
        cds_chain_begin(&w->buf, zero, 'G');
        cds_chain_add(&w->buf, 'G', v, CDS_GENERATION_COLS);
        int64_t *g = realloc(w->gens, (w->ngens + 1) * sizeof *g);
        if (!cds_chain_end(&w->buf, w->key, mac) || !g) {
            if (g) w->gens = g;
            fprintf(w->out, "%s: out of memory\n", w->path);
            status = 2;
            break;
        }
        w->gens = g;
        if (sqlite3_column_bytes(st, CDS_GENERATION_COLS) != CDS_MAC_LEN ||
            memcmp(sqlite3_column_blob(st, CDS_GENERATION_COLS), mac, CDS_MAC_LEN)) {
            fprintf(w->out, "chain broken: generation %lld (pack, knowledge digest or rule list) was changed\n",
                    (long long)sqlite3_column_int64(st, 0));
            status = 1;
        }
        w->gens[w->ngens++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return status;
}

static bool known_gen(const walk *w, const cds_audit_val *v)
{
    if (v->type == SQLITE_NULL) return true;
    for (size_t i = 0; v->type == SQLITE_INTEGER && i < w->ngens; i++)
        if (w->gens[i] == v->i) return true;
    return false;
}

static const char *decision_id(sqlite3_stmt *d)
{
    const unsigned char *s = sqlite3_column_text(d, 1);
    return s ? (const char *)s : "?";
}

static int verify_layout2(walk *w, const char *anchor_path, cds_audit_span *span)
{
    FILE *out = w->out;
    sqlite3_stmt *meta = NULL, *d = NULL, *f = NULL, *c = NULL;
    int status = read_generations(w);
    int64_t seq = 0, aseq = -1, end_seq = -1;
    unsigned char prev[CDS_MAC_LEN], amac[CDS_MAC_LEN], end_mac[CDS_MAC_LEN];
    bool start_ok = false, end_seen = false;
    if (!status && sqlite3_prepare_v2(w->db, "SELECT k, v FROM meta WHERE k IN ('start', 'end')", -1, &meta, NULL) == SQLITE_OK) {
        while (sqlite3_step(meta) == SQLITE_ROW) {
            const char *k = (const char *)sqlite3_column_text(meta, 0);
            const void *v = sqlite3_column_blob(meta, 1);
            size_t n = (size_t)sqlite3_column_bytes(meta, 1);
            if (!strcmp(k, "start")) start_ok = cds_chain_point_unpack(w->key, 'S', v, n, &seq, prev);
            else if (!(end_seen = cds_chain_point_unpack(w->key, 'E', v, n, &end_seq, end_mac))) start_ok = false;
        }
    }
    if (!status && !start_ok) {
        fprintf(out, "chain broken: %s: the start (or end) record is missing or not genuine (edited, or another key)\n", w->path);
        status = 1;
    }
    span->start_seq = seq;
    memcpy(span->start_prev, prev, CDS_MAC_LEN);
    if (!status) {
        cds_error err;
        int ar = anchor_path ? cds_anchor_read(anchor_path, w->key, &aseq, amac, &err) : 0;
        if (ar < 0) {
            fprintf(out, "chain broken: %s\n", err.message);
            status = 1;
        } else if (anchor_path && ar == 0)
            fprintf(out, "warning: no anchor file %s: deleting the newest entries would not be detected\n", anchor_path);
    }
    if (!status && (sqlite3_prepare_v2(w->db, "SELECT * FROM decision ORDER BY seq", -1, &d, NULL) != SQLITE_OK ||
                    sqlite3_prepare_v2(w->db, "SELECT * FROM feedback ORDER BY seq", -1, &f, NULL) != SQLITE_OK ||
                    sqlite3_prepare_v2(w->db, "SELECT * FROM card ORDER BY decision, ord", -1, &c, NULL) != SQLITE_OK ||
                    !shaped(d, CDS_DECISION_COLS, 1) || !shaped(f, CDS_FEEDBACK_COLS, 0) ||
                    sqlite3_column_count(c) < CDS_CARD_COLS || sqlite3_column_count(c) > CDS_CARD_COLS + 1)) {
        fprintf(out, "%s: the tables are not in the expected shape: %s\n", w->path, sqlite3_errmsg(w->db));
        status = 1;
    }
    int drc = status ? SQLITE_DONE : sqlite3_step(d), frc = status ? SQLITE_DONE : sqlite3_step(f);
    int crc = status ? SQLITE_DONE : sqlite3_step(c);
    bool anchor_met = aseq < seq;   /* an anchor older than this file's start: archived since */
#define SCAN_OK(rc) ((rc) == SQLITE_ROW || (rc) == SQLITE_DONE)
    while (!status && (drc == SQLITE_ROW || frc == SQLITE_ROW)) {
        if (!SCAN_OK(drc) || !SCAN_OK(frc) || !SCAN_OK(crc)) break;   /* a damaged page: below */
        int64_t ds = drc == SQLITE_ROW ? sqlite3_column_int64(d, 0) : INT64_MAX;
        int64_t fs = frc == SQLITE_ROW ? sqlite3_column_int64(f, 0) : INT64_MAX;
        bool is_d = ds <= fs;
        int64_t got = is_d ? ds : fs;
        if (got != seq) {
            if (got > seq)
                fprintf(out, "chain broken at entry %lld: it is missing (deleted); the next is entry %lld\n", (long long)seq,
                        (long long)got);
            else fprintf(out, "chain broken at entry %lld: it appears twice or out of order\n", (long long)got);
            status = 1;
            break;
        }
        sqlite3_stmt *row = is_d ? d : f;
        int n = is_d ? CDS_DECISION_COLS : CDS_FEEDBACK_COLS;
        cds_audit_val v[CDS_DECISION_COLS];
        for (int i = 0; i < n; i++) v[i] = cds_audit_column(row, i);
        cds_chain_begin(&w->buf, prev, is_d ? 'D' : 'F');
        cds_chain_add(&w->buf, is_d ? 'D' : 'F', v, (size_t)n);
        if (is_d) {
            cds_audit_val shadow = optional_column(d, CDS_DECISION_SHADOW_COL);
            if (shadow.type != SQLITE_NULL) cds_chain_add(&w->buf, 'V', &shadow, 1);
            if (!known_gen(w, &v[8])) {
                fprintf(out, "chain broken at entry %lld (decision %s): its generation is missing\n", (long long)seq,
                        decision_id(d));
                status = 1;
                break;
            }
            for (; crc == SQLITE_ROW && sqlite3_column_int64(c, 0) <= seq; crc = sqlite3_step(c)) {
                if (sqlite3_column_int64(c, 0) < seq) break;   /* a card of no decision: below */
                cds_audit_val cv[CDS_CARD_COLS + 1];
                for (int i = 0; i < CDS_CARD_COLS; i++) cv[i] = cds_audit_column(c, i);
                cv[CDS_CARD_EXT_COL] = optional_column(c, CDS_CARD_EXT_COL);
                cds_chain_add(&w->buf, 'C', cv, cv[CDS_CARD_EXT_COL].type == SQLITE_NULL ? CDS_CARD_COLS : CDS_CARD_COLS + 1);
            }
            if (!SCAN_OK(crc)) break;
            if (crc == SQLITE_ROW && sqlite3_column_int64(c, 0) < seq) {
                fprintf(out, "chain broken: a card (uuid %s) belongs to no decision (entry %lld: deleted, or the card was "
                             "added)\n", sqlite3_column_text(c, 2) ? (const char *)sqlite3_column_text(c, 2) : "?",
                        (long long)sqlite3_column_int64(c, 0));
                status = 1;
                break;
            }
        }
        unsigned char mac[CDS_MAC_LEN];
        if (!cds_chain_end(&w->buf, w->key, mac)) {
            fprintf(out, "%s: out of memory\n", w->path);
            status = 2;
            break;
        }
        if (sqlite3_column_bytes(row, n) != CDS_MAC_LEN || memcmp(sqlite3_column_blob(row, n), mac, CDS_MAC_LEN)) {
            if (is_d)
                fprintf(out, "chain broken at entry %lld (decision %s): its content or its cards were changed, or an "
                             "entry before it was deleted\n", (long long)seq, decision_id(d));
            else
                fprintf(out, "chain broken at entry %lld (feedback on card %s): its content was changed, or an entry "
                             "before it was deleted\n", (long long)seq,
                        sqlite3_column_text(f, 2) ? (const char *)sqlite3_column_text(f, 2) : "?");
            status = 1;
            break;
        }
        if (seq == aseq) {
            if (memcmp(mac, amac, CDS_MAC_LEN)) {
                fprintf(out, "chain broken at entry %lld: it is not the entry the anchor recorded\n", (long long)seq);
                status = 1;
                break;
            }
            anchor_met = true;
        }
        memcpy(prev, mac, CDS_MAC_LEN);
        if (is_d) span->decisions++, drc = sqlite3_step(d);
        else span->feedback++, frc = sqlite3_step(f);
        seq++;
    }
    if (!status && crc == SQLITE_ROW && SCAN_OK(drc) && SCAN_OK(frc)) {
        fprintf(out, "chain broken: a card (uuid %s) belongs to no decision (entry %lld)\n",
                sqlite3_column_text(c, 2) ? (const char *)sqlite3_column_text(c, 2) : "?", (long long)sqlite3_column_int64(c, 0));
        status = 1;
    }
    if (!status && (!SCAN_OK(drc) || !SCAN_OK(frc) || !SCAN_OK(crc))) {   /* a damaged page ends a scan: not "intact" */
        fprintf(out, "%s: cannot read past row %lld (chain entry): %s\n", w->path, (long long)seq, sqlite3_errmsg(w->db));
        status = 2;
    }
    if (!status && !anchor_met) {
        fprintf(out, "chain broken: the log ends at entry %lld but the anchor records entry %lld: the newest entries "
                     "were deleted\n", (long long)seq - 1, (long long)aseq);
        status = 1;
    }
    if (!status && end_seen && (end_seq != seq - 1 || memcmp(end_mac, prev, CDS_MAC_LEN))) {
        fprintf(out, "chain broken: the archive's end record names entry %lld but its entries end at %lld\n",
                (long long)end_seq, (long long)seq - 1);
        status = 1;
    }
    span->end_seq = seq - 1;
    memcpy(span->end_mac, prev, CDS_MAC_LEN);
    sqlite3_finalize(meta);
    sqlite3_finalize(d);
    sqlite3_finalize(f);
    sqlite3_finalize(c);
    if (!status)
        fprintf(out, "audit chain intact: %ld decisions, %ld feedback entries (entries %lld-%lld of %s)\n", span->decisions,
                span->feedback, (long long)span->start_seq, (long long)span->end_seq, w->path);
    return status;
}

int cds_audit_verify_file(const char *path, const char *key_path, const char *anchor_path, cds_audit_span *span, FILE *out)
{
    cds_audit_span local;
    if (!span) span = &local;
    memset(span, 0, sizeof *span);
    cds_error oerr;
    sqlite3 *db = cds_audit_file_open(path, &oerr);
    if (!db) {
        fprintf(out, "%s\n", oerr.message);
        return 2;
    }
    int layout = cds_audit_layout_of(db), status;
    if (layout == 1 && anchor_path && access(anchor_path, F_OK) == 0) {
        /* the keyed chain's anchor beside a log in the first layout: the log was rebuilt in the
         * old, unkeyed form (which anyone can recompute) */
        fprintf(out, "chain broken: %s is in the first (unkeyed) layout but %s records a keyed chain: the log was "
                     "replaced\n", path, anchor_path);
        status = 1;
    } else if (layout == 1) status = verify_layout1(db, path, span, out);
    else if (layout != 2) {
        fprintf(out, "%s: not an audit log (%s)\n", path, layout < 0 ? sqlite3_errmsg(db) : "no audit tables");
        status = 2;
    } else {
        walk w = {.db = db, .path = path, .out = out};
        cds_strbuf_init(&w.buf);
        char kp[1100];
        if (!key_path) {
            snprintf(kp, sizeof kp, "%s.key", path);
            key_path = kp;
        }
        cds_error err;
        if (!cds_chain_key_file(key_path, w.key, &err)) {
            fprintf(out, "%s\n", err.message);
            status = 2;
        } else status = verify_layout2(&w, anchor_path, span);
        cds_strbuf_free(&w.buf);
        free(w.gens);
    }
    sqlite3_close(db);
    return status;
}

int cds_audit_verify(const char *path, FILE *out)
{
    char anchor[1100];
    snprintf(anchor, sizeof anchor, "%s.anchor", path);
    return cds_audit_verify_file(path, NULL, anchor, NULL, out);
}

int cds_audit_span_follows(const cds_audit_span *prev, const cds_audit_span *next, const char *prev_path,
                           const char *next_path, FILE *out)
{
    if (next->start_seq == prev->end_seq + 1 && memcmp(next->start_prev, prev->end_mac, 32)) {
        fprintf(out, "chain broken between %s and %s: they do not continue one another\n", prev_path, next_path);
        return 1;
    }
    if (next->start_seq > prev->end_seq + 1) {
        fprintf(out, "chain broken between %s and %s: entries %lld-%lld are missing\n", prev_path, next_path,
                (long long)prev->end_seq + 1, (long long)next->start_seq - 1);
        return 1;
    }
    if (next->start_seq <= prev->end_seq)   /* an archive run was interrupted after the archive was written: the rest
                                             * of its entries are still in the next file too (running it again
                                             * finishes the move) */
        fprintf(out, "note: entries %lld-%lld are in both %s and %s (an interrupted archive run; run it again)\n",
                (long long)next->start_seq, (long long)prev->end_seq, prev_path, next_path);
    return 0;
}
