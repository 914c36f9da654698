/* http_gateway.c — libmicrohttpd front door onto the wire protocol (see http_gateway.h). */
#include "http_gateway.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <msgpack.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http_admission.h"
#include "http_daemon.h"
#include "json.h"
#include "jwt_verify.h"
#include "log.h"
#include "metrics.h"
#include "mp.h"
#include "ops_http.h"
#include "protocol.h"

struct cds_http_gateway {
    struct MHD_Daemon *d;
    cds_http_budget budget;   /* body bytes held by all connections together */
    cds_http_opts o;
    char public_url[CDS_HTTP_MAX_PUBLIC_URLS][256];   /* without a trailing slash */
    const char *bases[CDS_HTTP_MAX_PUBLIC_URLS];
    size_t nbases;
};

/* One request's state across the access handler's calls. */
typedef struct request {
    char *data;                /* the body so far */
    size_t len;
    size_t reserved;           /* bytes of the shared budget held (given back when the request ends) */
    bool too_large, over_budget;
    bool answered;             /* a response is queued: later calls only drain */
    bool feedback;
    char service[256];
    char iss[128], sub[128];   /* the verified token's issuer and subject (empty without JWT) */
} request;

static const char *origin_allowed(cds_http_gateway *g, struct MHD_Connection *c)
{
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (!origin || !g->o.cors_origins) return NULL;
    size_t n = strlen(origin);
    for (const char *p = g->o.cors_origins; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if ((l == n && strncmp(p, origin, n) == 0) || (l == 1 && *p == '*')) return origin;
        p += l + (e ? 1 : 0);
    }
    return NULL;
}

/* extra: one more header ("Retry-After", "Connection"), or NULL */
static enum MHD_Result respond(cds_http_gateway *g, struct MHD_Connection *c, unsigned status, const char *type,
                               const char *text, size_t len, const char *extra, const char *extra_value)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    if (type) MHD_add_response_header(r, "Content-Type", type);
    if (extra) MHD_add_response_header(r, extra, extra_value);
    const char *origin = origin_allowed(g, c);
    if (origin) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(r, "Vary", "Origin");
    }
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    cds_metrics_http_response(status);
    return ret;
}

static enum MHD_Result send_text(cds_http_gateway *g, struct MHD_Connection *c, unsigned status, const char *type,
                                 const char *text, size_t len)
{
    return respond(g, c, status, type, text, len, NULL, NULL);
}

/* A FHIR OperationOutcome naming the problem (and the field, when known). */
static enum MHD_Result outcome_with(cds_http_gateway *g, struct MHD_Connection *c, unsigned status, const char *code,
                                    const char *message, const char *path, const char *extra, const char *extra_value)
{
    cds_strbuf b;
    cds_strbuf_init(&b);
    cds_strbuf_puts(&b, "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\",\"code\":");
    cds_strbuf_json_string(&b, code, strlen(code));
    cds_strbuf_puts(&b, ",\"diagnostics\":");
    cds_strbuf_json_string(&b, message, strlen(message));
    if (path && *path) {
        cds_strbuf_puts(&b, ",\"expression\":[");
        cds_strbuf_json_string(&b, path, strlen(path));
        cds_strbuf_puts(&b, "]");
    }
    cds_strbuf_puts(&b, "}]}");
    enum MHD_Result r = respond(g, c, status, "application/fhir+json", b.data, b.len, extra, extra_value);
    cds_strbuf_free(&b);
    return r;
}

static enum MHD_Result outcome(cds_http_gateway *g, struct MHD_Connection *c, unsigned status, const char *code,
                               const char *message, const char *path)
{
    return outcome_with(g, c, status, code, message, path, NULL, NULL);
}

static enum MHD_Result too_large(cds_http_gateway *g, struct MHD_Connection *c)
{
    char m[96];
    snprintf(m, sizeof m, "the body is larger than %zu bytes", g->o.max_body);
    return outcome(g, c, 413, "too-costly", m, NULL);
}

/* Every connection together holds the most body bytes allowed (--http-max-buffered). */
static enum MHD_Result busy(cds_http_gateway *g, struct MHD_Connection *c)
{
    cds_log(CDS_LOG_WARN, "http", "HTTP gateway: request bodies in progress hold %zu of %zu bytes; answered 503",
            atomic_load(&g->budget.used), g->budget.cap);
    return outcome_with(g, c, 503, "transient", "the service is receiving too many requests; retry shortly", NULL,
                        "Retry-After", "1");
}

/* Who called, for the audit row: the peer address and the verified token's iss and sub (never
 * the token). */
static void caller_of(struct MHD_Connection *c, const request *rq, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char addr[64] = "?";
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ci->client_addr;
        char ip[INET_ADDRSTRLEN] = "?";
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(addr, sizeof addr, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
    }
    int l = snprintf(out, n, "http %s", addr);
    if (rq && rq->iss[0] && l >= 0 && (size_t)l < n) l += snprintf(out + l, n - (size_t)l, " iss=%s", rq->iss);
    if (rq && rq->sub[0] && l >= 0 && (size_t)l < n) snprintf(out + l, n - (size_t)l, " sub=%s", rq->sub);
}

static unsigned status_for(const char *code)
{
    for (int rc = 1; rc < CDS_RC_COUNT; rc++)
        if (!strcmp(cds_rc_name((cds_rc)rc), code)) return cds_proto_http_status((cds_rc)rc);
    return 500;
}

/* The 401 line carries the fields of every request line: the op and service the URL named. */
static void log_unauthorized(const char *method, const char *rest, const char *why)
{
    char service[65] = "";
    const char *op = "discover";
    if (rest[0] == '/' && rest[1]) {
        const char *s = rest + 1, *slash = strchr(s, '/');
        size_t n = slash ? (size_t)(slash - s) : strlen(s);
        snprintf(service, sizeof service, "%.*s", (int)(n < 64 ? n : 64), s);
        op = slash && !strcmp(slash, "/feedback") ? "feedback" : "call";
    }
    cds_log_fields f = {.op = op, .service = service, .status = 401, .outcome = "unauthorized"};
    cds_log_request(CDS_LOG_WARN, "request", &f, "HTTP %s: %s", method, why);
}

/* Hands the envelope to the service and answers the HTTP request from the reply. */
static enum MHD_Result forward(cds_http_gateway *g, struct MHD_Connection *c, const request *rq, const char *op,
                               const char *service, const char *json, size_t json_len)
{
    char caller[400];
    caller_of(c, rq, caller, sizeof caller);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2 + (service != NULL) + (json != NULL));
    cds_mp_pack_str(&pk, "op");
    cds_mp_pack_str(&pk, op);
    cds_mp_pack_str(&pk, "caller");   /* read from the gateway's envelopes only, never an NNG peer's */
    cds_mp_pack_str(&pk, caller);
    if (service) {
        cds_mp_pack_str(&pk, "service");
        cds_mp_pack_str(&pk, service);
    }
    if (json) {
        cds_mp_pack_str(&pk, "request");
        cds_error err;
        if (cds_json_to_mp(json, json_len, "request body", &sb, &err) != CDS_OK) {
            msgpack_sbuffer_destroy(&sb);
            return outcome(g, c, 400, "invalid", err.message, strcmp(err.path, "$") ? err.path : NULL);
        }
    }
    char *reply;
    size_t reply_len;
    size_t env_len = sb.size;
    if (!g->o.call(g->o.call_arg, msgpack_sbuffer_release(&sb), env_len, g->o.timeout_ms, &reply, &reply_len))
        return outcome(g, c, 503, "transient", "the service did not answer in time", NULL);
    enum MHD_Result ret;
    msgpack_unpacked u;
    cds_error err;
    if (cds_mp_decode(reply, reply_len, &u, &err) != CDS_OK) {
        free(reply);
        return outcome(g, c, 500, "exception", "unreadable reply from the service", NULL);
    }
    const msgpack_object *ok = cds_mp_get(&u.data, "ok");
    if (ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean) {
        cds_strbuf b;
        cds_strbuf_init(&b);
        cds_json_from_mp(&b, cds_mp_get(&u.data, "result"), -1);
        ret = send_text(g, c, 200, "application/json", b.data, b.len);
        cds_strbuf_free(&b);
    } else {
        const msgpack_object *e = cds_mp_get(&u.data, "error");
        char code[32] = "internal", msg[512] = "", path[256] = "";
        const msgpack_object *f;
        if (cds_mp_is_str(f = cds_mp_get(e, "code"))) snprintf(code, sizeof code, "%.*s", (int)f->via.str.size, f->via.str.ptr);
        if (cds_mp_is_str(f = cds_mp_get(e, "message"))) snprintf(msg, sizeof msg, "%.*s", (int)f->via.str.size, f->via.str.ptr);
        if (cds_mp_is_str(f = cds_mp_get(e, "path"))) snprintf(path, sizeof path, "%.*s", (int)f->via.str.size, f->via.str.ptr);
        unsigned st = status_for(code);
        /* 412 as in the spec's example OperationOutcome: issue code "processing" */
        ret = outcome(g, c, st, st == 404 ? "not-found" : st == 412 ? "processing" : st >= 500 ? "exception" : "invalid",
                      msg, path);
    }
    msgpack_unpacked_destroy(&u);
    free(reply);
    return ret;
}

/* A request answered from its head (a refusal - 401, 404, 413, ... - or a GET): its body is
 * never read (MHD closes the connection or discards it); later calls only drain. */
static enum MHD_Result answered_now(request *rq, enum MHD_Result r)
{
    rq->answered = true;
    return r;
}

/* The first call for a request: headers only, no body yet. Everything that can be decided
 * from the head is decided here, the JWT first of all, so an unauthenticated or malformed
 * request costs no body buffer. MHD_YES without a response: read the body. */
static enum MHD_Result admit(cds_http_gateway *g, struct MHD_Connection *c, const char *url, const char *method,
                             request *rq)
{
    bool post = strcmp(method, "POST") == 0;
    if (!strcmp(method, "OPTIONS")) {
        const char *origin = origin_allowed(g, c);
        struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (origin) {
            MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
            MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
            MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
            MHD_add_response_header(r, "Vary", "Origin");
        }
        enum MHD_Result ret = MHD_queue_response(c, origin ? 204 : 403, r);
        MHD_destroy_response(r);
        return answered_now(rq, ret);
    }
    long long length;
    const char *framing = cds_http_framing_error(c, &length);
    /* where the body ends is unclear: answer, then close rather than read what follows */
    if (framing) return answered_now(rq, outcome_with(g, c, 400, "structure", framing, NULL, "Connection", "close"));
    const char *prefix = "/cds-services";
    size_t pl = strlen(prefix);
    bool services = strncmp(url, prefix, pl) == 0 && (url[pl] == '\0' || url[pl] == '/');
    enum MHD_Result ops_ret;   /* /metrics (loopback peers only), /health/live, /health/ready: no token */
    if (cds_ops_http_route(c, url, method, cds_http_peer_is_loopback(c), &ops_ret)) return ops_ret;
    if (!strcmp(url, "/health")) {
        if (strcmp(method, "GET")) return answered_now(rq, outcome(g, c, 405, "not-supported", "use GET", NULL));
        return answered_now(rq, forward(g, c, rq, "health", NULL, NULL, 0));
    }
    /* a '%' left by cds_http_unescape (an encoded NUL or slash) or a control character names no
     * service; answered before authentication, as any unknown path is */
    bool odd = false;
    for (const char *p = url; *p; p++) odd |= *p == '%' || (unsigned char)*p < 0x20 || *p == 0x7f;
    if (!services || odd) return answered_now(rq, outcome(g, c, 404, "not-found", "no such endpoint", NULL));
    if (g->o.jwt) {
        /* CDS Hooks "Trusting CDS Clients": one bare 401 for every failure; the reason goes to
         * the log, the token never does. */
        const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        char why[600] = "no bearer token";
        cds_jwt_identity who;
        if (!auth || strncasecmp(auth, "Bearer ", 7) != 0 ||
            !cds_jwt_verify(g->o.jwt, auth + 7, g->bases, g->nbases, url, time(NULL), &who, why, sizeof why)) {
            log_unauthorized(method, url + pl, why);
            return answered_now(rq, send_text(g, c, 401, "application/json", "{\"error\":\"unauthorized\"}", 24));
        }
        snprintf(rq->iss, sizeof rq->iss, "%s", who.iss);
        snprintf(rq->sub, sizeof rq->sub, "%s", who.sub);
    }
    const char *rest = url + pl;
    if (*rest == '\0' || !strcmp(rest, "/")) {
        if (strcmp(method, "GET")) return answered_now(rq, outcome(g, c, 405, "not-supported", "use GET for discovery", NULL));
        return answered_now(rq, forward(g, c, rq, "discover", NULL, NULL, 0));
    }
    if (!post) return answered_now(rq, outcome(g, c, 405, "not-supported", "use POST to call a service", NULL));
    snprintf(rq->service, sizeof rq->service, "%s", rest + 1);
    char *slash = strchr(rq->service, '/');
    if (slash) {
        if (strcmp(slash, "/feedback")) return answered_now(rq, outcome(g, c, 404, "not-found", "no such endpoint", NULL));
        *slash = '\0';
        rq->feedback = true;
    }
    if (length > (long long)g->o.max_body) return answered_now(rq, too_large(g, c));
    if (!cds_http_is_json(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type")))
        return answered_now(rq, outcome(g, c, 415, "not-supported", "the body must be application/json", NULL));
    /* the whole declared body is reserved now; a chunked one reserves as it arrives */
    if (length > 0) {
        if (!cds_http_budget_take(&g->budget, (size_t)length)) return answered_now(rq, busy(g, c));
        rq->reserved = (size_t)length;
    }
    return MHD_YES;
}

/* A piece of the body: kept while it fits the request's limit and the shared budget. */
static void take_body(cds_http_gateway *g, request *rq, const char *data, size_t n)
{
    if (rq->too_large || rq->over_budget) return;
    if (rq->len + n > g->o.max_body) {
        rq->too_large = true;
        return;
    }
    if (rq->len + n > rq->reserved) {
        size_t more = rq->len + n - rq->reserved;
        if (!cds_http_budget_take(&g->budget, more)) {
            rq->over_budget = true;
            return;
        }
        rq->reserved += more;
    }
    char *p = realloc(rq->data, rq->len + n + 1);
    if (!p) {
        rq->over_budget = true;
        return;
    }
    memcpy(p + rq->len, data, n);
    rq->data = p;
    rq->len += n;
    rq->data[rq->len] = '\0';
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    cds_http_gateway *g = cls;
    request *rq = *con_cls;
    if (!rq) {
        if (!(rq = calloc(1, sizeof *rq))) return MHD_NO;
        *con_cls = rq;
        return admit(g, c, url, method, rq);
    }
    if (*upload_size) {
        if (!rq->answered) take_body(g, rq, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->answered) return MHD_YES;
    rq->answered = true;
    if (rq->too_large) return too_large(g, c);
    if (rq->over_budget) return busy(g, c);
    return forward(g, c, rq, rq->feedback ? "feedback" : "call", rq->service, rq->data ? rq->data : "", rq->len);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)c, (void)t;
    cds_http_gateway *g = cls;
    request *rq = *con_cls;
    if (rq) {
        cds_http_budget_give(&g->budget, rq->reserved);
        free(rq->data);
        free(rq);
    }
    *con_cls = NULL;
}

cds_http_gateway *cds_http_start(const cds_http_opts *o)
{
    struct sockaddr_in sa;
    if (!cds_http_parse_addr("--http", o->addr, &sa)) return NULL;
    /* Secure by default: without trusted issuers, loopback only. */
    if (!o->jwt && (ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
        cds_log(CDS_LOG_ERROR, "start", "--http %s: without --jwt-issuer the gateway only listens on loopback", o->addr);
        return NULL;
    }
    cds_http_gateway *g = calloc(1, sizeof *g);
    g->o = *o;
    g->budget.cap = o->max_buffered ? o->max_buffered : CDS_HTTP_DEFAULT_MAX_BUFFERED;
    g->nbases = o->npublic_urls ? o->npublic_urls : 1;
    if (g->nbases > CDS_HTTP_MAX_PUBLIC_URLS) g->nbases = CDS_HTTP_MAX_PUBLIC_URLS;   /* checked by the CLI */
    for (size_t i = 0; i < g->nbases; i++) {
        char *pu = g->public_url[i];
        if (o->npublic_urls) snprintf(pu, sizeof g->public_url[i], "%s", o->public_urls[i]);
        else snprintf(pu, sizeof g->public_url[i], "http://%s", o->addr);
        size_t l = strlen(pu);
        while (l && pu[l - 1] == '/') pu[--l] = '\0';
        g->bases[i] = pu;
    }
    g->o.public_urls = NULL;   /* the caller's strings are not kept */
    g->d = cds_http_daemon_start(&sa, handle, completed, g);
    if (!g->d) {
        cds_log(CDS_LOG_ERROR, "start", "HTTP gateway: cannot listen on %s", o->addr);
        free(g);
        return NULL;
    }
    if (o->jwt) cds_log(CDS_LOG_INFO, "start", "CDS Hooks over HTTP on http://%s/cds-services, JWT required (aud %s/...%s)", o->addr, g->public_url[0],
                        g->nbases > 1 ? " or another --public-url" : "");
    else cds_log(CDS_LOG_INFO, "start", "CDS Hooks over HTTP on http://%s/cds-services: no --jwt-issuer, so loopback only and no authentication", o->addr);
    return g;
}

void cds_http_stop(cds_http_gateway *g)
{
    if (!g) return;
    MHD_stop_daemon(g->d);
    free(g);
}
