/* report.c — audit-log statistics and the text report. */
#include "report.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The rule's row; NULL (out of memory) sets *oom: the report then fails rather than omit it. */
static cds_rule_stats *rule_slot(cds_report *r, const char *rule, size_t *cap, bool *oom)
{
    for (size_t i = 0; i < r->nrules; i++)
        if (strcmp(r->rules[i].rule, rule) == 0) return &r->rules[i];
    if (!cds_grow(&r->rules, cap, r->nrules + 1, sizeof *r->rules)) {
        *oom = true;
        return NULL;
    }
    cds_rule_stats *s = &r->rules[r->nrules++];
    memset(s, 0, sizeof *s);
    snprintf(s->rule, sizeof s->rule, "%s", rule);
    return s;
}

#define TIME_FILTER " d.time_ms >= ?1 AND d.time_ms < ?2 "

static sqlite3_stmt *prep(sqlite3 *db, const char *sql, int64_t since, int64_t until)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return NULL;
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_int64(st, 2, until);
    return st;
}

static const char *txt(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? (const char *)s : "";
}

cds_rc cds_report_build(const char *path, int64_t since, int64_t until, cds_report *r, cds_error *err)
{
    memset(r, 0, sizeof *r);
    size_t rules_cap = 0, services_cap = 0, days_cap = 0;
    bool oom = false;
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        cds_error_set(err, CDS_EIO, NULL, "%s: %s", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return CDS_EIO;
    }
    sqlite3_stmt *st = prep(db, "SELECT count(*), strftime('%Y-%m-%d', min(time_ms)/1000, 'unixepoch'),"
                                " strftime('%Y-%m-%d', max(time_ms)/1000, 'unixepoch') FROM decision d WHERE" TIME_FILTER,
                            since, until);
    if (!st) {
        cds_error_set(err, CDS_EIO, NULL, "%s: %s (is this an audit log?)", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return CDS_EIO;
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        r->decisions = sqlite3_column_int64(st, 0);
        snprintf(r->since, sizeof r->since, "%s", txt(st, 1));
        snprintf(r->until, sizeof r->until, "%s", txt(st, 2));
    }
    sqlite3_finalize(st);

    /* runs, firings, errors and evaluation times per rule, from each decision's rule list */
    st = prep(db, "SELECT json_extract(r.value,'$.rule'), json_extract(r.value,'$.cards'), json_extract(r.value,'$.us'),"
                  " json_extract(r.value,'$.error') IS NOT NULL FROM decision d, json_each(d.rules) r WHERE" TIME_FILTER
                  " ORDER BY 1", since, until);
    double *times = NULL;
    size_t nt = 0, cap = 0;
    cds_rule_stats *cur = NULL;
    for (int rc = st ? sqlite3_step(st) : SQLITE_DONE;; rc = sqlite3_step(st)) {
        const char *rule = rc == SQLITE_ROW ? txt(st, 0) : NULL;
        if (cur && (!rule || strcmp(cur->rule, rule) != 0)) {
            qsort(times, nt, sizeof *times, cmp_double);
            if (nt) {
                cur->p50_us = times[(size_t)(0.5 * (double)(nt - 1) + 0.5)];
                cur->p99_us = times[(size_t)(0.99 * (double)(nt - 1) + 0.5)];
            }
            nt = 0;
        }
        if (rc != SQLITE_ROW) break;
        cur = rule_slot(r, rule, &rules_cap, &oom);
        if (!cur) break;
        cur->runs++;
        if (sqlite3_column_int(st, 1) > 0) cur->fired++;
        if (sqlite3_column_int(st, 3)) cur->errors++;
        if (!cds_grow(&times, &cap, nt + 1, sizeof *times)) {
            oom = true;
            break;
        }
        times[nt++] = sqlite3_column_double(st, 2);
    }
    free(times);
    sqlite3_finalize(st);

    /* cards by indicator and their feedback (latest outcome per card) */
    st = prep(db, "SELECT c.rule, c.indicator, count(*),"
                  " sum(f.outcome = 'accepted'), sum(f.outcome = 'overridden'), sum(f.outcome IS NULL)"
                  " FROM card c JOIN decision d ON d.decision = c.decision"
                  " LEFT JOIN (SELECT card, outcome FROM feedback WHERE id IN (SELECT max(id) FROM feedback GROUP BY card)) f"
                  " ON f.card = c.uuid WHERE" TIME_FILTER " GROUP BY c.rule, c.indicator", since, until);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        cds_rule_stats *s = rule_slot(r, txt(st, 0), &rules_cap, &oom);
        if (!s) break;
        long n = sqlite3_column_int64(st, 2);
        const char *ind = txt(st, 1);
        if (!strcmp(ind, "critical")) s->critical += n;
        else if (!strcmp(ind, "warning")) s->warning += n;
        else s->info += n;
        s->accepted += sqlite3_column_int64(st, 3);
        s->overridden += sqlite3_column_int64(st, 4);
        s->no_feedback += sqlite3_column_int64(st, 5);
    }
    sqlite3_finalize(st);

    /* top override reasons */
    st = prep(db, "SELECT c.rule, coalesce(nullif(f.reason_display,''), nullif(f.reason_code,''), 'no reason given'), count(*)"
                  " FROM feedback f JOIN card c ON c.uuid = f.card JOIN decision d ON d.decision = c.decision"
                  " WHERE f.outcome = 'overridden' AND" TIME_FILTER " GROUP BY 1, 2 ORDER BY 1, 3 DESC", since, until);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        cds_rule_stats *s = rule_slot(r, txt(st, 0), &rules_cap, &oom);
        if (!s) break;
        for (int k = 0; k < 3; k++)
            if (!s->reason_counts[k]) {
                snprintf(s->reasons[k], sizeof s->reasons[k], "%s", txt(st, 1));
                s->reason_counts[k] = sqlite3_column_int64(st, 2);
                break;
            }
    }
    sqlite3_finalize(st);

    /* per service */
    st = prep(db, "SELECT service, outcome, count(*) FROM decision d WHERE" TIME_FILTER " GROUP BY 1, 2 ORDER BY 1, 2", since, until);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        const char *svc = txt(st, 0);
        cds_service_stats *s = NULL;
        for (size_t i = 0; i < r->nservices; i++)
            if (!strcmp(r->services[i].service, svc)) s = &r->services[i];
        if (!s) {
            if (!cds_grow(&r->services, &services_cap, r->nservices + 1, sizeof *r->services)) {
                oom = true;
                break;
            }
            s = &r->services[r->nservices++];
            memset(s, 0, sizeof *s);
            snprintf(s->service, sizeof s->service, "%s", svc);
        }
        long n = sqlite3_column_int64(st, 2);
        s->requests += n;
        if (strcmp(txt(st, 1), "ok") != 0) {
            s->errors += n;
            size_t l = strlen(s->by_code);
            snprintf(s->by_code + l, sizeof s->by_code - l, "%s%s=%ld", l ? ", " : "", txt(st, 1), n);
        }
    }
    sqlite3_finalize(st);

    /* cards per rule per day */
    st = prep(db, "SELECT strftime('%Y-%m-%d', d.time_ms/1000, 'unixepoch'), c.rule, count(*) FROM card c"
                  " JOIN decision d ON d.decision = c.decision WHERE" TIME_FILTER " GROUP BY 1, 2 ORDER BY 1, 2", since, until);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        if (!cds_grow(&r->days, &days_cap, r->ndays + 1, sizeof *r->days)) {
            oom = true;
            break;
        }
        cds_day_stats *d = &r->days[r->ndays++];
        snprintf(d->day, sizeof d->day, "%s", txt(st, 0));
        snprintf(d->rule, sizeof d->rule, "%s", txt(st, 1));
        d->cards = sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (oom) {
        cds_report_free(r);
        return cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory building the report");
    }
    return CDS_OK;
}

void cds_report_free(cds_report *r)
{
    free(r->rules);
    free(r->services);
    free(r->days);
    memset(r, 0, sizeof *r);
}

void cds_report_text(const cds_report *r, FILE *out)
{
    fprintf(out, "cdsd alert report: %ld decisions%s%s%s%s\n\n", r->decisions, r->since[0] ? " from " : "", r->since,
            r->until[0] ? " to " : "", r->until);
    fprintf(out, "%-26s %6s %6s %5s %6s %6s %6s %6s %6s %6s %8s %8s %8s\n", "rule", "runs", "fired", "err", "info",
            "warn", "crit", "accept", "overr", "nofb", "override", "p50 us", "p99 us");
    for (size_t i = 0; i < r->nrules; i++) {
        const cds_rule_stats *s = &r->rules[i];
        long fb = s->accepted + s->overridden;
        char rate[16] = "-";
        if (fb) snprintf(rate, sizeof rate, "%.0f%%", 100.0 * (double)s->overridden / (double)fb);
        fprintf(out, "%-26s %6ld %6ld %5ld %6ld %6ld %6ld %6ld %6ld %6ld %8s %8.0f %8.0f\n", s->rule, s->runs, s->fired,
                s->errors, s->info, s->warning, s->critical, s->accepted, s->overridden, s->no_feedback, rate, s->p50_us,
                s->p99_us);
        for (int k = 0; k < 3 && s->reason_counts[k]; k++)
            fprintf(out, "    override reason: %s (%ld)\n", s->reasons[k], s->reason_counts[k]);
    }
    fprintf(out, "\n%-28s %9s %7s  %s\n", "service", "requests", "errors", "by code");
    for (size_t i = 0; i < r->nservices; i++)
        fprintf(out, "%-28s %9ld %7ld  %s\n", r->services[i].service, r->services[i].requests, r->services[i].errors,
                r->services[i].by_code);
}
