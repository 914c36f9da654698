/* firing_live.h — the firing-rate alarms of the running service (issue 18 part 3): per service
 * its calls answered today and per service and rule its cards today, counted with relaxed atomic
 * increments (one per call, one per card: a call looks its names up, never locks). A thread of
 * its own reads the baseline (the days before today, firing_rate.h) from the audit history at
 * start, with today's decisions so far, and again after each UTC midnight, off the hot path
 * (not at a reload: reading weeks of history on every reload would load a busy server; a rule
 * a reload adds is judged from the next midnight).
 * Every rule of a service is taken to run on each of its calls (as the engine runs them). */
#ifndef CDS_FIRING_LIVE_H
#define CDS_FIRING_LIVE_H

#include <stdbool.h>
#include <stddef.h>

#include "engine.h"
#include "firing_rate.h"
#include "ruleset.h"

/* Declares the rule set's services and their rules (kept across reloads). */
void cds_firing_live_register(const cds_ruleset *rs);
/* One call answered with these cards (the hot path). */
void cds_firing_live_call(const char *service, const cds_eval_info *info);

/* Starts the baseline thread over state's audit history (baseline_days before today); false
 * when the thread could not start. */
bool cds_firing_live_start(const char *state, size_t baseline_days);
void cds_firing_live_stop(void);

typedef struct cds_firing_alarm {
    char service[96], rule[96];
    cds_firing_check check;
} cds_firing_alarm;
/* Today's anomalies so far (at most max into out); returns how many there are. */
size_t cds_firing_live_anomalies(cds_firing_alarm *out, size_t max);
/* Today's counts of service/rule (false when unknown), for tests and /metrics. */
bool cds_firing_live_today(const char *service, const char *rule, long *calls, long *cards);

#endif
