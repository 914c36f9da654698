/* health.h — the running service as a load balancer and a scraper see it: liveness (the process
 * answers), readiness (a rule set is loaded, the audit log can be written, not draining), and the
 * /metrics body. Transport-free: the HTTP gateway and the --metrics listener answer with it. */
#ifndef CDS_HEALTH_H
#define CDS_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

#include "protocol.h"
#include "strbuf.h"

/* The server's state, read by readiness and metrics until cds_health_unbind (audit may be NULL). */
void cds_health_bind(cds_stats *stats, struct cds_audit *audit, const char *state_dir);
void cds_health_unbind(void);

/* Shutdown has begun: readiness turns false first (and stays false). */
void cds_health_set_draining(void);

/* True when ready; otherwise false and the reasons ("draining", "no rule set loaded", "audit log
 * not writable: ...") in why, separated by "; ". */
bool cds_health_ready(char *why, size_t n);

/* A recent audit commit failure keeps readiness false this long (the balancer tries another
 * replica; afterwards traffic shows whether writing works again). */
#define CDS_HEALTH_AUDIT_FAIL_MS 5000

/* Appends the Prometheus text exposition (metrics.h plus the server's gauges). */
void cds_health_metrics_text(cds_strbuf *out);

#endif
