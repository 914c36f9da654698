/* audit_reader.c — reading decisions back from the audit log (for `cdsd replay`), so that only
 * the audit module knows how a decision and its cards are stored. */
#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

struct cds_audit_reader {
    sqlite3 *db;
    sqlite3_stmt *st;
    cds_audit_card *cards;
    size_t cap, held;   /* held: cards of the current row, freed at the next row */
};

cds_audit_reader *cds_audit_reader_open(const char *path, int64_t since_ms, cds_error *err)
{
    cds_audit_reader *r = calloc(1, sizeof *r);
    if (!r) {
        cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory");
        return NULL;
    }
    if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->db, "SELECT decision, service, request, cards, time_ms FROM decision WHERE request IS NOT NULL"
                                  " AND outcome = 'ok' AND time_ms >= ? ORDER BY seq", -1, &r->st, NULL) != SQLITE_OK) {
        cds_error_set(err, CDS_EIO, NULL, "%s: %s", path, r->db ? sqlite3_errmsg(r->db) : "out of memory");
        cds_audit_reader_close(r);
        return NULL;
    }
    sqlite3_bind_int64(r->st, 1, since_ms);
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
    const char *json = (const char *)sqlite3_column_text(r->st, 3);
    cJSON *list = cJSON_Parse(json ? json : "[]"), *c;
    if (!cJSON_IsArray(list)) {
        cJSON_Delete(list);
        cds_error_set(err, CDS_EIO, NULL, "decision %s: its card list is not readable", out->decision ? out->decision : "?");
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(list);
    if (n > r->cap) {
        cds_audit_card *p = realloc(r->cards, n * sizeof *p);
        if (!p) {
            cJSON_Delete(list);
            cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory");
            return -1;
        }
        r->cards = p;
        r->cap = n;
    }
    cJSON_ArrayForEach(c, list) {
        cds_audit_card *k = &r->cards[out->ncards];
        k->uuid = strdup(str_of(c, "uuid"));
        k->rule = strdup(str_of(c, "rule"));
        k->indicator = strdup(str_of(c, "indicator"));
        r->held = ++out->ncards;
        if (!k->uuid || !k->rule || !k->indicator) {
            cJSON_Delete(list);
            cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory");
            return -1;
        }
    }
    cJSON_Delete(list);
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
    sqlite3_close(r->db);
    free(r->cards);
    free(r);
}
