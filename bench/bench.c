/* bench.c — cdsd-bench: latency, throughput and scaling of cdsd, measured against the
 * transport's own ceiling (an echo server on the same NNG transport and message sizes).
 *
 *   cdsd-bench [options] [MODE...]     MODE: inproc seq conc http slow-fetch scale-kb scale-meds scale-conc all
 *
 * Prints p50/p90/p99/max latency, requests/s, errors, and the server's peak RSS; --json for
 * scripts. See README "Benchmarks" for the command behind the published numbers. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <msgpack.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "loopback.h"

#include "cpu.h"
#include "fhir_stub.h"
#include "http_ceiling.h"
#include "engine.h"
#include "firing_live.h"
#include "json.h"
#include "latency.h"
#include "mp.h"
#include "protocol.h"
#include "requests.h"

typedef struct opts {
    const char *cdsd, *rules, *synthea, *requests;
    const char *shadow;       /* --shadow DIR: the servers under test run shadow mode with this candidate */
    double duration, warmup;
    int workers;
    int repeat;               /* cdsd/echo pairs per NNG measurement; the median is reported */
    long count;               /* >0: each run measures this many requests (after the warm-up) instead of a duration */
    int conc;                 /* outstanding requests in the conc mode */
    bool json;
} opts;

static bool first_json = true;

/* "timeout=3 overloaded=1" for the errors of a run ("transport" = no reply). */
static void errors_by_code(const latency *l, char *out, size_t n)
{
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < 16 && o < n; i++) {
        if (!l->by_code[i]) continue;
        int w = snprintf(out + o, n - o, "%s%s=%zu", o ? " " : "", i ? cds_rc_name((cds_rc)i) : "transport", l->by_code[i]);
        if (w > 0) o += (size_t)w;
    }
}

static void report(const opts *o, const char *name, latency *l, long rss_kb, const char *extra)
{
    latency_summary s = latency_summarise(l);
    char codes[256];
    errors_by_code(l, codes, sizeof codes);
    if (o->json) {
        printf("%s{\"name\":\"%s\",\"n\":%zu,\"errors\":%zu,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
               "\"max_us\":%.1f,\"rps\":%.0f,\"peak_rss_kb\":%ld,\"errors_by_code\":\"%s\"%s%s}",
               first_json ? "[\n" : ",\n", name, s.n, s.errors, s.p50, s.p90, s.p99, s.max, s.rps, rss_kb, codes,
               extra ? "," : "", extra ? extra : "");
        first_json = false;
    } else {
        printf("%-28s n=%-7zu err=%-4zu p50=%8.1fus p90=%8.1fus p99=%8.1fus max=%9.1fus %9.0f req/s", name, s.n,
               s.errors, s.p50, s.p90, s.p99, s.max, s.rps);
        if (rss_kb > 0) printf("  peak RSS %.1f MiB", (double)rss_kb / 1024.0);
        if (extra) printf("  %s", extra);
        if (codes[0]) printf("  errors: %s", codes);
        printf("\n");
    }
    fflush(stdout);
}

/* --- in-process: decode -> evaluate -> encode, no transport, no audit ----------------------- */

typedef struct rule_cost {
    double us[256];
    unsigned long runs[256], fired[256], requests;
} rule_cost;

static void rule_cost_add(rule_cost *c, const cds_ruleset *rs, const cds_eval_info *info)
{
    c->requests++;
    for (size_t i = 0; i < info->nruns; i++)
        for (size_t r = 0; r < rs->nrules && r < 256; r++)
            if (strcmp(rs->rules[r].id, info->runs[i].rule) == 0) {
                c->us[r] += info->runs[i].micros;
                c->runs[r]++;
                c->fired[r] += info->runs[i].cards > 0;
                break;
            }
}

static void rule_cost_print(const rule_cost *c, const cds_ruleset *rs)
{
    for (size_t r = 0; r < rs->nrules && r < 256; r++)
        if (c->runs[r])
            fprintf(stderr, "rule %-28s %7.2f us/run  fired %5.1f%%\n", rs->rules[r].id, c->us[r] / (double)c->runs[r],
                    100.0 * (double)c->fired[r] / (double)c->runs[r]);
}

static void run_inproc(const opts *o, const cds_ruleset *rs, const bench_set *set, latency *l)
{
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_engine *e = cds_engine_new(rs, &diag);
    cds_strbuf_free(&diag);
    if (!e || !set->n) return;
    cds_arena a;
    cds_arena_init(&a);
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    msgpack_zone *zone = msgpack_zone_new(256u << 10);   /* reused, as a server worker does */
    cds_proto_env env = {.engine = e, .max_request = 64u << 20, .zone = &zone};   /* no audit: evaluation only */
    double start = now_us(), measure_from = start + o->warmup * 1e6, end = measure_from + o->duration * 1e6;
    double t0 = 0;
    /* CDSD_BENCH_RULES=1: each rule's mean time and how often it gave a card (where the time of
     * a rule set goes; the timings include the rule's own clock reads) */
    bool per_rule = getenv("CDSD_BENCH_RULES") != NULL;
    /* CDSD_BENCH_FIRING=1: each call also counted as the server counts it for the firing-rate
     * alarms (firing_live.h), for the hot path's cost against the same run without */
    bool firing = getenv("CDSD_BENCH_FIRING") != NULL;
    /* CDSD_BENCH_ONLY=K: request K of the set, over and over (one request's cost, for profiling) */
    const char *only_env = getenv("CDSD_BENCH_ONLY");
    size_t only = only_env ? (size_t)strtoul(only_env, NULL, 10) % set->n : 0;
    if (firing) cds_firing_live_register(rs);
    rule_cost costs = {0};
    for (size_t i = 0;; i++) {
        double t = now_us();
        if (o->count > 0 ? t0 && l->n >= (size_t)o->count : t >= end) break;
        if (!t0 && t >= measure_from) t0 = t;
        const bench_msg *m = &set->m[only_env ? only : i % set->n];
        cds_proto_outcome oc;
        msgpack_sbuffer_clear(&out);
        cds_proto_handle(&env, &a, m->data, m->len, &out, &oc);
        if (firing && !oc.code) cds_firing_live_call(oc.service, &oc.info);
        if (t0 && per_rule) rule_cost_add(&costs, rs, &oc.info);
        cds_arena_reset(&a);
        if (t0) {
            latency_add(l, now_us() - t);
            if (oc.code) {
                l->errors++;
                l->by_code[oc.code < 16 ? oc.code : CDS_EINTERNAL]++;
            }
        }
    }
    l->seconds = (now_us() - t0) / 1e6;
    if (per_rule) rule_cost_print(&costs, rs);
    msgpack_sbuffer_destroy(&out);
    msgpack_zone_free(zone);
    cds_arena_free(&a);
    cds_engine_free(e);
}

/* --- NNG clients ------------------------------------------------------------------------------ */

typedef struct client {
    nng_socket sock;
    const bench_set *set;
    double measure_from, end;
    latency lat;
    size_t offset;
    bool echo;                /* any reply is a good reply */
    atomic_long *left;        /* --count: measured requests still to send, shared by the clients */
} client;

static bool reply_ok(nng_msg *m)
{
    /* {"ok": true, ...}: the envelope starts with a map header then "ok" then true */
    const unsigned char *b = nng_msg_body(m);
    size_t n = nng_msg_len(m);
    return n >= 5 && b[1] == 0xa2 && b[2] == 'o' && b[3] == 'k' && b[4] == 0xc3;
}

/* The error code of an error reply, as a cds_rc. */
static int reply_code(nng_msg *m)
{
    msgpack_unpacked u;
    cds_error err;
    int code = CDS_EINTERNAL;
    if (cds_mp_decode(nng_msg_body(m), nng_msg_len(m), &u, &err) != CDS_OK) return code;
    const msgpack_object *c = cds_mp_get(cds_mp_get(&u.data, "error"), "code");
    for (int i = 1; i < CDS_RC_COUNT && i < 16; i++)
        if (cds_mp_str_eq(c, cds_rc_name((cds_rc)i))) code = i;
    msgpack_unpacked_destroy(&u);
    return code;
}

static void *client_main(void *p)
{
    client *c = p;
    nng_ctx ctx;
    nng_aio *aio;
    if (nng_ctx_open(&ctx, c->sock) || nng_aio_alloc(&aio, NULL, NULL)) return NULL;
    nng_aio_set_timeout(aio, 10000);
    for (size_t i = c->offset;; i++) {
        double t = now_us();
        if (c->left ? t >= c->measure_from && atomic_fetch_sub(c->left, 1) <= 0 : t >= c->end) break;
        const bench_msg *m = &c->set->m[i % c->set->n];
        nng_msg *msg;
        nng_msg_alloc(&msg, 0);
        nng_msg_append(msg, m->data, m->len);
        nng_aio_set_msg(aio, msg);
        nng_ctx_send(ctx, aio);
        nng_aio_wait(aio);
        bool ok = nng_aio_result(aio) == 0;
        int code = 0;   /* transport failure unless a reply says otherwise */
        if (!ok) nng_msg_free(msg);
        if (ok) {
            nng_ctx_recv(ctx, aio);
            nng_aio_wait(aio);
            ok = nng_aio_result(aio) == 0;
            if (ok) {
                nng_msg *r = nng_aio_get_msg(aio);
                ok = c->echo || reply_ok(r);
                if (!ok) code = reply_code(r);
                nng_msg_free(r);
            }
        }
        if (t >= c->measure_from) {
            latency_add(&c->lat, now_us() - t);
            if (!ok) {
                c->lat.errors++;
                c->lat.by_code[code]++;
            }
        }
    }
    nng_aio_free(aio);
    nng_ctx_close(ctx);
    return NULL;
}

/* With `server` > 0 and `cpu` given, also measures CPU per request over the measured phase. */
static void run_nng(const opts *o, const char *url, const bench_set *set, int conc, bool echo, latency *l,
                    pid_t server, cpu_use *cpu)
{
    nng_socket s;
    if (nng_req0_open(&s)) return;
    nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 64u << 20);
    nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_dial(s, url, NULL, 0);
    client *cs = calloc((size_t)conc, sizeof *cs);
    pthread_t *th = calloc((size_t)conc, sizeof *th);
    double start = now_us();
    atomic_long left = o->count;
    for (int i = 0; i < conc; i++) {
        cs[i] = (client){.sock = s, .set = set, .measure_from = start + o->warmup * 1e6,
                         .end = start + (o->warmup + o->duration) * 1e6, .offset = (size_t)i * 7, .echo = echo,
                         .left = o->count > 0 ? &left : NULL};
        pthread_create(&th[i], NULL, client_main, &cs[i]);
    }
    cpu_use c0, c1;
    if (cpu) {
        double wait = start + o->warmup * 1e6 - now_us();
        if (wait > 0) usleep((useconds_t)wait);
        cpu_sample(server, &c0);
    }
    for (int i = 0; i < conc; i++) {
        pthread_join(th[i], NULL);
        latency_merge(l, &cs[i].lat);
        latency_free(&cs[i].lat);
    }
    if (cpu) {
        cpu_sample(server, &c1);
        *cpu = cpu_per_request(&c0, &c1, l->n);
    }
    /* with --count, the measured phase lasts until the last client is done */
    l->seconds = o->count > 0 ? (now_us() - (start + o->warmup * 1e6)) / 1e6 : o->duration;
    free(cs);
    free(th);
    nng_close(s);
}

/* --- echo server: the transport's ceiling -------------------------------------------------- */

typedef struct echo_slot { nng_aio *aio; nng_ctx ctx; bool sending; } echo_slot;

static void echo_cb(void *p)
{
    echo_slot *e = p;
    if (nng_aio_result(e->aio)) {
        if (e->sending) nng_msg_free(nng_aio_get_msg(e->aio));
        return;
    }
    if (!e->sending) {
        e->sending = true;
        nng_aio_set_msg(e->aio, nng_aio_get_msg(e->aio));
        nng_ctx_send(e->ctx, e->aio);
    } else {
        e->sending = false;
        nng_ctx_recv(e->ctx, e->aio);
    }
}

typedef struct echo_server { nng_socket sock; echo_slot slots[128]; } echo_server;

static bool echo_start(echo_server *es, const char *url)
{
    int rv;
    memset(es, 0, sizeof *es);
    if ((rv = nng_rep0_open(&es->sock))) goto fail;
    nng_socket_set_size(es->sock, NNG_OPT_RECVMAXSZ, 64u << 20);
    for (int i = 0; i < 128; i++) {
        echo_slot *e = &es->slots[i];
        if ((rv = nng_aio_alloc(&e->aio, echo_cb, e)) || (rv = nng_ctx_open(&e->ctx, es->sock))) goto fail;
    }
    if ((rv = nng_listen(es->sock, url, NULL, 0))) goto fail;
    for (int i = 0; i < 128; i++) nng_ctx_recv(es->slots[i].ctx, es->slots[i].aio);
    return true;
fail:
    fprintf(stderr, "cdsd-bench: echo server on %s: %s\n", url, nng_strerror(rv));
    return false;
}

static void echo_stop(echo_server *es)
{
    for (int i = 0; i < 128; i++) {
        nng_aio_stop(es->slots[i].aio);
        nng_ctx_close(es->slots[i].ctx);
        nng_aio_free(es->slots[i].aio);
    }
    nng_close(es->sock);
}

/* --- the cdsd server under test -------------------------------------------------------------- */

static int http_port_for_next_server;   /* >0: the next server_start also serves HTTP on it */

static pid_t server_start(const opts *o, const char *rules, char *url, size_t urllen, char *state)
{
    snprintf(url, urllen, "tcp://127.0.0.1:%d", free_port());
    const char *given = getenv("CDSD_BENCH_STATE");   /* an existing state (bench/audit_scale.sh): kept */
    if (given) snprintf(state, 64, "%s", given);
    else {
        snprintf(state, 64, "/tmp/cdsd-bench-XXXXXX");
        if (!mkdtemp(state)) return -1;
    }
    char workers[16];
    snprintf(workers, sizeof workers, "%d", o->workers);
    pid_t pid = fork();
    if (pid == 0) {
        char http[32];
        snprintf(http, sizeof http, "127.0.0.1:%d", http_port_for_next_server);
        const char *argv[24] = {o->cdsd, "serve", "--listen", url, "--rules", rules, "--state", state, "--workers", workers,
                                "--fixtures", "none", "--log-level", "error", "--deadline", "10000", "--queue", "1024"};
        int n = 18;
        if (http_port_for_next_server > 0) argv[n++] = "--http", argv[n++] = http;
        if (o->shadow) argv[n++] = "--shadow", argv[n++] = o->shadow;
        execv(o->cdsd, (char *const *)argv);
        _exit(127);
    }
    nng_socket s;
    nng_req0_open(&s);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 500);
    nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK);
    for (int i = 0; i < 600; i++) {   /* a 1M-pair knowledge base takes a while to import */
        static const unsigned char health[] = {0x81, 0xa2, 'o', 'p', 0xa6, 'h', 'e', 'a', 'l', 't', 'h'};
        char *r;
        size_t n;
        if (nng_send(s, (void *)health, sizeof health, 0) == 0 && nng_recv(s, &r, &n, NNG_FLAG_ALLOC) == 0) {
            nng_free(r, n);
            nng_close(s);
            return pid;
        }
        usleep(100000);
    }
    nng_close(s);
    return -1;
}

static long peak_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb;
}

static void server_stop(pid_t pid, const char *state)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    if (getenv("CDSD_BENCH_KEEP_STATE") || getenv("CDSD_BENCH_STATE")) {   /* bench/audit_*.sh read it afterwards */
        fprintf(stderr, "cdsd-bench: state kept in %s\n", state);
        return;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", state);
    if (system(cmd)) {}
}

/* --repeat, within the 15 runs a measurement keeps */
static int runs_of(const opts *o) { return o->repeat < 1 ? 1 : o->repeat > 15 ? 15 : o->repeat; }

typedef enum { BY_RPS, BY_P50, BY_P99 } run_key;

/* Index of the run whose rps (or p50) is the median of the n runs. */
static int median_run(const latency_summary *s, int n, run_key by)
{
    int idx[16];
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0; j--) {
            const latency_summary *a = &s[idx[j - 1]], *b = &s[idx[j]];
            double ka = by == BY_RPS ? a->rps : by == BY_P50 ? a->p50 : a->p99;
            double kb = by == BY_RPS ? b->rps : by == BY_P50 ? b->p50 : b->p99;
            if (ka <= kb) break;
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    return idx[n / 2];
}

/* --- HTTP/JSON through the gateway, keep-alive connections -------------------------------- */

/* The requests as HTTP bodies: JSON from the envelopes' "request". Free with free_bodies. */
static void json_bodies(const bench_set *set, char ***bodies, size_t **lens)
{
    *bodies = calloc(set->n, sizeof **bodies);
    *lens = calloc(set->n, sizeof **lens);
    for (size_t i = 0; i < set->n; i++) {
        msgpack_unpacked u;
        cds_error err;
        if (cds_mp_decode(set->m[i].data, set->m[i].len, &u, &err)) continue;
        cds_strbuf b;
        cds_strbuf_init(&b);
        cds_json_from_mp(&b, cds_mp_get(&u.data, "request"), -1);
        (*bodies)[i] = b.data;
        (*lens)[i] = b.len;
        msgpack_unpacked_destroy(&u);
    }
}

static void free_bodies(const bench_set *set, char **bodies, size_t *lens)
{
    for (size_t i = 0; i < set->n; i++) free(bodies[i]);
    free(bodies);
    free(lens);
}

/* What the gateway does to every body before the service sees it: JSON -> MessagePack
 * (cds_json_to_mp), in process, one thread. */
static void run_json(const opts *o, const bench_set *set, latency *l)
{
    char **bodies;
    size_t *lens;
    json_bodies(set, &bodies, &lens);
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    double start = now_us(), measure_from = start + o->warmup * 1e6, end = measure_from + o->duration * 1e6, t0 = 0;
    for (size_t i = 0;; i++) {
        double t = now_us();
        if (o->count > 0 ? t0 && l->n >= (size_t)o->count : t >= end) break;
        if (!t0 && t >= measure_from) t0 = t;
        size_t k = i % set->n;
        cds_error err;
        msgpack_sbuffer_clear(&out);
        cds_rc rc = cds_json_to_mp(bodies[k], lens[k], "request body", &out, &err);
        if (t0) {
            latency_add(l, now_us() - t);
            if (rc) {
                l->errors++;
                l->by_code[rc < 16 ? rc : CDS_EINTERNAL]++;
            }
        }
    }
    l->seconds = (now_us() - t0) / 1e6;
    msgpack_sbuffer_destroy(&out);
    free_bodies(set, bodies, lens);
}

typedef struct http_client {
    int port;
    char **bodies;
    size_t *lens, n;
    double measure_from, end;
    latency lat;
    size_t offset;
    atomic_long *left;        /* --count, as for the NNG clients */
} http_client;

/* Reads one response; *status its status, *body_len (if given) its Content-Length. */
static bool read_response(int fd, char *buf, size_t cap, int *status, size_t *body_len)
{
    size_t have = 0;
    char *hdr_end = NULL;
    while (!(hdr_end = memmem(buf, have, "\r\n\r\n", 4))) {
        ssize_t r = read(fd, buf + have, cap - have - 1);
        if (r <= 0) return false;
        have += (size_t)r;
        buf[have] = '\0';
    }
    *status = atoi(buf + 9);
    const char *cl = strcasestr(buf, "Content-Length:");
    size_t body = cl ? (size_t)atol(cl + 15) : 0, got = have - (size_t)(hdr_end + 4 - buf);
    if (body_len) *body_len = body;
    while (got < body) {
        ssize_t r = read(fd, buf, cap - 1);   /* the body is not needed: drain it */
        if (r <= 0) return false;
        got += (size_t)r;
    }
    return true;
}

static int http_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return -1; }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);   /* header and body are two writes */
    return fd;
}

#define HTTP_REPLY_BUF (1u << 20)

/* Posts a body on the connection; true on a 200 (its Content-Length in *reply_len, if given).
 * buf: HTTP_REPLY_BUF bytes for the reply (on the heap: as thread-local storage it would take
 * that much from every thread's stack, the ceiling's 1 MiB ones included). */
static bool http_post(int fd, const char *body, size_t len, char *buf, size_t *reply_len)
{
    char head[256];
    int hl = snprintf(head, sizeof head, "POST /cds-services/medication-safety HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                         "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", len);
    int status = 0;
    return write(fd, head, (size_t)hl) == hl && write(fd, body, len) == (ssize_t)len &&
           read_response(fd, buf, HTTP_REPLY_BUF, &status, reply_len) && status == 200;
}

static void *http_main(void *p)
{
    http_client *c = p;
    int fd = http_connect(c->port);
    char *buf = malloc(HTTP_REPLY_BUF);
    if (fd < 0 || !buf) {
        if (fd >= 0) close(fd);
        free(buf);
        return NULL;
    }
    for (size_t i = c->offset;; i++) {
        double t = now_us();
        if (c->left ? t >= c->measure_from && atomic_fetch_sub(c->left, 1) <= 0 : t >= c->end) break;
        size_t k = i % c->n;
        bool ok = http_post(fd, c->bodies[k], c->lens[k], buf, NULL);
        if (t >= c->measure_from) {
            latency_add(&c->lat, now_us() - t);
            if (!ok) { c->lat.errors++; c->lat.by_code[0]++; }
        }
        if (!ok) break;
    }
    close(fd);
    free(buf);
    return NULL;
}

/* conc keep-alive connections to port; with `server` > 0 and `cpu`, CPU per request too. */
static void run_http(const opts *o, int port, char **bodies, size_t *lens, size_t n, int conc, latency *l,
                     pid_t server, cpu_use *cpu)
{
    http_client *cs = calloc((size_t)conc, sizeof *cs);
    pthread_t *th = calloc((size_t)conc, sizeof *th);
    double start = now_us();
    atomic_long left = o->count;
    for (int i = 0; i < conc; i++) {
        cs[i] = (http_client){.port = port, .bodies = bodies, .lens = lens, .n = n, .offset = (size_t)i * 7,
                              .measure_from = start + o->warmup * 1e6, .end = start + (o->warmup + o->duration) * 1e6,
                              .left = o->count > 0 ? &left : NULL};
        pthread_create(&th[i], NULL, http_main, &cs[i]);
    }
    cpu_use c0, c1;
    if (cpu) {
        double wait = start + o->warmup * 1e6 - now_us();
        if (wait > 0) usleep((useconds_t)wait);
        cpu_sample(server, &c0);
    }
    for (int i = 0; i < conc; i++) {
        pthread_join(th[i], NULL);
        latency_merge(l, &cs[i].lat);
        latency_free(&cs[i].lat);
    }
    if (cpu) {
        cpu_sample(server, &c1);
        *cpu = cpu_per_request(&c0, &c1, l->n);
    }
    l->seconds = o->count > 0 ? (now_us() - (start + o->warmup * 1e6)) / 1e6 : o->duration;
    free(cs);
    free(th);
}

/* The mean size of cdsd's JSON replies to these bodies (one pass on one connection): the size
 * the ceiling answers with. 0 when the server does not answer. */
static size_t mean_reply_size(int port, char **bodies, size_t *lens, size_t n)
{
    int fd = http_connect(port);
    char *buf = malloc(HTTP_REPLY_BUF);
    size_t sum = 0, got = 0;
    for (size_t i = 0; fd >= 0 && buf && i < n; i++) {
        size_t len = 0;
        if (!http_post(fd, bodies[i], lens[i], buf, &len)) break;
        sum += len;
        got++;
    }
    if (fd >= 0) close(fd);
    free(buf);
    return got ? sum / got : 0;
}

/* cdsd over NNG, cdsd over HTTP and the HTTP ceiling, alternating on one server (--repeat N
 * times), at one concurrency: the run with the median throughput of each is reported, HTTP's
 * as shares of NNG's and of the ceiling's with the range of the per-run ratios. */
static void http_vs_nng(const opts *o, const bench_set *set, int conc)
{
    char **bodies;
    size_t *lens;
    json_bodies(set, &bodies, &lens);
    char url[64], state[64], name[64], extra[512];
    int n = runs_of(o);
    latency ln[15] = {{0}}, lh[15] = {{0}}, lc[15] = {{0}};
    latency_summary sn[15] = {{0}}, sh[15] = {{0}}, sc[15] = {{0}};
    cpu_use cn[15] = {{0}}, ch[15] = {{0}};
    http_ceiling *ceiling = NULL;
    http_port_for_next_server = free_port();
    pid_t pid = server_start(o, o->rules, url, sizeof url, state);
    int port = http_port_for_next_server, cport = free_port();
    http_port_for_next_server = 0;
    if (pid < 0) { fprintf(stderr, "cdsd-bench: the server did not start\n"); goto done; }
    usleep(200000);
    size_t reply = mean_reply_size(port, bodies, lens, set->n);
    if (!reply || !(ceiling = http_ceiling_start(cport, reply))) {
        fprintf(stderr, "cdsd-bench: no HTTP reply from cdsd, or the ceiling did not start\n");
        server_stop(pid, state);
        goto done;
    }
    double lo = 1e9, hi = 0, clo = 1e9, chi = 0;
    for (int r = 0; r < n; r++) {
        run_nng(o, url, set, conc, false, &ln[r], pid, &cn[r]);
        run_http(o, port, bodies, lens, set->n, conc, &lh[r], pid, &ch[r]);
        run_http(o, cport, bodies, lens, set->n, conc, &lc[r], 0, NULL);
        sn[r] = latency_summarise(&ln[r]);
        sh[r] = latency_summarise(&lh[r]);
        sc[r] = latency_summarise(&lc[r]);
        double to_nng = sn[r].rps > 0 ? sh[r].rps / sn[r].rps : 0, to_ceiling = sc[r].rps > 0 ? sh[r].rps / sc[r].rps : 0;
        if (to_nng < lo) lo = to_nng;
        if (to_nng > hi) hi = to_nng;
        if (to_ceiling < clo) clo = to_ceiling;
        if (to_ceiling > chi) chi = to_ceiling;
    }
    long rss = peak_rss_kb(pid);
    server_stop(pid, state);
    http_ceiling_stop(ceiling);
    int mn = median_run(sn, n, BY_RPS), mh = median_run(sh, n, BY_RPS), mc = median_run(sc, n, BY_RPS);
    const cpu_use *u = &cn[mn];
    if (o->json)
        snprintf(extra, sizeof extra, "\"cpu_us_per_request\":{\"workers\":%.1f,\"audit\":%.1f,\"nng\":%.1f,\"other\":%.1f,\"client\":%.1f}",
                 u->worker, u->audit, u->nng, u->other, u->client);
    else
        snprintf(extra, sizeof extra, "CPU/request: server workers %.0f + audit %.0f + nng %.0f us, client %.0f us",
                 u->worker, u->audit, u->nng + u->other, u->client);
    snprintf(name, sizeof name, "nng cdsd c=%d", conc);
    report(o, name, &ln[mn], 0, extra);
    snprintf(name, sizeof name, "http ceiling c=%d", conc);
    snprintf(extra, sizeof extra, o->json ? "\"reply_bytes\":%zu" : "fixed %zu-byte reply", reply);
    report(o, name, &lc[mc], 0, extra);
    /* the gateway's threads (libmicrohttpd's, unnamed) are the server's "other" CPU here */
    u = &ch[mh];
    double to_nng = sn[mn].rps > 0 ? sh[mh].rps / sn[mn].rps : 0, to_ceiling = sc[mc].rps > 0 ? sh[mh].rps / sc[mc].rps : 0;
    double p50_nng = sn[mn].p50 > 0 ? sh[mh].p50 / sn[mn].p50 : 0;
    if (o->json)
        snprintf(extra, sizeof extra, "\"nng_rps\":%.0f,\"ratio_to_nng\":%.3f,\"ratio_min\":%.3f,\"ratio_max\":%.3f,"
                 "\"p50_to_nng\":%.2f,\"ceiling_rps\":%.0f,\"ratio_to_ceiling\":%.3f,\"runs\":%d,"
                 "\"cpu_us_per_request\":{\"workers\":%.1f,\"audit\":%.1f,\"nng\":%.1f,\"gateway\":%.1f,\"client\":%.1f}",
                 sn[mn].rps, to_nng, lo, hi, p50_nng, sc[mc].rps, to_ceiling, n, u->worker, u->audit, u->nng, u->other,
                 u->client);
    else
        snprintf(extra, sizeof extra, "= %.0f%% of NNG throughput (median of %d; runs %.0f-%.0f%%), p50 %.2fx NNG; %.0f%% of "
                 "the ceiling (%.0f-%.0f%%); CPU/request: server workers %.0f + audit %.0f + nng %.0f + gateway %.0f us, client %.0f us",
                 100 * to_nng, n, 100 * lo, 100 * hi, p50_nng, 100 * to_ceiling, 100 * clo, 100 * chi, u->worker, u->audit,
                 u->nng, u->other, u->client);
    snprintf(name, sizeof name, "http cdsd c=%d", conc);
    report(o, name, &lh[mh], rss, extra);
    for (int r = 0; r < n; r++) {
        latency_free(&ln[r]);
        latency_free(&lh[r]);
        latency_free(&lc[r]);
    }
done:
    free_bodies(set, bodies, lens);
}

/* --- slow-fetch: calls that carry their prefetch, beside calls waiting on a slow FHIR server ---- */

#define SLOW_CALLS 16         /* calls kept waiting on the FHIR server at once */
#define SLOW_FHIR_MS 1500     /* the FHIR server's delay */

typedef struct slow_caller {
    int port;
    const char *body;
    size_t len;
    atomic_bool *stop;
    latency lat;              /* the slow calls' own latency (about SLOW_FHIR_MS each) */
} slow_caller;

static void *slow_caller_main(void *p)
{
    slow_caller *c = p;
    int fd = http_connect(c->port);
    char *buf = malloc(HTTP_REPLY_BUF);
    while (fd >= 0 && buf && !atomic_load(c->stop)) {
        double t = now_us();
        bool ok = http_post(fd, c->body, c->len, buf, NULL);
        latency_add(&c->lat, now_us() - t);
        if (!ok) {
            c->lat.errors++;
            c->lat.by_code[0]++;
            break;
        }
    }
    if (fd >= 0) close(fd);
    free(buf);
    return NULL;
}

/* The first request without its prefetch, pointed at the stub FHIR server: every key is fetched. */
static char *without_prefetch(const char *body, int fhir_port)
{
    cJSON *req = cJSON_Parse(body);
    if (!req) return NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(req, "prefetch");
    cJSON_DeleteItemFromObjectCaseSensitive(req, "fhirServer");
    cJSON_DeleteItemFromObjectCaseSensitive(req, "fhirAuthorization");
    char server[64];
    snprintf(server, sizeof server, "http://127.0.0.1:%d/fhir", fhir_port);
    cJSON_AddStringToObject(req, "fhirServer", server);
    cJSON *a = cJSON_AddObjectToObject(req, "fhirAuthorization");
    cJSON_AddStringToObject(a, "access_token", "cdsd-bench-synthetic-token");
    cJSON_AddStringToObject(a, "token_type", "Bearer");
    cJSON_AddNumberToObject(a, "expires_in", 300);
    cJSON_AddStringToObject(a, "scope", "patient/*.read");
    cJSON_AddStringToObject(a, "subject", "cdsd-bench");
    char *out = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    return out;
}

/* Issue 20: calls that carry their prefetch over HTTP (conc connections), measured alone and
 * with SLOW_CALLS more calls kept waiting on a FHIR server that answers after SLOW_FHIR_MS,
 * alternating on one server (--repeat N); the runs with the median p99 are reported, with their
 * ratio (the target: within 1.2x). */
static void slow_fetch_vs_none(const opts *o, const bench_set *set, int conc)
{
    char **bodies;
    size_t *lens;
    json_bodies(set, &bodies, &lens);
    char url[64], state[64], name[64], extra[512];
    int n = runs_of(o);
    latency la[15] = {{0}}, lb[15] = {{0}}, slow = {0};
    latency_summary sa[15] = {{0}}, sb[15] = {{0}};
    int sport = free_port();
    fhir_stub *stub = fhir_stub_start(sport, SLOW_FHIR_MS);
    char *slow_body = without_prefetch(bodies[0], sport);
    http_port_for_next_server = free_port();
    pid_t pid = stub && slow_body ? server_start(o, o->rules, url, sizeof url, state) : -1;
    int port = http_port_for_next_server;
    http_port_for_next_server = 0;
    if (pid < 0) {
        fprintf(stderr, "cdsd-bench: the FHIR stub or the server did not start\n");
        goto done;
    }
    usleep(200000);
    double lo = 1e9, hi = 0;
    unsigned long fetched0 = fhir_stub_answered(stub);
    for (int r = 0; r < n; r++) {
        run_http(o, port, bodies, lens, set->n, conc, &la[r], 0, NULL);
        atomic_bool stop = false;
        slow_caller sc[SLOW_CALLS];
        pthread_t th[SLOW_CALLS];
        for (int i = 0; i < SLOW_CALLS; i++) {
            sc[i] = (slow_caller){.port = port, .body = slow_body, .len = strlen(slow_body), .stop = &stop};
            pthread_create(&th[i], NULL, slow_caller_main, &sc[i]);
        }
        usleep(300000);   /* all of them are waiting on the stub */
        run_http(o, port, bodies, lens, set->n, conc, &lb[r], 0, NULL);
        atomic_store(&stop, true);
        for (int i = 0; i < SLOW_CALLS; i++) {
            pthread_join(th[i], NULL);
            latency_merge(&slow, &sc[i].lat);
            latency_free(&sc[i].lat);
        }
        sa[r] = latency_summarise(&la[r]);
        sb[r] = latency_summarise(&lb[r]);
        double ratio = sa[r].p99 > 0 ? sb[r].p99 / sa[r].p99 : 0;
        if (ratio < lo) lo = ratio;
        if (ratio > hi) hi = ratio;
    }
    unsigned long fetched = fhir_stub_answered(stub) - fetched0;
    long rss = peak_rss_kb(pid);
    server_stop(pid, state);
    int ma = median_run(sa, n, BY_P99), mb = median_run(sb, n, BY_P99);
    snprintf(name, sizeof name, "http prefetch sent c=%d", conc);
    report(o, name, &la[ma], 0, NULL);
    latency_summary ss = latency_summarise(&slow);
    double ratio = sa[ma].p99 > 0 ? sb[mb].p99 / sa[ma].p99 : 0;
    if (o->json)
        snprintf(extra, sizeof extra, "\"p99_ratio\":%.3f,\"p99_ratio_min\":%.3f,\"p99_ratio_max\":%.3f,\"runs\":%d,"
                 "\"slow_calls\":%zu,\"slow_p50_us\":%.0f,\"slow_errors\":%zu,\"fhir_requests\":%lu",
                 ratio, lo, hi, n, ss.n, ss.p50, ss.errors, fetched);
    else
        snprintf(extra, sizeof extra, "p99 %.2fx without them (median of %d; runs %.2f-%.2fx); beside %d calls waiting on a "
                 "FHIR server answering after %d ms: %zu answered (p50 %.0f ms, %zu errors), %lu FHIR requests",
                 ratio, n, lo, hi, SLOW_CALLS, SLOW_FHIR_MS, ss.n, ss.p50 / 1000, ss.errors, fetched);
    if (!sb[mb].n)   /* the old design: every call queued behind the slow ones, past the run's end */
        snprintf(extra, sizeof extra, "no call answered within the run, beside %d calls waiting on a FHIR server answering "
                 "after %d ms (%zu of those answered, p50 %.0f ms)", SLOW_CALLS, SLOW_FHIR_MS, ss.n, ss.p50 / 1000);
    snprintf(name, sizeof name, "http + slow fetches c=%d", conc);
    report(o, name, &lb[mb], rss, extra);
    for (int r = 0; r < n; r++) {
        latency_free(&la[r]);
        latency_free(&lb[r]);
    }
done:
    latency_free(&slow);
    fhir_stub_stop(stub);
    free(slow_body);
    free_bodies(set, bodies, lens);
}

/* cdsd vs echo at one concurrency; returns cdsd's summary. With --repeat N the two alternate N
 * times (on a shared, noisy machine a single pair can be 10% off either way) and the run with
 * the median throughput of each is reported, with the range of the per-pair ratios. */
static latency_summary nng_vs_echo(const opts *o, const char *rules, const bench_set *set, int conc, const char *label)
{
    char url[64], state[64], eurl[64], name[64], extra[400];
    int n = runs_of(o);
    latency l[15] = {{0}}, le[15] = {{0}};
    latency_summary s[15] = {{0}}, se[15] = {{0}}, out = {0};
    cpu_use cpu[15] = {{0}};
    pid_t pid = server_start(o, rules, url, sizeof url, state);
    if (pid < 0) { fprintf(stderr, "cdsd-bench: the server did not start\n"); return out; }
    echo_server es;
    snprintf(eurl, sizeof eurl, "tcp://127.0.0.1:%d", free_port());
    bool echo = echo_start(&es, eurl);
    double lo = 1e9, hi = 0;
    for (int r = 0; r < n; r++) {
        run_nng(o, url, set, conc, false, &l[r], pid, &cpu[r]);
        if (echo) run_nng(o, eurl, set, conc, true, &le[r], 0, NULL);
        s[r] = latency_summarise(&l[r]);
        se[r] = latency_summarise(&le[r]);
        double ratio = se[r].rps > 0 ? s[r].rps / se[r].rps : 0;
        if (ratio < lo) lo = ratio;
        if (ratio > hi) hi = ratio;
    }
    long rss = peak_rss_kb(pid);
    server_stop(pid, state);
    if (echo) echo_stop(&es);
    int mc = median_run(s, n, BY_RPS), me = median_run(se, n, BY_RPS);
    snprintf(name, sizeof name, "%s echo c=%d", label, conc);
    report(o, name, &le[me], 0, NULL);
    snprintf(name, sizeof name, "%s cdsd c=%d", label, conc);
    double ratio = se[me].rps > 0 ? s[mc].rps / se[me].rps : 0;
    if (o->json)
        snprintf(extra, sizeof extra, "\"echo_rps\":%.0f,\"ratio_to_echo\":%.3f,\"runs\":%d,\"ratio_min\":%.3f,\"ratio_max\":%.3f",
                 se[me].rps, ratio, n, lo, hi);
    else if (n > 1)
        snprintf(extra, sizeof extra, "= %.0f%% of echo throughput (median of %d; pairs %.0f-%.0f%%), p50 %.1fx echo",
                 100 * ratio, n, 100 * lo, 100 * hi, se[me].p50 > 0 ? s[mc].p50 / se[me].p50 : 0);
    else
        snprintf(extra, sizeof extra, "= %.0f%% of echo throughput, p50 %.1fx echo", 100 * ratio,
                 se[me].p50 > 0 ? s[mc].p50 / se[me].p50 : 0);
    /* where the CPU goes, per request, in the reported run: the transport's ceiling is a CPU
     * budget on a machine whose cores the client and the server share */
    const cpu_use *u = &cpu[mc];
    size_t len = strlen(extra);
    if (o->json)
        snprintf(extra + len, sizeof extra - len,
                 ",\"cpu_us_per_request\":{\"workers\":%.1f,\"audit\":%.1f,\"nng\":%.1f,\"other\":%.1f,\"client\":%.1f}",
                 u->worker, u->audit, u->nng, u->other, u->client);
    else
        snprintf(extra + len, sizeof extra - len, "; CPU/request: server workers %.0f + audit %.0f + nng %.0f us, client %.0f us",
                 u->worker, u->audit, u->nng + u->other, u->client);
    report(o, name, &l[mc], rss, extra);
    out = s[mc];
    for (int r = 0; r < n; r++) {
        latency_free(&l[r]);
        latency_free(&le[r]);
    }
    return out;
}

/* A copy of the rule set with `pairs` generated interactions among generated ingredients. */
static bool make_kb_copy(const char *rules, long pairs, char *dir)
{
    snprintf(dir, 64, "/tmp/cdsd-bench-kb-XXXXXX");
    if (!mkdtemp(dir)) return false;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp -r '%s/.' '%s/'", rules, dir);
    if (system(cmd)) return false;
    long g = (long)ceil((1 + sqrt(1 + 8.0 * (double)pairs)) / 2);
    char path[256];
    snprintf(path, sizeof path, "%s/vocabulary/knowledge/ingredients-bench.tsv", dir);
    FILE *f = fopen(path, "w");
    if (!f) return false;
    fprintf(f, "rxcui\tname\tstatus\tsource\n");
    for (long i = 0; i < g; i++) fprintf(f, "%ld\tbenchdrug%ld\tunverified\tgenerated by cdsd-bench\n", 900000000L + i, i);
    fclose(f);
    snprintf(path, sizeof path, "%s/interactions/knowledge/interactions-bench.tsv", dir);
    f = fopen(path, "w");
    if (!f) return false;
    fprintf(f, "id\ta\tb\tseverity\tmechanism\tmanagement\tsource\n");
    long n = 0;
    for (long i = 0; i < g && n < pairs; i++)
        for (long j = i + 1; j < g && n < pairs; j++, n++)
            fprintf(f, "B%ld\t%ld\t%ld\tminor\tgenerated\tgenerated\tcdsd-bench\n", n, 900000000L + i, 900000000L + j);
    fclose(f);
    return true;
}

static void rmrf(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) {}
}

static cds_ruleset *load(const char *dir)
{
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_ruleset *rs = NULL;
    cds_ruleset_opts ro = {0};
    if (cds_ruleset_load(dir, &ro, &rs, &diag)) fprintf(stderr, "%s", diag.data ? diag.data : "");
    cds_strbuf_free(&diag);
    return rs;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: cdsd-bench [--cdsd PATH] [--rules DIR] [--synthea DIR] [--requests DIR] [--duration S]\n"
               "                  [--count N] [--warmup S] [--workers N] [--conc N] [--repeat N] [--shadow DIR] [--json] [MODE...]\n"
               "MODE: inproc json seq conc http slow-fetch scale-kb scale-meds scale-conc all (default: inproc seq conc)\n"
               "      bodies: write the HTTP bodies to $CDSD_BENCH_BODIES/NNN.json (bench/wrk_http.sh)\n");
}

int main(int argc, char **argv)
{
    static char self[1024], arg0[1024];
    snprintf(arg0, sizeof arg0, "%s", argv[0]);
    snprintf(self, sizeof self, "%s/cdsd", dirname(arg0));   /* cdsd beside cdsd-bench */
    opts o = {.cdsd = self, .rules = "rules", .synthea = "../shared/corpus/synthea-dev", .requests = "fixtures/requests",
              .duration = 3, .warmup = 0.5, .workers = 4, .repeat = 1, .conc = 16};
    static const struct option lo[] = {{"cdsd", 1, 0, 'c'}, {"rules", 1, 0, 'r'}, {"synthea", 1, 0, 's'},
                                       {"requests", 1, 0, 'q'}, {"duration", 1, 0, 'd'}, {"warmup", 1, 0, 'w'},
                                       {"workers", 1, 0, 'W'}, {"repeat", 1, 0, 'R'}, {"count", 1, 0, 'n'}, {"conc", 1, 0, 'C'}, {"shadow", 1, 0, 'S'}, {"json", 0, 0, 'j'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'c': o.cdsd = optarg; break;
        case 'r': o.rules = optarg; break;
        case 's': o.synthea = optarg; break;
        case 'q': o.requests = optarg; break;
        case 'd': o.duration = atof(optarg); break;
        case 'w': o.warmup = atof(optarg); break;
        case 'W': o.workers = atoi(optarg); break;
        case 'R': o.repeat = atoi(optarg); break;
        case 'n': o.count = atol(optarg); break;
        case 'C': o.conc = atoi(optarg) > 0 ? atoi(optarg) : 16; break;
        case 'S': o.shadow = optarg; break;
        case 'j': o.json = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    const char *def[] = {"inproc", "seq", "conc"};
    const char *all[] = {"inproc", "seq", "conc", "http", "scale-meds", "scale-conc", "scale-kb"};
    const char **modes = def;
    int nmodes = 3;
    if (optind < argc) {
        modes = (const char **)argv + optind;
        nmodes = argc - optind;
        if (nmodes == 1 && !strcmp(modes[0], "all")) { modes = all; nmodes = 7; }
    }
    cds_ruleset *rs = load(o.rules);
    if (!rs) return 2;
    bench_set set;
    bench_from_synthea(&set, o.synthea, rs, 42);
    const char *source = "synthea";
    if (!set.n) {
        bench_from_requests(&set, o.requests, rs);
        source = "requests";
    }
    if (!set.n) { fprintf(stderr, "cdsd-bench: no requests (see --synthea / --requests)\n"); return 2; }
    if (!o.json)
    {
        char per_run[64];
        if (o.count > 0) snprintf(per_run, sizeof per_run, "%ld requests", o.count);
        else snprintf(per_run, sizeof per_run, "%.1f s", o.duration);
        printf("# %zu %s requests, mean %.1f KB; %d server workers; %s per run after %.1f s warm-up; %d run(s) per "
               "cdsd/echo pair; %ld cores\n",
               set.n, source, (double)set.bytes / (double)set.n / 1024.0, o.workers, per_run, o.warmup, o.repeat,
               sysconf(_SC_NPROCESSORS_ONLN));
    }
    for (int m = 0; m < nmodes; m++) {
        if (!strcmp(modes[m], "inproc")) {
            latency l = {0};
            run_inproc(&o, rs, &set, &l);
            report(&o, "inproc decode+eval+encode", &l, 0, NULL);
            latency_free(&l);
        } else if (!strcmp(modes[m], "seq")) {
            nng_vs_echo(&o, o.rules, &set, 1, "tcp");
        } else if (!strcmp(modes[m], "json")) {
            latency l = {0};
            run_json(&o, &set, &l);
            report(&o, "inproc json->msgpack", &l, 0, NULL);
            latency_free(&l);
        } else if (!strcmp(modes[m], "http")) {
            http_vs_nng(&o, &set, 1);
            http_vs_nng(&o, &set, 16);
        } else if (!strcmp(modes[m], "bodies")) {
            /* the HTTP bodies the http modes post, one file each, for another client (bench/wrk_http.sh) */
            const char *dir = getenv("CDSD_BENCH_BODIES");
            if (!dir) { fprintf(stderr, "cdsd-bench: bodies needs CDSD_BENCH_BODIES=DIR\n"); return 2; }
            char **bodies;
            size_t *lens;
            json_bodies(&set, &bodies, &lens);
            for (size_t i = 0; i < set.n; i++) {
                char path[1024];
                snprintf(path, sizeof path, "%s/%03zu.json", dir, i);
                FILE *f = fopen(path, "wb");
                if (!f || fwrite(bodies[i], 1, lens[i], f) != lens[i]) { fprintf(stderr, "cdsd-bench: cannot write %s\n", path); return 2; }
                fclose(f);
            }
            free_bodies(&set, bodies, lens);
        } else if (!strcmp(modes[m], "slow-fetch")) {
            slow_fetch_vs_none(&o, &set, 1);
            slow_fetch_vs_none(&o, &set, 16);
        } else if (!strcmp(modes[m], "conc")) {
            nng_vs_echo(&o, o.rules, &set, o.conc, "tcp");
        } else if (!strcmp(modes[m], "scale-conc")) {
            int cs[] = {1, 4, 16, 64};
            for (int i = 0; i < 4; i++) nng_vs_echo(&o, o.rules, &set, cs[i], "scale-conc");
        } else if (!strcmp(modes[m], "scale-meds")) {
            size_t ns[] = {5, 20, 50, 200};
            for (int i = 0; i < 4; i++) {
                bench_set s2;
                bench_synthetic(&s2, 64, ns[i], rs, 7);
                latency l = {0};
                run_inproc(&o, rs, &s2, &l);
                char name[64];
                snprintf(name, sizeof name, "scale-meds inproc meds=%zu", ns[i]);
                report(&o, name, &l, 0, NULL);
                latency_free(&l);
                bench_set_free(&s2);
            }
        } else if (!strcmp(modes[m], "scale-kb")) {
            long sizes[] = {1000, 10000, 100000, 1000000};
            for (int i = 0; i < 4; i++) {
                char dir[64];
                if (!make_kb_copy(o.rules, sizes[i], dir)) { fprintf(stderr, "cdsd-bench: cannot generate\n"); break; }
                double t0 = now_us();
                cds_ruleset *big = load(dir);
                double load_s = (now_us() - t0) / 1e6;
                if (big) {
                    /* the same requests for every size, drawn from the shipped knowledge: only the
                     * size of the table changes, not what the patients take */
                    bench_set s2;
                    bench_synthetic(&s2, 64, 20, rs, 7);
                    latency l = {0};
                    run_inproc(&o, big, &s2, &l);
                    char name[64], extra[96];
                    snprintf(name, sizeof name, "scale-kb inproc pairs=%ld", sizes[i]);
                    snprintf(extra, sizeof extra, o.json ? "\"kb_interactions\":%zu,\"load_s\":%.2f" : "kb=%zu pairs, load %.2f s",
                             cds_kb_ninteractions(big->kb), load_s);
                    report(&o, name, &l, 0, extra);
                    latency_free(&l);
                    bench_set_free(&s2);
                    cds_ruleset_free(big);
                    /* the whole server with this knowledge base: peak RSS and end-to-end p50 */
                    bench_set s3;
                    bench_synthetic(&s3, 64, 20, rs, 7);
                    char url[64], state[64];
                    pid_t pid = server_start(&o, dir, url, sizeof url, state);
                    if (pid > 0) {
                        /* --repeat runs on the same server; the median-p50 run is reported */
                        int n = runs_of(&o);
                        latency le[15] = {{0}};
                        latency_summary ls[15];
                        for (int r = 0; r < n; r++) {
                            run_nng(&o, url, &s3, 1, false, &le[r], 0, NULL);
                            ls[r] = latency_summarise(&le[r]);
                        }
                        int mid = median_run(ls, n, BY_P50);
                        snprintf(name, sizeof name, "scale-kb tcp pairs=%ld", sizes[i]);
                        report(&o, name, &le[mid], peak_rss_kb(pid), n > 1 ? "(median p50 of the runs)" : NULL);
                        for (int r = 0; r < n; r++) latency_free(&le[r]);
                        server_stop(pid, state);
                    }
                    bench_set_free(&s3);
                }
                rmrf(dir);
            }
        } else {
            fprintf(stderr, "cdsd-bench: unknown mode '%s'\n", modes[m]);
            usage(stderr);
            return 2;
        }
    }
    if (o.json) printf("\n]\n");
    bench_set_free(&set);
    cds_ruleset_free(rs);
    return 0;
}
