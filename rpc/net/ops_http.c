/* ops_http.c — /metrics and /health/live, /health/ready over HTTP (see ops_http.h). */
#include "ops_http.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"
#include "log.h"

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type, const char *text, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result answer_json(struct MHD_Connection *c, unsigned status, const char *json)
{
    return answer(c, status, "application/json", json, strlen(json));
}

bool cds_http_peer_is_loopback(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr || ci->client_addr->sa_family != AF_INET) return false;
    const struct sockaddr_in *in = (const struct sockaddr_in *)ci->client_addr;
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
}

bool cds_ops_http_route(struct MHD_Connection *c, const char *url, const char *method, bool metrics_allowed,
                        enum MHD_Result *ret)
{
    bool metrics = !strcmp(url, "/metrics"), live = !strcmp(url, "/health/live"), ready = !strcmp(url, "/health/ready");
    if (!metrics && !live && !ready) return false;
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        *ret = answer_json(c, 405, "{\"error\":\"use GET\"}");
    } else if (live) {
        *ret = answer_json(c, 200, "{\"status\":\"live\"}");
    } else if (ready) {
        char why[512];
        cds_strbuf b;
        cds_strbuf_init(&b);
        bool ok = cds_health_ready(why, sizeof why);
        cds_strbuf_puts(&b, ok ? "{\"status\":\"ready\"}" : "{\"status\":\"not ready\",\"reasons\":");
        if (!ok) {
            cds_strbuf_json_string(&b, why, strlen(why));
            cds_strbuf_puts(&b, "}");
        }
        *ret = answer(c, ok ? 200 : 503, "application/json", b.data, b.len);
        cds_strbuf_free(&b);
    } else if (!metrics_allowed) {
        *ret = answer_json(c, 403, "{\"error\":\"/metrics answers loopback clients only; use --metrics ADDR\"}");
    } else {
        cds_strbuf b;
        cds_strbuf_init(&b);
        cds_health_metrics_text(&b);
        *ret = answer(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "", b.len);
        cds_strbuf_free(&b);
    }
    return true;
}

bool cds_http_parse_addr(const char *flag, const char *addr, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host) {
        cds_log(CDS_LOG_ERROR, "start", "%s wants ADDR:PORT, not '%s'", flag, addr);
        return false;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
    char *end;
    long port = strtol(colon + 1, &end, 10);
    *sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (*end || port < 0 || port > 65535) {
        cds_log(CDS_LOG_ERROR, "start", "%s: '%s' is not a port", flag, colon + 1);
        return false;
    }
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
        cds_log(CDS_LOG_ERROR, "start", "%s: '%s' is not an IPv4 address", flag, host);
        return false;
    }
    return true;
}

void cds_http_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t l = strlen(msg);
    while (l && msg[l - 1] == '\n') msg[--l] = '\0';
    cds_log(CDS_LOG_WARN, "http", "libmicrohttpd: %s", msg);
}

struct cds_ops_listener { struct MHD_Daemon *d; };

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)cls, (void)version, (void)upload, (void)con_cls;
    if (*upload_size) {   /* no endpoint here takes a body */
        *upload_size = 0;
        return MHD_YES;
    }
    enum MHD_Result ret;
    if (cds_ops_http_route(c, url, method, true, &ret)) return ret;
    return answer_json(c, 404, "{\"error\":\"not found\"}");
}

cds_ops_listener *cds_ops_listen(const char *addr)
{
    struct sockaddr_in sa;
    if (!cds_http_parse_addr("--metrics", addr, &sa)) return NULL;
    cds_ops_listener *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    /* one polling thread: scrapes and health checks are small and rare */
    l->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle,
                            NULL, MHD_OPTION_EXTERNAL_LOGGER, cds_http_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)10, MHD_OPTION_CONNECTION_LIMIT, (unsigned)32, MHD_OPTION_END);
    if (!l->d) {
        cds_log(CDS_LOG_ERROR, "start", "--metrics: cannot listen on %s", addr);
        free(l);
        return NULL;
    }
    cds_log(CDS_LOG_INFO, "start", "metrics on http://%s/metrics (also /health/live, /health/ready)", addr);
    return l;
}

void cds_ops_close(cds_ops_listener *l)
{
    if (!l) return;
    MHD_stop_daemon(l->d);
    free(l);
}
