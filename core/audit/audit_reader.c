/* audit_reader.c — reading decisions back from the audit log (for `cdsd replay`), so that only
 * the audit module knows how a decision and its cards are stored. */
#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "audit_file.h"
#include "audit_layout.h"

struct cds_audit_reader {
    sqlite3 *db;
    sqlite3_stmt *st, *cards_of;   /* cards_of: layout 2's card table (layout 1 keeps them as JSON) */
    cds_audit_card *cards;
    size_t cap, held;   /* held: cards of the current row, freed at the next row */
};

cds_audit_reader *cds_audit_reader_open(const char *path, int64_t since_ms, int64_t after_seq, cds_error *err)
{
    cds_audit_reader *r = calloc(1, sizeof *r);
    if (!r) {
        cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory");
        return NULL;
    }
    int layout = -1;
    if (!(r->db = cds_audit_file_open(path, err)) || !cds_audit_live_only(r->db, err)) {
        cds_audit_reader_close(r);
        return NULL;
    }
    if ((layout = cds_audit_layout_of(r->db)) < 1 ||
        sqlite3_prepare_v2(r->db, layout == 1 ? "SELECT decision, service, request, cards, time_ms, seq FROM decision WHERE request IS NOT NULL"
                                                " AND outcome = 'ok' AND time_ms >= ?1 AND seq > ?2 ORDER BY seq"
                                              : "SELECT decision, service, request, seq, time_ms, seq FROM decision WHERE request IS NOT NULL"
                                                " AND outcome = 'ok' AND time_ms >= ?1 AND seq > ?2 ORDER BY seq", -1, &r->st, NULL) != SQLITE_OK ||
        (layout == 2 && sqlite3_prepare_v2(r->db, "SELECT uuid, rule, indicator FROM card WHERE decision = ? ORDER BY ord", -1,
                                           &r->cards_of, NULL) != SQLITE_OK)) {
        cds_error_set(err, CDS_EIO, NULL, "%s: %s", path,
                      !r->db ? "out of memory" : layout == 0 ? "not an audit log" : sqlite3_errmsg(r->db));
        cds_audit_reader_close(r);
        return NULL;
    }
    sqlite3_bind_int64(r->st, 1, since_ms);
    sqlite3_bind_int64(r->st, 2, after_seq);
    return r;
}

static const char *str_of(const cJSON *o, const char *k)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
    return s ? s : "";
}

static void free_cards(cds_audit_reader *r)
{
    for (size_t i = 0; i < r->held; i++) {
        free(r->cards[i].uuid);
        free(r->cards[i].rule);
        free(r->cards[i].indicator);
    }
    r->held = 0;
}

static bool keep_card(cds_audit_reader *r, cds_audit_stored *out, const char *uuid, const char *rule, const char *ind,
                      cds_error *err)
{
    if (out->ncards == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 8;
        cds_audit_card *p = realloc(r->cards, cap * sizeof *p);
        if (!p) {
            cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory");
            return false;
        }
        r->cards = p;
        r->cap = cap;
    }
    cds_audit_card *k = &r->cards[out->ncards];
    k->uuid = strdup(uuid ? uuid : "");
    k->rule = strdup(rule ? rule : "");
    k->indicator = strdup(ind ? ind : "");
    r->held = ++out->ncards;
    if (!k->uuid || !k->rule || !k->indicator) {
        cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory");
        return false;
    }
    return true;
}

static bool cards_from_table(cds_audit_reader *r, int64_t seq, cds_audit_stored *out, cds_error *err)
{
    sqlite3_reset(r->cards_of);
    sqlite3_bind_int64(r->cards_of, 1, seq);
    int rc;
    bool ok = true;
    while (ok && (rc = sqlite3_step(r->cards_of)) == SQLITE_ROW)
        ok = keep_card(r, out, (const char *)sqlite3_column_text(r->cards_of, 0), (const char *)sqlite3_column_text(r->cards_of, 1),
                       (const char *)sqlite3_column_text(r->cards_of, 2), err);
    if (ok && rc != SQLITE_DONE) {
        cds_error_set(err, CDS_EIO, NULL, "reading the audit log's cards: %s", sqlite3_errmsg(r->db));
        ok = false;
    }
    sqlite3_reset(r->cards_of);
    return ok;
}

static bool cards_from_json(cds_audit_reader *r, cds_audit_stored *out, cds_error *err)
{
    const char *json = (const char *)sqlite3_column_text(r->st, 3);
    cJSON *list = cJSON_Parse(json ? json : "[]"), *c;
    if (!cJSON_IsArray(list)) {
        cJSON_Delete(list);
        cds_error_set(err, CDS_EIO, NULL, "decision %s: its card list is not readable", out->decision ? out->decision : "?");
        return false;
    }
    bool ok = true;
    cJSON_ArrayForEach(c, list) {
        if (ok) ok = keep_card(r, out, str_of(c, "uuid"), str_of(c, "rule"), str_of(c, "indicator"), err);
    }
    cJSON_Delete(list);
    return ok;
}

int cds_audit_reader_next(cds_audit_reader *r, cds_audit_stored *out, cds_error *err)
{
    free_cards(r);
    memset(out, 0, sizeof *out);
    int rc = sqlite3_step(r->st);
    if (rc == SQLITE_DONE) return 0;
    if (rc != SQLITE_ROW) {
        cds_error_set(err, CDS_EIO, NULL, "reading the audit log: %s", sqlite3_errmsg(r->db));
        return -1;
    }
    out->decision = (const char *)sqlite3_column_text(r->st, 0);
    out->service = (const char *)sqlite3_column_text(r->st, 1);
    out->request = sqlite3_column_blob(r->st, 2);
    out->request_len = (size_t)sqlite3_column_bytes(r->st, 2);
    out->time_ms = sqlite3_column_int64(r->st, 4);
    out->seq = sqlite3_column_int64(r->st, 5);
    if (r->cards_of ? !cards_from_table(r, sqlite3_column_int64(r->st, 3), out, err) : !cards_from_json(r, out, err))
        return -1;
    if (!out->decision || !out->service) {
        cds_error_set(err, CDS_EIO, NULL, "a decision row without its id or service");
        return -1;
    }
    out->cards = r->cards;
    return 1;
}

void cds_audit_reader_close(cds_audit_reader *r)
{
    if (!r) return;
    free_cards(r);
    sqlite3_finalize(r->st);
    sqlite3_finalize(r->cards_of);
    sqlite3_close(r->db);
    free(r->cards);
    free(r);
}
