/* http_gateway.h — CDS Hooks over HTTP/JSON (libmicrohttpd), a thin translation onto the same
 * wire protocol: each HTTP request becomes one envelope handed to the service (cds_http_call_fn,
 * no socket in between) and served as an NNG request is, so HTTP and NNG callers get identical
 * cards, limits and audit rows.
 *   GET  /cds-services                 discovery
 *   POST /cds-services/{id}            call
 *   POST /cds-services/{id}/feedback   feedback
 *   GET  /health                       health for load balancers
 * With a JWT verifier every call but /health needs "Authorization: Bearer <JWT>" whose aud is
 * one of the public URLs + path; any failure is the same bare 401, sent from the request's head
 * before any of its body is read. Without one it only listens on loopback. The bodies being
 * received are bounded together (503 with Retry-After beyond). */
#ifndef CDS_HTTP_GATEWAY_H
#define CDS_HTTP_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cds_http_gateway cds_http_gateway;

#define CDS_HTTP_MAX_PUBLIC_URLS 8
#define CDS_HTTP_DEFAULT_MAX_BUFFERED (64u << 20)

/* Serves one envelope (MessagePack, malloc'd; taken) and waits up to timeout_ms for its reply
 * (MessagePack, malloc'd, in *reply). False when none came in time (or out of memory). Called
 * on the gateway's connection threads. */
typedef bool (*cds_http_call_fn)(void *arg, char *envelope, size_t len, int timeout_ms, char **reply,
                                 size_t *reply_len);

typedef struct cds_http_opts {
    const char *addr;           /* "127.0.0.1:8080" */
    cds_http_call_fn call;      /* the service */
    void *call_arg;
    size_t max_body;            /* 413 above this, checked before buffering */
    size_t max_buffered;        /* body bytes all connections together may hold (503 beyond); 0: the default */
    const char *cors_origins;   /* comma-separated allowed origins, NULL = none */
    int timeout_ms;
    struct cds_jwt_verifier *jwt;   /* NULL: no authentication, loopback only */
    const char *const *public_urls; /* base URLs clients call (JWT aud: one of them + path), */
    size_t npublic_urls;            /* e.g. the proxy's name and localhost; none: http://ADDR */
} cds_http_opts;

/* Starts the gateway; NULL (with a logged reason) on failure. */
cds_http_gateway *cds_http_start(const cds_http_opts *o);
void cds_http_stop(cds_http_gateway *g);

#endif
