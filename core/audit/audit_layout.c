/* audit_layout.c — the audit database's tables (see audit_layout.h). */
#include "audit_layout.h"

#include <stdbool.h>
#include <stddef.h>

const char CDS_AUDIT_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS generation(id INTEGER PRIMARY KEY, pack TEXT, pack_version TEXT, pack_digest TEXT,"
    " kb_digest TEXT, rules TEXT, mac BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS decision(seq INTEGER PRIMARY KEY, decision TEXT NOT NULL UNIQUE, time_ms INTEGER NOT NULL,"
    " outcome TEXT NOT NULL, service TEXT, hook TEXT, hook_instance TEXT, caller TEXT, gen INTEGER, runs BLOB, error TEXT,"
    " request_sha256 BLOB, patient_key BLOB, decode_us INTEGER, eval_us INTEGER, total_us INTEGER, request BLOB,"
    " mac BLOB NOT NULL, shadow INTEGER);"
    /* report --since reads a period through this index, not the whole history */
    "CREATE INDEX IF NOT EXISTS decision_time ON decision(time_ms);"
    /* one b-tree (no rowid beside the key), in the decision's order: verify reads it alongside */
    "CREATE TABLE IF NOT EXISTS card(decision INTEGER NOT NULL, ord INTEGER NOT NULL, uuid TEXT NOT NULL, rule TEXT,"
    " indicator TEXT, ext BLOB, PRIMARY KEY(decision, ord)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS card_uuid ON card(uuid);"
    "CREATE TABLE IF NOT EXISTS feedback(seq INTEGER PRIMARY KEY, service TEXT, card TEXT NOT NULL, outcome TEXT NOT NULL,"
    " outcome_time TEXT NOT NULL, accepted TEXT, reason_system TEXT, reason_code TEXT, reason_display TEXT, comment TEXT,"
    " received_ms INTEGER NOT NULL, known_card INTEGER NOT NULL, mac BLOB NOT NULL,"
    " UNIQUE(card, outcome, outcome_time, accepted, reason_code));"
    "PRAGMA user_version=2;";

/* A column added after layout 2 was first written: where ALTER TABLE puts it (last), so that a
 * log written before it and upgraded has the same column order as a new one. */
static const struct { const char *table, *column, *type; } ADDED[] = {
    {"decision", "shadow", "INTEGER"},
    {"card", "ext", "BLOB"},
};

bool cds_audit_layout_upgrade(sqlite3 *db, const char *schema)
{
    for (size_t i = 0; i < sizeof ADDED / sizeof ADDED[0]; i++) {
        char *q = sqlite3_mprintf("SELECT count(*) FROM pragma_table_info(%Q, %Q) WHERE name = %Q", ADDED[i].table, schema,
                                  ADDED[i].column);
        sqlite3_stmt *st = NULL;
        int have = -1;
        if (q && sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
            have = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        sqlite3_free(q);
        if (have < 0) return false;
        if (have) continue;
        q = sqlite3_mprintf("ALTER TABLE \"%w\".%s ADD COLUMN %s %s", schema, ADDED[i].table, ADDED[i].column, ADDED[i].type);
        int rc = q ? sqlite3_exec(db, q, NULL, NULL, NULL) : SQLITE_NOMEM;
        sqlite3_free(q);
        if (rc != SQLITE_OK) return false;
    }
    return true;
}

int cds_audit_layout_of(sqlite3 *db)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT (SELECT user_version FROM pragma_user_version),"
                               " (SELECT count(*) FROM sqlite_schema WHERE name='decision'),"
                               " (SELECT count(*) FROM pragma_table_info('decision') WHERE name='row_hash')",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    int layout = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        int uv = sqlite3_column_int(st, 0), has = sqlite3_column_int(st, 1), v1 = sqlite3_column_int(st, 2);
        layout = uv == CDS_AUDIT_LAYOUT ? 2 : v1 ? 1 : !has && uv == 0 ? 0 : -1;
    }
    sqlite3_finalize(st);
    return layout;
}
