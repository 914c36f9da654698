/* metrics.h — the service's counters, rendered as Prometheus text exposition format 0.0.4
 * (GET /metrics). Counting costs relaxed atomic increments only, never a lock: label values
 * (services, rules) live in fixed tables filled when a rule set generation is loaded (under a
 * mutex, before the generation is served), and a call only looks its names up. A name no loaded
 * generation declared (an unknown service in a request) is counted under "other", so a client
 * cannot grow the tables or the scrape. */
#ifndef CDS_METRICS_H
#define CDS_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "ruleset.h"
#include "strbuf.h"

/* Declares the rule set's services and rules as label values (kept across reloads). */
void cds_metrics_register_ruleset(const cds_ruleset *rs);

/* One answered request of op "call" (code CDS_OK or the error answered), receive to reply. */
void cds_metrics_call(const char *service, cds_rc code, double seconds);
/* Any other op (discover, feedback, health), by outcome. */
void cds_metrics_op(const char *op, cds_rc code);
void cds_metrics_card(const char *rule, const char *indicator);
void cds_metrics_rule_error(const char *rule);
/* Cards a rule produced that were not shown (dropped as repeats, README "Repeat suppression"). */
void cds_metrics_card_suppressed(const char *rule);
void cds_metrics_reload(bool ok);
/* Every response the CDS Hooks HTTP gateway sends, by status (those it answers itself, e.g. 400
 * for JSON that does not parse, 401, 413, 415, never reach the counters above). */
void cds_metrics_http_response(unsigned status);
/* Calls whose absent prefetch is being fetched (+1 when handed to the fetch thread, -1 when it
 * gives them back), and calls not fetched for because --fetch-max-calls were already in flight. */
void cds_metrics_fetch_inflight(int delta);
void cds_metrics_fetch_refused(void);

/* Values read when scraped, from the running server. */
typedef struct cds_metrics_gauges {
    long inflight, workers;
    double uptime_s;
    bool have_audit;
    size_t audit_queue;                /* decisions waiting for the audit writer */
    unsigned long audit_commits, audit_failures;
    double audit_commit_seconds;       /* sum over audit_commits */
    bool ready, draining;
    bool shadow;                       /* --shadow: the shadow counters below are rendered */
    unsigned long shadow_evaluated, shadow_dropped, shadow_failed;
} cds_metrics_gauges;

/* Appends the whole exposition (counters, the gauges, and the live rule set's pack and knowledge
 * digests as cdsd_ruleset_info). */
void cds_metrics_render(cds_strbuf *out, const cds_metrics_gauges *g);

#endif
