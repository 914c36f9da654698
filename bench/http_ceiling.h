/* http_ceiling.h — the HTTP door's ceiling: the gateway's own libmicrohttpd configuration
 * (rpc/net/http_daemon.c) answering every POST with a fixed JSON reply of a given size, after
 * reading the body as the gateway does. What is left between it and cdsd over HTTP is cdsd's
 * work, not the HTTP library's. */
#ifndef CDS_BENCH_HTTP_CEILING_H
#define CDS_BENCH_HTTP_CEILING_H

#include <stddef.h>

typedef struct http_ceiling http_ceiling;

/* Listens on 127.0.0.1:port; NULL on failure. */
http_ceiling *http_ceiling_start(int port, size_t reply_size);
void http_ceiling_stop(http_ceiling *c);

#endif
