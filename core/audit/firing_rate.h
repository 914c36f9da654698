/* firing_rate.h — firing-rate alarms (issue 18 part 3): a p-chart of each rule's daily firing
 * rate (cards / calls where the rule ran) against a trailing baseline. Pure statistics here; the
 * audit log is read by firing_read.c. */
#ifndef CDS_FIRING_RATE_H
#define CDS_FIRING_RATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define CDS_FIRING_BASELINE_DAYS 28
/* "Stopped firing": no card on a day where the baseline expects at least this many (n * p). */
#define CDS_FIRING_MIN_EXPECTED 5.0

typedef enum cds_firing_kind {
    CDS_FIRING_IN_CONTROL,
    CDS_FIRING_NO_CALLS,     /* the rule did not run that day: nothing to judge */
    CDS_FIRING_NO_BASELINE,  /* it did not run in the baseline: nothing to judge against */
    CDS_FIRING_SURGE,        /* above the upper limit */
    CDS_FIRING_DROP,         /* below the lower limit, still firing */
    CDS_FIRING_STOPPED,      /* no card where the baseline expects several */
} cds_firing_kind;

/* One day of one rule: the calls where it ran and the cards it made. */
typedef struct cds_firing_count { long runs, cards; } cds_firing_count;

typedef struct cds_firing_check {
    double p;            /* centre: the baseline's cards / runs */
    double lcl, ucl;     /* p -/+ 3 sqrt(p(1-p)/n), lcl at least 0 */
    double rate;         /* the day's cards / runs */
    double expected;     /* n * p */
    long n, x;           /* the day's runs and cards */
    cds_firing_kind kind;
} cds_firing_check;

/* The day against the baseline days (any number, zero-run days included). A baseline with no
 * card at all (p = 0) would put both limits at 0 and call any card a surge; its limits use the
 * rule of three instead (p at most 3 / baseline runs, at 95%), so a rule that never fired alarms
 * only when it fires clearly more than that. */
cds_firing_check cds_firing_check_day(const cds_firing_count *baseline, size_t nbaseline, cds_firing_count day,
                                      double min_expected);
/* "surge", "drop", "stopped", "in control", "no calls", "no baseline". */
const char *cds_firing_kind_name(cds_firing_kind k);
static inline int cds_firing_is_anomaly(cds_firing_kind k)
{
    return k == CDS_FIRING_SURGE || k == CDS_FIRING_DROP || k == CDS_FIRING_STOPPED;
}

/* Daily counts per service and rule over days [0, ndays) from day0_ms (UTC midnight). */
typedef struct cds_firing_series {
    char service[128], rule[128];
    cds_firing_count *days;   /* ndays entries */
} cds_firing_series;

typedef struct cds_firing_table {
    int64_t day0_ms;
    size_t ndays;
    cds_firing_series *series;
    size_t n, cap;
} cds_firing_table;

/* The series of service/rule, added (zeroed) when absent; NULL when out of memory. */
cds_firing_series *cds_firing_series_at(cds_firing_table *t, const char *service, const char *rule);
void cds_firing_table_free(cds_firing_table *t);

/* Reads the live (non-shadow) decisions of the audit databases paths[0..n) into t, whose day0_ms
 * and ndays the caller sets: per decision, the rules it ran and their cards (its runs). Layout 1
 * logs (before the compact runs) are read too. CDS_EIO with the reason in err. */
cds_rc cds_firing_read(const char *const *paths, size_t n, cds_firing_table *t, cds_error *err);
/* The same over a state directory's history (audit_history.h): its first-layout log, the archives
 * that reach into the table's days, its live log. in_server: the caller also writes the live log
 * (cdsd serve); it is then read as of its last checkpoint, outside its locking. */
cds_rc cds_firing_read_state(const char *state, cds_firing_table *t, bool in_server, cds_error *err);

/* Day `day` of series s against the `baseline` days before it (fewer when the table starts later). */
cds_firing_check cds_firing_check_series(const cds_firing_table *t, const cds_firing_series *s, size_t day, size_t baseline,
                                         double min_expected);

#endif
