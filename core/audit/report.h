/* report.h — the alert-fatigue report over the audit log: per rule how often it ran and fired,
 * cards by indicator, accepted / overridden / no feedback, override rate, top override reasons,
 * evaluation time; per service requests and errors by code; cards per rule per day. */
#ifndef CDS_REPORT_H
#define CDS_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"

typedef struct cds_rule_stats {
    char rule[128];
    long runs, fired, errors;
    long info, warning, critical;      /* cards by indicator */
    long accepted, overridden, no_feedback;
    double p50_us, p99_us;
    char reasons[3][160];              /* top override reasons (display or code) */
    long reason_counts[3];
    char example[40];                  /* the latest decision with one of its cards (for cdsd explain), or "" */
} cds_rule_stats;

typedef struct cds_service_stats {
    char service[128];
    long requests, errors;
    char by_code[256];                 /* "bad_request=3, timeout=1" */
} cds_service_stats;

typedef struct cds_day_stats { char day[11]; char rule[128]; long cards; } cds_day_stats;

typedef struct cds_report {
    char since[32], until[32];
    size_t databases;                  /* how many audit databases were merged */
    long decisions;
    cds_rule_stats *rules;
    size_t nrules;
    cds_service_stats *services;
    size_t nservices;
    cds_day_stats *days;
    size_t ndays;
    const struct cds_firing_view *firing;   /* the firing-rate alarms to show, or NULL (not owned) */
} cds_report;

/* Reads $db between since_ms and until_ms (epoch milliseconds, inclusive/exclusive). */
cds_rc cds_report_build(const char *db, int64_t since_ms, int64_t until_ms, cds_report *out, cds_error *err);
/* The same over several databases (e.g. one per replica), merged exactly: counts summed,
 * percentiles over every database's times, top reasons and error codes over the summed counts.
 * Feedback is matched to cards within each database (the database that received it). */
cds_rc cds_report_build_many(const char *const *paths, size_t n, int64_t since, int64_t until, cds_report *r,
                             cds_error *err);
void cds_report_free(cds_report *r);
void cds_report_text(const cds_report *r, FILE *out);
/* One self-contained HTML file with inline SVG charts. */
void cds_report_html(const cds_report *r, FILE *out);

#endif
