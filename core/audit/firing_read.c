/* firing_read.c — the daily runs and cards per service and rule, read from audit logs for the
 * firing-rate p-chart (firing_rate.h). Every query starts from the decisions of the period
 * (the decision_time index); shadow decisions are skipped. */
#include "firing_rate.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "audit_file.h"
#include "audit_history.h"
#include "audit_layout.h"
#include "audit_runs.h"

#define DAY_MS 86400000LL

static const char *txt(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? (const char *)s : "";
}

/* A log written before decision.shadow has no shadow decisions. */
static bool has_shadow(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    bool yes = sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info('decision') WHERE name = 'shadow'", -1, &st, NULL) ==
                   SQLITE_OK &&
               sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return yes;
}

static bool count(cds_firing_table *t, const char *service, const char *rule, int64_t ms, long cards)
{
    if (ms < t->day0_ms) return true;
    size_t day = (size_t)((ms - t->day0_ms) / DAY_MS);
    if (day >= t->ndays) return true;
    cds_firing_series *s = cds_firing_series_at(t, service, rule);
    if (!s) return false;
    s->days[day].runs++;
    s->days[day].cards += cards;
    return true;
}

/* The live log as of its last checkpoint, without taking part in its locking (immutable): a
 * second connection to the log inside the serving process kept its writer from seeing a later
 * schema change (test_server: a dropped trigger still refused decisions). */
static sqlite3 *open_beside_writer(const char *path, cds_error *err)
{
    char uri[3200] = "file:";
    size_t n = strlen(uri);
    for (const char *p = path; *p && n + 4 < sizeof uri; p++) {
        if (*p == '?' || *p == '#' || *p == '%') n += (size_t)snprintf(uri + n, sizeof uri - n, "%%%02X", (unsigned char)*p);
        else uri[n++] = *p;
    }
    snprintf(uri + n, sizeof uri - n, "?immutable=1");
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
        cds_error_set(err, CDS_EIO, NULL, "%s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static cds_rc read_file(const char *path, cds_firing_table *t, cds_error *err, bool beside_writer)
{
    sqlite3 *db = beside_writer ? open_beside_writer(path, err) : cds_audit_file_open(path, err);
    if (!db) return CDS_EIO;
    int layout = cds_audit_layout_of(db);
    if (layout == 0 && beside_writer) {   /* the service's new log, not yet checkpointed: nothing to read */
        sqlite3_close(db);
        return CDS_OK;
    }
    char sql[512];
    if (layout == 1)
        snprintf(sql, sizeof sql, "SELECT d.service, d.time_ms, json_extract(r.value,'$.rule'), json_extract(r.value,'$.cards')"
                                  " FROM decision d, json_each(d.rules) r WHERE d.time_ms >= ?1 AND d.time_ms < ?2");
    else
        snprintf(sql, sizeof sql, "SELECT d.service, d.time_ms, d.gen, d.runs FROM decision d WHERE d.time_ms >= ?1 AND"
                                  " d.time_ms < ?2%s", has_shadow(db) ? " AND d.shadow IS NULL" : "");
    sqlite3_stmt *st = NULL;
    if (layout < 1 || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        cds_error_set(err, CDS_EIO, NULL, "%s: %s (is this an audit log?)", path, layout == 0 ? "no audit tables" : sqlite3_errmsg(db));
        sqlite3_close(db);
        return CDS_EIO;
    }
    sqlite3_bind_int64(st, 1, t->day0_ms);
    sqlite3_bind_int64(st, 2, t->day0_ms + (int64_t)t->ndays * DAY_MS);
    cds_audit_gen_cache cache = {0};
    cds_rc rc = CDS_OK;
    char rule[128];
    int step = SQLITE_DONE;
    while (rc == CDS_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *service = txt(st, 0);
        int64_t ms = sqlite3_column_int64(st, 1);
        if (layout == 1) {
            if (!count(t, service, txt(st, 2), ms, sqlite3_column_int(st, 3))) rc = CDS_EINTERNAL;
            continue;
        }
        const cds_audit_gen *gen = cds_audit_gen_cache_get(&cache, db, sqlite3_column_int64(st, 2), err);
        if (!gen) {
            rc = CDS_EIO;
            break;
        }
        cds_audit_runs_iter it = {.p = sqlite3_column_blob(st, 3), .gen = gen};
        it.end = it.p + sqlite3_column_bytes(st, 3);
        cds_audit_run run;
        int more = 0;
        while (rc == CDS_OK && (more = cds_audit_runs_next(&it, &run)) == 1) {
            snprintf(rule, sizeof rule, "%.*s", (int)run.rule_len, run.rule);
            if (!count(t, service, rule, ms, run.cards)) rc = CDS_EINTERNAL;
        }
        if (rc == CDS_OK && more < 0)
            rc = cds_error_set(err, CDS_EIO, NULL, "%s: a decision's rule list is not readable (generation %lld)", path,
                               (long long)sqlite3_column_int64(st, 2));
    }
    if (rc == CDS_OK && step != SQLITE_DONE) rc = cds_error_set(err, CDS_EIO, NULL, "%s: %s", path, sqlite3_errmsg(db));
    if (rc == CDS_EINTERNAL) cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory reading firing rates");
    cds_audit_gen_cache_free(&cache);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

cds_rc cds_firing_read(const char *const *paths, size_t n, cds_firing_table *t, cds_error *err)
{
    for (size_t i = 0; i < n; i++) {
        cds_rc rc = read_file(paths[i], t, err, false);
        if (rc != CDS_OK) return rc;
    }
    return CDS_OK;
}

/* An archive named audit-until-DAY.db.gz (cdsd audit archive) holds only decisions before the
 * end of DAY: one whose DAY is before the first day of the table is not opened (inflated). */
static bool before_table(const char *path, const cds_firing_table *t)
{
    const char *name = strrchr(path, '/'), *tag = "audit-until-";
    name = name ? name + 1 : path;
    if (strncmp(name, tag, strlen(tag)) || strlen(name) < strlen(tag) + 10) return false;
    char first[16];
    time_t s = (time_t)(t->day0_ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(first, sizeof first, "%Y-%m-%d", &tm);
    return strncmp(name + strlen(tag), first, 10) < 0;
}

cds_rc cds_firing_read_state(const char *state, cds_firing_table *t, bool in_server, cds_error *err)
{
    cds_audit_history h;
    if (!cds_audit_history_list(state, NULL, &h)) return cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory");
    cds_rc rc = CDS_OK;
    for (size_t i = 0; i < h.n && rc == CDS_OK; i++)
        if (i == h.live || !before_table(h.files[i], t)) rc = read_file(h.files[i], t, err, in_server && i == h.live);
    cds_audit_history_free(&h);
    return rc;
}
