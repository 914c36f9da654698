/* http_daemon.c — the gateway's libmicrohttpd configuration (see http_daemon.h). */
#include "http_daemon.h"

#include "http_admission.h"
#include "ops_http.h"

struct MHD_Daemon *cds_http_daemon_start(const struct sockaddr_in *sa, MHD_AccessHandlerCallback handle,
                                         MHD_RequestCompletedCallback completed, void *cls)
{
    return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0,
                            NULL, NULL, handle, cls, MHD_OPTION_EXTERNAL_LOGGER, cds_http_mhd_log, NULL,
                            MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)sa,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, cls, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)CDS_HTTP_IDLE_TIMEOUT_S, MHD_OPTION_UNESCAPE_CALLBACK, cds_http_unescape, NULL,
                            /* a thread per connection: bound them (idle or slow clients - slowloris - would
                             * otherwise take ~1000 threads) and their stacks: cJSON at its 1000-level limit,
                             * and a call evaluated on the connection's thread (the Lua VM; C calls capped
                             * at 200 levels), with room for sanitizer builds. Only touched pages cost. */
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)CDS_HTTP_MAX_CONNECTIONS,
                            MHD_OPTION_THREAD_STACK_SIZE, (size_t)(4u << 20), MHD_OPTION_END);
}
