/* http_daemon.h — the libmicrohttpd configuration of the HTTP gateway (threading model,
 * connection bound, idle timeout, stacks, path decoding), in one place so that cdsd-bench's
 * HTTP ceiling (a fixed reply on the same configuration) measures exactly what the gateway runs. */
#ifndef CDS_HTTP_DAEMON_H
#define CDS_HTTP_DAEMON_H

#include <microhttpd.h>
#include <netinet/in.h>

#define CDS_HTTP_MAX_CONNECTIONS 256   /* open at once; more are refused at accept */
#define CDS_HTTP_IDLE_TIMEOUT_S 30     /* an idle connection is closed after this */

/* Starts a daemon on sa serving `handle` (cls) and calling `completed` (cls) when a request
 * ends; NULL on failure. Stop it with MHD_stop_daemon. */
struct MHD_Daemon *cds_http_daemon_start(const struct sockaddr_in *sa, MHD_AccessHandlerCallback handle,
                                         MHD_RequestCompletedCallback completed, void *cls);

#endif
