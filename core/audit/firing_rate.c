/* firing_rate.c — the p-chart of a rule's daily firing rate against its trailing baseline. */
#include "firing_rate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"

cds_firing_check cds_firing_check_day(const cds_firing_count *baseline, size_t nbaseline, cds_firing_count day,
                                      double min_expected)
{
    cds_firing_check c = {.n = day.runs, .x = day.cards};
    long runs = 0, cards = 0;
    for (size_t i = 0; i < nbaseline; i++) {
        runs += baseline[i].runs;
        cards += baseline[i].cards;
    }
    if (day.runs <= 0) {
        c.kind = CDS_FIRING_NO_CALLS;
        return c;
    }
    c.rate = (double)day.cards / (double)day.runs;
    if (runs <= 0) {
        c.kind = CDS_FIRING_NO_BASELINE;
        return c;
    }
    c.p = (double)cards / (double)runs;
    c.expected = c.p * (double)day.runs;
    /* A rule can make several cards in one run (p > 1): its spread is taken as a proportion's at
     * most 1, i.e. none beyond what the count itself shows. */
    double p = cards ? c.p : 3.0 / (double)runs, q = p < 1 ? p * (1 - p) : 0;
    double sigma = sqrt(q / (double)day.runs);
    c.ucl = p + 3 * sigma;
    c.lcl = c.p - 3 * sigma > 0 ? c.p - 3 * sigma : 0;
    if (day.cards == 0 && c.expected >= min_expected) c.kind = CDS_FIRING_STOPPED;
    else if (c.rate > c.ucl) c.kind = CDS_FIRING_SURGE;
    else if (c.rate < c.lcl) c.kind = CDS_FIRING_DROP;
    else c.kind = CDS_FIRING_IN_CONTROL;
    return c;
}

const char *cds_firing_kind_name(cds_firing_kind k)
{
    switch (k) {
    case CDS_FIRING_SURGE: return "surge";
    case CDS_FIRING_DROP: return "drop";
    case CDS_FIRING_STOPPED: return "stopped";
    case CDS_FIRING_NO_CALLS: return "no calls";
    case CDS_FIRING_NO_BASELINE: return "no baseline";
    case CDS_FIRING_IN_CONTROL: break;
    }
    return "in control";
}

cds_firing_series *cds_firing_series_at(cds_firing_table *t, const char *service, const char *rule)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->series[i].rule, rule) && !strcmp(t->series[i].service, service)) return &t->series[i];
    if (!cds_grow(&t->series, &t->cap, t->n + 1, sizeof *t->series)) return NULL;
    cds_firing_series *s = &t->series[t->n];
    memset(s, 0, sizeof *s);
    if (!(s->days = calloc(t->ndays ? t->ndays : 1, sizeof *s->days))) return NULL;
    snprintf(s->service, sizeof s->service, "%s", service);
    snprintf(s->rule, sizeof s->rule, "%s", rule);
    t->n++;
    return s;
}

void cds_firing_table_free(cds_firing_table *t)
{
    for (size_t i = 0; i < t->n; i++) free(t->series[i].days);
    free(t->series);
    t->series = NULL;
    t->n = t->cap = 0;
}

cds_firing_check cds_firing_check_series(const cds_firing_table *t, const cds_firing_series *s, size_t day, size_t baseline,
                                         double min_expected)
{
    size_t from = day > baseline ? day - baseline : 0;
    cds_firing_count today = day < t->ndays ? s->days[day] : (cds_firing_count){0};
    return cds_firing_check_day(s->days + from, day - from, today, min_expected);
}
