/* server.h — `cdsd serve`: an NNG REP socket served by a fixed pool of contexts driven by aio,
 * a bounded queue, and worker threads that each own a sandboxed Lua engine. */
#ifndef CDS_SERVER_H
#define CDS_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "http_gateway.h"
#include "prefetch_fetch.h"

typedef struct cds_server_opts {
    const char *listen;        /* NNG URL; default tcp://127.0.0.1:7411 */
    const char *rules;         /* rule set directory */
    const char *state;         /* state directory (knowledge base, admin socket) */
    const char *fixtures;      /* fixtures gating reloads; NULL = none */
    int workers;               /* worker threads; default one per core */
    size_t max_request;        /* application limit in bytes (NNG's limit is twice this) */
    int deadline_ms;           /* per-request deadline */
    int queue;                 /* requests waiting for a worker before 'overloaded' */
    int summary_s;             /* seconds between summary log lines */
    const char *tls_cert, *tls_key, *tls_ca;
    bool audit_sync_full;      /* synchronous=FULL: survive power loss, not only crashes */
    bool audit_requests;       /* keep whole requests in the audit log (PHI-bearing; for replay) */
    int audit_retain_days;     /* >0: archive entries older than this, daily (audit_retention.h) */
    const char *audit_archive_dir;   /* where; NULL = STATE/audit-archive */
    const char *http;          /* ADDR:PORT for CDS Hooks over HTTP, or NULL */
    const char *cors_origins;  /* comma-separated origins allowed by CORS, or NULL */
    size_t http_max_buffered;  /* request bodies all HTTP connections may hold together (0: the default) */
    struct cds_jwt_verifier *jwt;   /* trusted JWT issuers for the HTTP gateway, or NULL */
    const char *public_urls[CDS_HTTP_MAX_PUBLIC_URLS];   /* the gateway's URLs as clients call it (JWT aud) */
    size_t npublic_urls;
    cds_fetch_opts fetch;      /* fetching absent prefetch from the client's FHIR server */
    const char *metrics;       /* ADDR:PORT of a listener for /metrics and /health/live, /health/ready; or NULL */
    int drain_ms;              /* at SIGTERM: /health/ready is 503 this long before the drain begins */
    const char *shadow;        /* candidate rule set evaluated after every call (shadow.h), or NULL */
    int shadow_queue;          /* calls waiting for the shadow thread before new ones are dropped */
} cds_server_opts;

/* Runs until SIGTERM or SIGINT; returns the process exit status. */
int cds_server_run(const cds_server_opts *o);

#endif
