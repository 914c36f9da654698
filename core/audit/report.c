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

/* Override reasons and error codes are counted over every database before the top reasons and
 * the per-code lists are made, so that a merged report is exact. */
typedef struct reason_count { char rule[128], reason[160]; long n; } reason_count;
typedef struct code_count { char service[128], code[64]; long n; } code_count;

typedef struct build {
    cds_report *r;
    size_t rules_cap, times_cap, ntimes, services_cap, days_cap;
    rule_times *times;
    reason_count *reasons;
    size_t nreasons, reasons_cap;
    code_count *codes;
    size_t ncodes, codes_cap;
    bool oom;
} build;

/* The rule's row, with its list of times beside it; NULL when out of memory. */
static cds_rule_stats *rule_at(build *b, const char *rule)
{
    cds_rule_stats *s = rule_slot(b->r, rule, &b->rules_cap, &b->oom);
    if (!s) return NULL;
    if (b->ntimes < b->r->nrules) {
        if (!cds_grow(&b->times, &b->times_cap, b->r->nrules, sizeof *b->times)) {
            b->oom = true;
            return NULL;
        }
        for (; b->ntimes < b->r->nrules; b->ntimes++) b->times[b->ntimes] = (rule_times){0};
    }
    return s;
}

/* One run of a rule: counted, and its time kept. */
static void count_run(build *b, const char *rule, long cards, bool error, double us)
{
    cds_rule_stats *s = rule_at(b, rule);
    if (!s) return;
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

static int cmp_day(const void *a, const void *b)
{
    const cds_day_stats *x = a, *y = b;
    int c = strcmp(x->day, y->day);
    return c ? c : strcmp(x->rule, y->rule);
}

static int cmp_reason(const void *a, const void *b)
{
    const reason_count *x = a, *y = b;
    int c = strcmp(x->rule, y->rule);
    return c ? c : x->n != y->n ? (x->n < y->n ? 1 : -1) : strcmp(x->reason, y->reason);
}

static int cmp_code(const void *a, const void *b)
{
    const code_count *x = a, *y = b;
    int c = strcmp(x->service, y->service);
    return c ? c : strcmp(x->code, y->code);
}

static void count_reason(build *b, const char *rule, const char *reason, long n)
{
    for (size_t i = 0; i < b->nreasons; i++)
        if (!strcmp(b->reasons[i].rule, rule) && !strcmp(b->reasons[i].reason, reason)) {
            b->reasons[i].n += n;
            return;
        }
    if (!cds_grow(&b->reasons, &b->reasons_cap, b->nreasons + 1, sizeof *b->reasons)) {
        b->oom = true;
        return;
    }
    reason_count *c = &b->reasons[b->nreasons++];
    snprintf(c->rule, sizeof c->rule, "%s", rule);
    snprintf(c->reason, sizeof c->reason, "%s", reason);
    c->n = n;
}

static void count_service(build *b, const char *svc, const char *outcome, long n)
{
    cds_report *r = b->r;
    cds_service_stats *s = NULL;
    for (size_t i = 0; i < r->nservices && !s; i++)
        if (!strcmp(r->services[i].service, svc)) s = &r->services[i];
    if (!s) {
        if (!cds_grow(&r->services, &b->services_cap, r->nservices + 1, sizeof *r->services)) {
            b->oom = true;
            return;
        }
        s = &r->services[r->nservices++];
        memset(s, 0, sizeof *s);
        snprintf(s->service, sizeof s->service, "%s", svc);
    }
    s->requests += n;
    if (!strcmp(outcome, "ok")) return;
    s->errors += n;
    for (size_t i = 0; i < b->ncodes; i++)
        if (!strcmp(b->codes[i].service, svc) && !strcmp(b->codes[i].code, outcome)) {
            b->codes[i].n += n;
            return;
        }
    if (!cds_grow(&b->codes, &b->codes_cap, b->ncodes + 1, sizeof *b->codes)) {
        b->oom = true;
        return;
    }
    code_count *c = &b->codes[b->ncodes++];
    snprintf(c->service, sizeof c->service, "%s", svc);
    snprintf(c->code, sizeof c->code, "%s", outcome);
    c->n = n;
}

/* Cards of a rule on a day; days[0..sorted) are in order (the databases read before). */
static void count_day(build *b, size_t sorted, const char *day, const char *rule, long cards)
{
    cds_report *r = b->r;
    cds_day_stats key;
    snprintf(key.day, sizeof key.day, "%s", day);
    snprintf(key.rule, sizeof key.rule, "%s", rule);
    cds_day_stats *d = sorted ? bsearch(&key, r->days, sorted, sizeof *r->days, cmp_day) : NULL;
    if (d) {
        d->cards += cards;
        return;
    }
    if (!cds_grow(&r->days, &b->days_cap, r->ndays + 1, sizeof *r->days)) {
        b->oom = true;
        return;
    }
    key.cards = cards;
    r->days[r->ndays++] = key;
}

/* Adds one database's rows between since and until to the report being built. */
static cds_rc add_file(build *b, const char *path, int64_t since, int64_t until, cds_error *err)
{
    cds_report *r = b->r;
    sqlite3 *db = cds_audit_file_open(path, err);
    if (!db) return CDS_EIO;
    if (!cds_audit_live_only(db, err)) {
        sqlite3_close(db);
        return CDS_EIO;
    }
    int layout = cds_audit_layout_of(db);
    sqlite3_stmt *st = layout < 1 ? NULL : prep(db, "SELECT count(*), strftime('%Y-%m-%d', min(time_ms)/1000, 'unixepoch'),"
                                " strftime('%Y-%m-%d', max(time_ms)/1000, 'unixepoch') FROM decision d WHERE" TIME_FILTER,
                            since, until);
    if (!st) {
        cds_error_set(err, CDS_EIO, NULL, "%s: %s (is this an audit log?)", path, layout == 0 ? "no audit tables" : sqlite3_errmsg(db));
        sqlite3_close(db);
        return CDS_EIO;
    }
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0) {
        r->decisions += sqlite3_column_int64(st, 0);
        if (!r->since[0] || strcmp(txt(st, 1), r->since) < 0) snprintf(r->since, sizeof r->since, "%s", txt(st, 1));
        if (strcmp(txt(st, 2), r->until) > 0) snprintf(r->until, sizeof r->until, "%s", txt(st, 2));
    }
    sqlite3_finalize(st);

    /* runs, firings, errors and evaluation times per rule, from each decision's rule list */
    if (layout == 1) runs_layout1(db, b, since, until);
    else if (!runs_layout2(db, b, since, until, err)) {
        sqlite3_close(db);
        return CDS_EIO;
    }
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
    while (st && !b->oom && sqlite3_step(st) == SQLITE_ROW) {
        cds_rule_stats *s = rule_at(b, txt(st, 0));
        if (!s) break;
        long n = sqlite3_column_int64(st, 2);
        const char *ind = txt(st, 1);
        if (!strcmp(ind, "suppressed")) continue;   /* dropped repeats (README "Repeat suppression"): never shown */
        if (!strcmp(ind, "critical")) s->critical += n;
        else if (!strcmp(ind, "warning")) s->warning += n;
        else s->info += n;
        s->accepted += sqlite3_column_int64(st, 3);
        s->overridden += sqlite3_column_int64(st, 4);
        s->no_feedback += sqlite3_column_int64(st, 5);
    }
    sqlite3_finalize(st);

    /* an example decision per rule, the latest (decision ids are UUIDv7: they sort by time), whose
     * cards `cdsd explain` shows with their explanations */
    snprintf(sql, sizeof sql, "SELECT c.rule, max(d.decision) FROM %s WHERE" TIME_FILTER " GROUP BY c.rule", card_join);
    st = prep(db, sql, since, until);
    while (st && !b->oom && sqlite3_step(st) == SQLITE_ROW) {
        cds_rule_stats *s = rule_at(b, txt(st, 0));
        if (s && strcmp(txt(st, 1), s->example) > 0) snprintf(s->example, sizeof s->example, "%s", txt(st, 1));
    }
    sqlite3_finalize(st);

    /* override reasons (the top ones are picked once every database is read) */
    snprintf(sql, sizeof sql, "SELECT c.rule, coalesce(nullif(f.reason_display,''), nullif(f.reason_code,''), 'no reason given'),"
             " count(*) FROM %s CROSS JOIN feedback f ON f.card = c.uuid WHERE f.outcome = 'overridden' AND" TIME_FILTER
             " GROUP BY 1, 2", card_join);
    st = prep(db, sql, since, until);
    while (st && !b->oom && sqlite3_step(st) == SQLITE_ROW)
        if (rule_at(b, txt(st, 0))) count_reason(b, txt(st, 0), txt(st, 1), sqlite3_column_int64(st, 2));
    sqlite3_finalize(st);

    /* per service */
    st = prep(db, "SELECT service, outcome, count(*) FROM decision d WHERE" TIME_FILTER " GROUP BY 1, 2", since, until);
    while (st && !b->oom && sqlite3_step(st) == SQLITE_ROW) count_service(b, txt(st, 0), txt(st, 1), sqlite3_column_int64(st, 2));
    sqlite3_finalize(st);

    /* cards per rule per day */
    size_t sorted = r->ndays;
    snprintf(sql, sizeof sql, "SELECT strftime('%%Y-%%m-%%d', d.time_ms/1000, 'unixepoch'), c.rule, count(*) FROM %s WHERE"
             TIME_FILTER " GROUP BY 1, 2", card_join);
    st = prep(db, sql, since, until);
    while (st && !b->oom && sqlite3_step(st) == SQLITE_ROW) count_day(b, sorted, txt(st, 0), txt(st, 1), sqlite3_column_int64(st, 2));
    sqlite3_finalize(st);
    if (r->ndays) qsort(r->days, r->ndays, sizeof *r->days, cmp_day);
    sqlite3_close(db);
    return CDS_OK;
}

/* Percentiles over every database's times, the top override reasons, the errors by code. */
static void finish(build *b)
{
    cds_report *r = b->r;
    for (size_t i = 0; i < b->ntimes; i++) {
        rule_times *t = &b->times[i];
        if (!t->n) continue;
        qsort(t->t, t->n, sizeof *t->t, cmp_double);
        r->rules[i].p50_us = t->t[(size_t)(0.5 * (double)(t->n - 1) + 0.5)];
        r->rules[i].p99_us = t->t[(size_t)(0.99 * (double)(t->n - 1) + 0.5)];
    }
    if (b->nreasons) qsort(b->reasons, b->nreasons, sizeof *b->reasons, cmp_reason);
    for (size_t i = 0; i < b->nreasons; i++) {
        cds_rule_stats *s = rule_slot(r, b->reasons[i].rule, &b->rules_cap, &b->oom);
        for (int k = 0; s && k < 3; k++)
            if (!s->reason_counts[k]) {
                snprintf(s->reasons[k], sizeof s->reasons[k], "%s", b->reasons[i].reason);
                s->reason_counts[k] = b->reasons[i].n;
                break;
            }
    }
    if (b->ncodes) qsort(b->codes, b->ncodes, sizeof *b->codes, cmp_code);
    for (size_t i = 0; i < b->ncodes; i++)
        for (size_t j = 0; j < r->nservices; j++)
            if (!strcmp(r->services[j].service, b->codes[i].service)) {
                char *by = r->services[j].by_code;
                size_t l = strlen(by);
                snprintf(by + l, sizeof r->services[j].by_code - l, "%s%s=%ld", l ? ", " : "", b->codes[i].code, b->codes[i].n);
            }
}

cds_rc cds_report_build_many(const char *const *paths, size_t n, int64_t since, int64_t until, cds_report *r, cds_error *err)
{
    memset(r, 0, sizeof *r);
    build b = {.r = r};
    cds_rc rc = CDS_OK;
    for (size_t i = 0; i < n && rc == CDS_OK && !b.oom; i++) rc = add_file(&b, paths[i], since, until, err);
    r->databases = n;
    if (rc == CDS_OK && !b.oom) finish(&b);
    for (size_t i = 0; i < b.ntimes; i++) free(b.times[i].t);
    free(b.times);
    free(b.reasons);
    free(b.codes);
    if (rc == CDS_OK && b.oom) rc = cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory building the report");
    if (rc != CDS_OK) cds_report_free(r);
    return rc;
}

cds_rc cds_report_build(const char *path, int64_t since, int64_t until, cds_report *r, cds_error *err)
{
    return cds_report_build_many(&path, 1, since, until, r, err);
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
    fprintf(out, "cdsd alert report: %ld decisions%s%s%s%s", r->decisions, r->since[0] ? " from " : "", r->since,
            r->until[0] ? " to " : "", r->until);
    if (r->databases > 1)   /* feedback joins its card within one database (see report.h) */
        fprintf(out, " (%zu audit databases merged)", r->databases);
    fprintf(out, "\n\n");
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
