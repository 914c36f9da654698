/* http_ceiling.c — a fixed-reply server on the gateway's HTTP configuration (see http_ceiling.h). */
#include "http_ceiling.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "http_daemon.h"

struct http_ceiling {
    struct MHD_Daemon *d;
    char *reply;
    size_t len;
};

/* One request's body, kept as the gateway keeps it (grown per piece), then dropped. */
typedef struct body {
    char *data;
    size_t len;
} body;

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)url, (void)method, (void)version;
    http_ceiling *hc = cls;
    body *b = *con_cls;
    if (!b) {
        *con_cls = calloc(1, sizeof *b);
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*upload_size) {
        char *p = realloc(b->data, b->len + *upload_size + 1);
        if (!p) return MHD_NO;
        memcpy(p + b->len, upload, *upload_size);
        b->data = p;
        b->len += *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(hc->len, hc->reply, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls, (void)c, (void)t;
    body *b = *con_cls;
    if (b) free(b->data);
    free(b);
    *con_cls = NULL;
}

http_ceiling *http_ceiling_start(int port, size_t reply_size)
{
    http_ceiling *hc = calloc(1, sizeof *hc);
    if (!hc || !(hc->reply = malloc(reply_size + 16))) {
        free(hc);
        return NULL;
    }
    /* {"cards":[],"pad":"xxx..."}: valid JSON of exactly reply_size bytes (at least 24) */
    static const char head[] = "{\"cards\":[],\"pad\":\"", tail[] = "\"}";
    size_t fixed = sizeof head - 1 + sizeof tail - 1, pad = reply_size > fixed ? reply_size - fixed : 0;
    memcpy(hc->reply, head, sizeof head - 1);
    memset(hc->reply + sizeof head - 1, 'x', pad);
    memcpy(hc->reply + sizeof head - 1 + pad, tail, sizeof tail - 1);
    hc->len = fixed + pad;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (!(hc->d = cds_http_daemon_start(&sa, handle, completed, hc))) {
        free(hc->reply);
        free(hc);
        return NULL;
    }
    return hc;
}

void http_ceiling_stop(http_ceiling *hc)
{
    if (!hc) return;
    MHD_stop_daemon(hc->d);
    free(hc->reply);
    free(hc);
}
