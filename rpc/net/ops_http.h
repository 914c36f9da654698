/* ops_http.h — the operations endpoints over HTTP (libmicrohttpd), no authentication:
 *   GET /metrics        Prometheus text format 0.0.4 (health.h, metrics.h)
 *   GET /health/live    200 while the process answers
 *   GET /health/ready   200 when ready, else 503 naming why (draining, no rule set, audit log)
 * The CDS Hooks gateway routes them (/metrics to loopback peers only: it can name rules and
 * services); `--metrics ADDR` serves them alone on a listener of their own, for a scraper on
 * another host. */
#ifndef CDS_OPS_HTTP_H
#define CDS_OPS_HTTP_H

#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>

/* When url is one of the endpoints above, answers (the result in *ret) and returns true. */
bool cds_ops_http_route(struct MHD_Connection *c, const char *url, const char *method, bool metrics_allowed,
                        enum MHD_Result *ret);

/* The peer of c is on 127.0.0.0/8. */
bool cds_http_peer_is_loopback(struct MHD_Connection *c);

/* "A.B.C.D:PORT" into sa; false with the reason logged (flag names the option). */
bool cds_http_parse_addr(const char *flag, const char *addr, struct sockaddr_in *sa);

/* For MHD_OPTION_EXTERNAL_LOGGER: libmicrohttpd's own errors as log lines (event=http). */
void cds_http_mhd_log(void *cls, const char *fmt, va_list ap);

typedef struct cds_ops_listener cds_ops_listener;
/* The --metrics listener; NULL (reason logged) when it cannot listen. */
cds_ops_listener *cds_ops_listen(const char *addr);
void cds_ops_close(cds_ops_listener *l);

#endif
