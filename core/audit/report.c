/* report.c — audit-log statistics and the text report. */
#include "report.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "audit_file.h"
#include "audit_layout.h"
#include "audit_runs.h"
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

/* Per rule: every evaluation time seen, for p50/p99 (parallel to cds_report.rules). */
typedef struct rule_times {
    double *t;
    size_t n, cap;
} rule_times;

typedef struct build {
    cds_report *r;
    size_t rules_cap, times_cap;
    rule_times *times;
    bool oom;
} build;

/* One run of a rule: counted, and its time kept. */
static void count_run(build *b, const char *rule, long cards, bool error, double us)
{
    size_t before = b->r->nrules;
    cds_rule_stats *s = rule_slot(b->r, rule, &b->rules_cap, &b->oom);
    if (!s) return;
    if (b->r->nrules != before && !cds_grow(&b->times, &b->times_cap, b->r->nrules, sizeof *b->times)) {
        b->oom = true;
        return;
    }
    if (b->r->nrules != before) b->times[b->r->nrules - 1] = (rule_times){0};
    rule_times *t = &b->times[s - b->r->rules];
    s->runs++;
    if (cards > 0) s->fired++;
    if (error) s->errors++;
    if (!cds_grow(&t->t, &t->cap, t->n + 1, sizeof *t->t)) {
        b->oom = true;
        return;
    }
    t->t[t->n++] = us;
}

/* Layout 1: the rule list is JSON in each decision. */
static void runs_layout1(sqlite3 *db, build *b, int64_t since, int64_t until)
{
    sqlite3_stmt *st = prep(db, "SELECT json_extract(r.value,'$.rule'), json_extract(r.value,'$.cards'), json_extract(r.value,'$.us'),"
                                " json_extract(r.value,'$.error') IS NOT NULL FROM decision d, json_each(d.rules) r WHERE" TIME_FILTER,
                            since, until);
    while (st && !b->oom && sqlite3_step(st) == SQLITE_ROW)
        count_run(b, txt(st, 0), sqlite3_column_int(st, 1), sqlite3_column_int(st, 3), sqlite3_column_double(st, 2));
    sqlite3_finalize(st);
}

/* Layout 2: each decision's compact runs against its generation's rule list. */
static bool runs_layout2(sqlite3 *db, build *b, int64_t since, int64_t until, cds_error *err)
{
    sqlite3_stmt *st = prep(db, "SELECT d.gen, d.runs FROM decision d WHERE" TIME_FILTER, since, until);
    cds_audit_gen_cache cache = {0};
    bool ok = st != NULL;
    char rule[128];
    while (ok && !b->oom && sqlite3_step(st) == SQLITE_ROW) {
        const cds_audit_gen *gen = cds_audit_gen_cache_get(&cache, db, sqlite3_column_int64(st, 0), err);
        if (!gen) {
            ok = false;
            break;
        }
        cds_audit_runs_iter it = {.p = sqlite3_column_blob(st, 1), .gen = gen};
        it.end = it.p + sqlite3_column_bytes(st, 1);
        cds_audit_run run;
        int more;
        while ((more = cds_audit_runs_next(&it, &run)) == 1) {
            snprintf(rule, sizeof rule, "%.*s", (int)run.rule_len, run.rule);
            count_run(b, rule, run.cards, run.error != NULL, run.us);
        }
        if (more < 0) {
            cds_error_set(err, CDS_EIO, NULL, "a decision's rule list is not readable (generation %lld)",
                          (long long)sqlite3_column_int64(st, 0));
            ok = false;
        }
    }
    cds_audit_gen_cache_free(&cache);
    sqlite3_finalize(st);
    return ok;
}

cds_rc cds_report_build(const char *path, int64_t since, int64_t until, cds_report *r, cds_error *err)
{
    memset(r, 0, sizeof *r);
    build b = {.r = r};
    size_t services_cap = 0, days_cap = 0;
    bool oom = false;
    sqlite3 *db = cds_audit_file_open(path, err);
    if (!db) return CDS_EIO;
    int layout = cds_audit_layout_of(db);
    sqlite3_stmt *st = layout < 1 ? NULL : prep(db, "SELECT count(*), strftime('%Y-%m-%d', min(time_ms)/1000, 'unixepoch'),"
                                " strftime('%Y-%m-%d', max(time_ms)/1000, 'unixepoch') FROM decision d WHERE" TIME_FILTER,
                            since, until);
    if (!st) {
        cds_error_set(err, CDS_EIO, NULL, "%s: %s (is this an audit log?)", path, layout == 0 ? "no audit tables" : sqlite3_errmsg(db));
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
    if (layout == 1) runs_layout1(db, &b, since, until);
    else if (!runs_layout2(db, &b, since, until, err)) {
        for (size_t i = 0; i < r->nrules && b.times; i++) free(b.times[i].t);
        free(b.times);
        sqlite3_close(db);
        cds_report_free(r);
        return CDS_EIO;
    }
    for (size_t i = 0; i < r->nrules && b.times; i++) {
        rule_times *t = &b.times[i];
        if (t->n) qsort(t->t, t->n, sizeof *t->t, cmp_double);   /* a rule that never ran: t->t may be NULL */
        if (t->n) {
            r->rules[i].p50_us = t->t[(size_t)(0.5 * (double)(t->n - 1) + 0.5)];
            r->rules[i].p99_us = t->t[(size_t)(0.99 * (double)(t->n - 1) + 0.5)];
        }
        free(t->t);
    }
    free(b.times);
    oom = b.oom;
    size_t rules_cap = b.rules_cap;
    /* Layout 2 joins cards by the decision's seq and finds a card's latest feedback through the
     * feedback index: every query starts from the decisions of the period (decision_time). */
    const char *card_join = layout == 1 ? " card c JOIN decision d ON d.decision = c.decision "
                                        : " decision d CROSS JOIN card c ON c.decision = d.seq ";

    /* cards by indicator and their feedback (latest outcome per card) */
    char sql[1024];
    if (layout == 1)
        snprintf(sql, sizeof sql, "SELECT c.rule, c.indicator, count(*),"
                 " sum(f.outcome = 'accepted'), sum(f.outcome = 'overridden'), sum(f.outcome IS NULL) FROM %s"
                 " LEFT JOIN (SELECT card, outcome FROM feedback WHERE id IN (SELECT max(id) FROM feedback GROUP BY card)) f"
                 " ON f.card = c.uuid WHERE" TIME_FILTER " GROUP BY c.rule, c.indicator", card_join);
    else
        snprintf(sql, sizeof sql, "SELECT rule, indicator, count(*), sum(o = 'accepted'), sum(o = 'overridden'), sum(o IS NULL)"
                 " FROM (SELECT c.rule, c.indicator, (SELECT outcome FROM feedback f WHERE f.card = c.uuid ORDER BY seq DESC"
                 " LIMIT 1) o FROM %s WHERE" TIME_FILTER ") GROUP BY rule, indicator", card_join);
    st = prep(db, sql, since, until);
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
    snprintf(sql, sizeof sql, "SELECT c.rule, coalesce(nullif(f.reason_display,''), nullif(f.reason_code,''), 'no reason given'),"
             " count(*) FROM %s CROSS JOIN feedback f ON f.card = c.uuid WHERE f.outcome = 'overridden' AND" TIME_FILTER
             " GROUP BY 1, 2 ORDER BY 1, 3 DESC", card_join);
    st = prep(db, sql, since, until);
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
    snprintf(sql, sizeof sql, "SELECT strftime('%%Y-%%m-%%d', d.time_ms/1000, 'unixepoch'), c.rule, count(*) FROM %s WHERE"
             TIME_FILTER " GROUP BY 1, 2 ORDER BY 1, 2", card_join);
    st = prep(db, sql, since, until);
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
