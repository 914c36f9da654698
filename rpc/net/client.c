/* client.c — REQ socket client. */
#include "client.h"

#include <msgpack.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "mp.h"

struct cds_client { nng_socket sock; };

int cds_client_open(cds_client **out, const char *urls, int timeout_ms)
{
    cds_client *c = calloc(1, sizeof *c);
    if (!c) return NNG_ENOMEM;
    int rv;
    if ((rv = nng_req0_open(&c->sock)) != 0) { free(c); return rv; }
    bool several = strchr(urls, ',') != NULL;
    nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, timeout_ms);
    nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, timeout_ms);
    /* One server: a request is never sent twice (no silent duplicates); a dropped connection
     * fails the call at once. Several: NNG resends a request whose connection dropped (a replica
     * killed or restarted) on another one at once; the timer, set past the call's timeout,
     * never resends a call that is merely slow. */
    nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, several ? timeout_ms + 1000 : NNG_DURATION_INFINITE);
    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, 64u << 20);
    /* every replica is dialled in the background (and redialled while it is down); NNG spreads
     * requests over those connected */
    char *list = strdup(urls);
    if (!list) rv = NNG_ENOMEM;
    char *save = NULL;
    for (char *u = list ? strtok_r(list, ",", &save) : NULL; u && !rv; u = strtok_r(NULL, ",", &save))
        rv = nng_dial(c->sock, u, NULL, NNG_FLAG_NONBLOCK);
    free(list);
    if (rv) {
        nng_close(c->sock);
        free(c);
        return rv;
    }
    *out = c;
    return 0;
}

void cds_client_close(cds_client *c)
{
    if (!c) return;
    nng_close(c->sock);
    free(c);
}

int cds_client_call_mp(cds_client *c, const void *msg, size_t len, void **reply, size_t *reply_len)
{
    int rv = nng_send(c->sock, (void *)msg, len, 0);
    if (rv) return rv;
    void *buf = NULL;
    size_t n = 0;
    if ((rv = nng_recv(c->sock, &buf, &n, NNG_FLAG_ALLOC)) != 0) return rv;
    *reply = malloc(n ? n : 1);
    if (!*reply) { nng_free(buf, n); return NNG_ENOMEM; }
    memcpy(*reply, buf, n);
    nng_free(buf, n);
    *reply_len = n;
    return 0;
}

int cds_client_call_json(cds_client *c, const char *op, const char *service, const char *request_json,
                         char **reply_json, size_t *reply_len)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2 + (service != NULL) + (request_json != NULL));
    cds_mp_pack_str(&pk, "op");
    cds_mp_pack_str(&pk, op);
    cds_mp_pack_str(&pk, "id");
    msgpack_pack_int(&pk, 1);
    if (service) {
        cds_mp_pack_str(&pk, "service");
        cds_mp_pack_str(&pk, service);
    }
    if (request_json) {
        cds_mp_pack_str(&pk, "request");
        cds_error err;
        if (cds_json_to_mp(request_json, strlen(request_json), "request", &sb, &err) != CDS_OK) {
            msgpack_sbuffer_destroy(&sb);
            return NNG_EINVAL;
        }
    }
    void *reply;
    size_t n;
    int rv = cds_client_call_mp(c, sb.data, sb.size, &reply, &n);
    msgpack_sbuffer_destroy(&sb);
    if (rv) return rv;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    cds_strbuf b;
    cds_strbuf_init(&b);
    if (msgpack_unpack_next(&u, reply, n, &off) == MSGPACK_UNPACK_SUCCESS) cds_json_from_mp(&b, &u.data, 2);
    else cds_strbuf_puts(&b, "{\"ok\": false, \"error\": {\"code\": \"internal\", \"message\": \"unreadable reply\"}}");
    msgpack_unpacked_destroy(&u);
    free(reply);
    *reply_json = b.data;
    *reply_len = b.len;
    return 0;
}

const char *cds_client_strerror(int rv) { return rv == NNG_EINVAL ? "the request is not valid JSON" : nng_strerror(rv); }
