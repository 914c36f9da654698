/* suppress_store.c — the local repeat-suppression store: SQLite in WAL mode, one connection
 * behind a mutex (a lookup is a primary-key or index hit: microseconds). Rows:
 *   shown(card PK, patient, rule, key, encounter, time_ms)   index (patient, rule, key, encounter)
 *   override(patient, rule, key PK, time_ms, card)           the last override per alert
 * synchronous=NORMAL: a committed row survives the process being killed (it is in the WAL file);
 * a power cut may lose the last commits, which only means a card is shown once more. */
#include "suppress_store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "private_file.h"

typedef struct sqlite_store {
    cds_suppress_store base;  /* first: the interface */
    sqlite3 *db;
    sqlite3_stmt *get_override, *get_encounter, *put_shown, *get_shown, *put_override;
    pthread_mutex_t mu;
} sqlite_store;

static const char SCHEMA[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS shown(card TEXT PRIMARY KEY, patient TEXT NOT NULL, rule TEXT NOT NULL,"
    " key TEXT NOT NULL, encounter TEXT, time_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS shown_alert ON shown(patient, rule, key, encounter);"
    "CREATE TABLE IF NOT EXISTS override(patient TEXT NOT NULL, rule TEXT NOT NULL, key TEXT NOT NULL,"
    " time_ms INTEGER NOT NULL, card TEXT NOT NULL, PRIMARY KEY(patient, rule, key)) WITHOUT ROWID;";

static void bind_texts(sqlite3_stmt *st, const char *const *v, int n)
{
    sqlite3_reset(st);
    for (int i = 0; i < n; i++) sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_STATIC);
}

static bool lookup(cds_suppress_store *base, const char *patient, const char *rule, const char *key,
                   const char *encounter, const char *card_uuid, cds_suppress_seen *out)
{
    sqlite_store *s = (sqlite_store *)base;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    const char *alert[] = {patient, rule, key, encounter, card_uuid};
    bind_texts(s->get_override, alert, 3);
    int rc = sqlite3_step(s->get_override);
    if (rc == SQLITE_ROW) {
        out->overridden_ms = sqlite3_column_int64(s->get_override, 0);
        snprintf(out->override_card, sizeof out->override_card, "%s",
                 (const char *)sqlite3_column_text(s->get_override, 1));
    }
    bool ok = rc == SQLITE_ROW || rc == SQLITE_DONE;
    sqlite3_reset(s->get_override);
    if (ok && encounter) {
        bind_texts(s->get_encounter, alert, 5);
        rc = sqlite3_step(s->get_encounter);
        out->shown_in_encounter = rc == SQLITE_ROW;
        ok = rc == SQLITE_ROW || rc == SQLITE_DONE;
        sqlite3_reset(s->get_encounter);
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

static bool note_shown(cds_suppress_store *base, const char *patient, const char *rule, const char *key,
                       const char *encounter, const char *card_uuid, int64_t ms)
{
    sqlite_store *s = (sqlite_store *)base;
    pthread_mutex_lock(&s->mu);
    const char *row[] = {card_uuid, patient, rule, key, encounter};
    bind_texts(s->put_shown, row, 5);
    sqlite3_bind_int64(s->put_shown, 6, ms);
    bool ok = sqlite3_step(s->put_shown) == SQLITE_DONE;
    sqlite3_reset(s->put_shown);
    pthread_mutex_unlock(&s->mu);
    return ok;
}

static bool note_override(cds_suppress_store *base, const char *card_uuid, int64_t ms)
{
    sqlite_store *s = (sqlite_store *)base;
    pthread_mutex_lock(&s->mu);
    bind_texts(s->get_shown, &card_uuid, 1);
    int rc = sqlite3_step(s->get_shown);
    bool ok = rc == SQLITE_DONE;   /* a card the store never saw: nothing to remember */
    if (rc == SQLITE_ROW) {
        bind_texts(s->put_override, NULL, 0);
        for (int i = 0; i < 3; i++)
            sqlite3_bind_text(s->put_override, i + 1, (const char *)sqlite3_column_text(s->get_shown, i), -1,
                              SQLITE_TRANSIENT);
        sqlite3_bind_int64(s->put_override, 4, ms);
        sqlite3_bind_text(s->put_override, 5, card_uuid, -1, SQLITE_STATIC);
        ok = sqlite3_step(s->put_override) == SQLITE_DONE;
        sqlite3_reset(s->put_override);
    }
    sqlite3_reset(s->get_shown);
    pthread_mutex_unlock(&s->mu);
    return ok;
}

static void store_close(cds_suppress_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    if (!s) return;
    sqlite3_finalize(s->get_override);
    sqlite3_finalize(s->get_encounter);
    sqlite3_finalize(s->put_shown);
    sqlite3_finalize(s->get_shown);
    sqlite3_finalize(s->put_override);
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

cds_suppress_store *cds_suppress_sqlite_open(const char *path, cds_error *err)
{
    sqlite_store *s = calloc(1, sizeof *s);
    if (!s) {
        cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory opening %s", path);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->base = (cds_suppress_store){lookup, note_shown, note_override, store_close};
    /* a newer override never loses to an older one arriving late */
    static const char put_override[] =
        "INSERT INTO override(patient, rule, key, time_ms, card) VALUES(?1, ?2, ?3, ?4, ?5)"
        " ON CONFLICT(patient, rule, key) DO UPDATE SET time_ms = excluded.time_ms, card = excluded.card"
        " WHERE excluded.time_ms >= override.time_ms";
    if (cds_create_private(path) != 0 || sqlite3_open(path, &s->db) != SQLITE_OK ||
        sqlite3_busy_timeout(s->db, 5000) != SQLITE_OK || sqlite3_exec(s->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT time_ms, card FROM override WHERE patient = ?1 AND rule = ?2 AND key = ?3", -1,
                           &s->get_override, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT 1 FROM shown WHERE patient = ?1 AND rule = ?2 AND key = ?3 AND encounter = ?4"
                                  " AND card != ?5 LIMIT 1", -1, &s->get_encounter, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO shown(card, patient, rule, key, encounter, time_ms)"
                                  " VALUES(?1, ?2, ?3, ?4, ?5, ?6)", -1, &s->put_shown, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT patient, rule, key FROM shown WHERE card = ?1", -1, &s->get_shown, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, put_override, -1, &s->put_override, NULL) != SQLITE_OK) {
        cds_error_set(err, CDS_EIO, NULL, "%s: the suppression store cannot be opened: %s", path,
                      s->db ? sqlite3_errmsg(s->db) : "cannot create it");
        store_close(&s->base);
        return NULL;
    }
    return &s->base;
}
