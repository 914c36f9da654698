/* test_jwt.c — the HTTP gateway's door, with keys made here: the JWT matrix ("Trusting CDS
 * Clients": every kind of bad token gets the same bare 401, valid ES256/ES384/ES512 and RS384
 * tokens get 200, the token never reaches the log); what is refused from a request's head
 * before its body is read (401, framing, media type, encoded path) and the bound on bodies held
 * together; the caller in the audit row; and its connection limit against slow clients.
 * usage: test_jwt PATH/TO/cdsd   (from the repository root) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <jwt.h>
#include <fcntl.h>
#include <poll.h>
#include <sqlite3.h>
#include <netinet/in.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cdsd_proc.h"
#include "jwt_keys.h"
#include "loopback.h"

static const char *cdsd;
static char dir[64], base[64], log_path[128];
static pid_t server;
static char *ec_pem, *rsa_pem, *ec_pub_pem, *ec256_pem, *ec521_pem;
static int port;
static const char *ISS = "https://ehr.example.org", *PUBLIC = "https://cds.example.org";
/* a second name the same gateway is called by (a client on the host itself, issue 21 point 9) */
static const char *ALIAS = "http://localhost:8090/";

static char *public_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k);
    char *d;
    long n = BIO_get_mem_data(b, &d);
    char *s = strndup(d, (size_t)n);
    BIO_free(b);
    return s;
}

static char *bn_b64(EVP_PKEY *k, const char *name)
{
    BIGNUM *bn = NULL;
    EVP_PKEY_get_bn_param(k, name, &bn);
    unsigned char buf[1024];
    int n = BN_bn2bin(bn, buf);
    BN_free(bn);
    return b64url(buf, (size_t)n);
}

/* Runs a curl command that writes the status to dir/code; returns it. */
static int curl_status(const char *cmd)
{
    if (system(cmd) != 0) return -1;
    char p[128];
    snprintf(p, sizeof p, "%s/code", dir);
    FILE *f = fopen(p, "r");
    int code = -1;
    if (f) { if (fscanf(f, "%d", &code) != 1) code = -1; fclose(f); }
    return code;
}

/* GET path with an optional bearer token; returns the HTTP status; body in dir/body. */
static int http_get(const char *path, const char *token)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "curl -s -o '%s/body' -w '%%{http_code}' %s%s%s '%s%s' > '%s/code'", dir,
             token ? "-H 'Authorization: Bearer " : "", token ? token : "", token ? "'" : "", base, path, dir);
    return curl_status(cmd);
}

typedef struct claims {
    const char *iss, *aud, *kid, *jku, *jti, *sub;
    long exp_in, iat_in, nbf_in;
    jwt_alg_t alg;
    const char *key;          /* PEM (private, or the public key as an HMAC secret) */
    bool no_jti, none;        /* none: an unsigned token (alg "none") */
    const char *iat_json;     /* iat as this JSON text ("1e300") instead of a time */
    const char *header_json;  /* more header parameters */
    bool upper;               /* claim names in capitals (ISS, AUD, ...) */
} claims;

static char *token(claims c)
{
    jwt_t *j;
    jwt_new(&j);
    time_t now = time(NULL);
    jwt_add_grant(j, c.upper ? "ISS" : "iss", c.iss ? c.iss : ISS);
    jwt_add_grant(j, c.upper ? "AUD" : "aud", c.aud ? c.aud : "https://cds.example.org/cds-services");
    jwt_add_grant_int(j, c.upper ? "EXP" : "exp", now + (c.exp_in ? c.exp_in : 300));
    if (c.iat_json) {
        char g[128];
        snprintf(g, sizeof g, "{\"iat\":%s}", c.iat_json);
        jwt_add_grants_json(j, g);
    } else {
        jwt_add_grant_int(j, c.upper ? "IAT" : "iat", now + c.iat_in);
    }
    if (c.nbf_in) jwt_add_grant_int(j, "nbf", now + c.nbf_in);
    if (c.sub) jwt_add_grant(j, "sub", c.sub);
    static int serial;
    char jti[32];
    snprintf(jti, sizeof jti, "jti-%d", ++serial);
    if (!c.no_jti) jwt_add_grant(j, c.upper ? "JTI" : "jti", c.jti ? c.jti : jti);
    jwt_add_header(j, "kid", c.kid ? c.kid : "ec-1");
    if (c.header_json) jwt_add_headers_json(j, c.header_json);
    if (c.jku) jwt_add_header(j, "jku", c.jku);
    const char *key = c.key ? c.key : ec_pem;
    if (c.none) jwt_set_alg(j, JWT_ALG_NONE, NULL, 0);
    else jwt_set_alg(j, c.alg ? c.alg : JWT_ALG_ES384, (const unsigned char *)key, (int)strlen(key));
    char *t = jwt_encode_str(j);
    jwt_free(j);
    return t;
}

static int setup(void **s)
{
    (void)s;
    snprintf(dir, sizeof dir, "/tmp/cdsd-jwt-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    EVP_PKEY *ec = EVP_EC_gen("P-384"), *rsa = EVP_RSA_gen(2048), *ec256 = EVP_EC_gen("P-256"), *ec521 = EVP_EC_gen("P-521");
    ec256_pem = private_pem(ec256);
    ec521_pem = private_pem(ec521);
    char *jwk256 = ec_jwk(ec256, "P-256", "ec256-1"), *jwk521 = ec_jwk(ec521, "P-521", "ec521-1");
    EVP_PKEY_free(ec256);
    EVP_PKEY_free(ec521);
    ec_pem = private_pem(ec);
    rsa_pem = private_pem(rsa);
    ec_pub_pem = public_pem(ec);
    char *jwk384 = ec_jwk(ec, "P-384", "ec-1"), *n = bn_b64(rsa, "n"), *e = bn_b64(rsa, "e");
    char path[128];
    snprintf(path, sizeof path, "%s/jwks.json", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"keys\":[%s,{\"kty\":\"RSA\",\"kid\":\"rsa-1\",\"n\":\"%s\",\"e\":\"%s\"},%s,%s]}\n", jwk384, n, e,
            jwk256, jwk521);
    fclose(f);
    free(jwk384); free(jwk256); free(jwk521); free(n); free(e);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(rsa);
    port = free_port();
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    snprintf(log_path, sizeof log_path, "%s/server.log", dir);
    char http[64], issuer[256], state[128], listen[128];
    snprintf(http, sizeof http, "127.0.0.1:%d", port);
    snprintf(issuer, sizeof issuer, "%s=%s", ISS, path);
    snprintf(state, sizeof state, "%s/var", dir);
    snprintf(listen, sizeof listen, "ipc://%s/cdsd.sock", dir);
    const char *args[] = {"--listen", listen, "--state", state, "--fixtures", "none", "--http", http, "--jwt-issuer", issuer,
                          "--jwt-jku", "https://ehr.example.org/jwks.json", "--public-url", PUBLIC, "--public-url", ALIAS,
                          /* two 4 MiB bodies fill it (the_bodies_in_progress_are_bounded_together) */
                          "--http-max-buffered", "8388608", NULL};
    server = cdsd_spawn(cdsd, log_path, args);
    for (int i = 0; i < 100; i++) {
        if (http_get("/health", NULL) == 200) return 0;
        usleep(100000);
    }
    return -1;
}

static int teardown(void **s)
{
    (void)s;
    cdsd_stop(server, log_path);
    free(ec_pem); free(rsa_pem); free(ec_pub_pem); free(ec256_pem); free(ec521_pem);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int server_threads(void) { return (int)cdsd_status_field(server, "Threads:"); }

/* A thread per connection: 300 clients that send half a request and wait (slowloris) once took
 * a thread each, up to ~1000. They stop at the limit (256), others are refused meanwhile, and
 * the gateway answers again once they leave. */
static void slow_clients_are_bounded_and_the_gateway_recovers(void **s)
{
    (void)s;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int threads0 = server_threads();
    int fds[300];
    static const char half[] = "POST /cds-services/medication-safety HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 300; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fds[i] >= 0);
        if (connect(fds[i], (struct sockaddr *)&sa, sizeof sa) == 0) (void)!write(fds[i], half, sizeof half - 1);
    }
    int busiest = 0;
    for (int i = 0; i < 20; i++) {   /* the gateway takes them on asynchronously */
        int t = server_threads();
        if (t > busiest) busiest = t;
        usleep(50000);
    }
    print_message("server threads: %d idle, %d with 300 slow clients\n", threads0, busiest);
    assert_true(busiest <= threads0 + 256 + 2);
    for (int i = 0; i < 300; i++) close(fds[i]);
    int code = -1;
    for (int i = 0; i < 50 && code != 200; i++) {
        code = http_get("/health", NULL);
        if (code != 200) usleep(100000);
    }
    assert_int_equal(code, 200);
}

static void valid_es384_and_rs384_tokens_are_accepted(void **s)
{
    (void)s;
    char *t = token((claims){0});
    assert_int_equal(http_get("/cds-services", t), 200);
    free(t);
    t = token((claims){.alg = JWT_ALG_RS384, .kid = "rsa-1", .key = rsa_pem});
    assert_int_equal(http_get("/cds-services", t), 200);
    free(t);
    t = token((claims){.jku = "https://ehr.example.org/jwks.json"});
    assert_int_equal(http_get("/cds-services", t), 200);
    free(t);
    /* each EC algorithm on its own curve */
    t = token((claims){.alg = JWT_ALG_ES256, .kid = "ec256-1", .key = ec256_pem});
    assert_int_equal(http_get("/cds-services", t), 200);
    free(t);
    t = token((claims){.alg = JWT_ALG_ES512, .kid = "ec521-1", .key = ec521_pem});
    assert_int_equal(http_get("/cds-services", t), 200);
    free(t);
}

/* Several --public-url values: a token for any of them is accepted; one for none is a bare
 * 401 whose log line names the received aud and the configured ones (never the token). */
static void every_public_url_is_an_audience_and_a_wrong_aud_is_logged(void **s)
{
    (void)s;
    char *t = token((claims){.aud = "http://localhost:8090/cds-services"});
    assert_int_equal(http_get("/cds-services", t), 200);
    free(t);
    t = token((claims){.aud = "http://127.0.0.1:8090/cds-services"});
    assert_int_equal(http_get("/cds-services", t), 401);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "grep -q \"op=discover service=- hook=- status=401 outcome=unauthorized msg=.HTTP GET: aud "
             "'http://127.0.0.1:8090/cds-services' is not the URL called; configured (--public-url + path): "
             "'https://cds.example.org/cds-services', 'http://localhost:8090/cds-services'\" '%s' && ! grep -q '%.40s' '%s'",
             log_path, strrchr(t, '.') + 1, log_path);
    if (system(cmd) != 0) {
        snprintf(cmd, sizeof cmd, "grep 401 '%s' >&2", log_path);
        (void)!system(cmd);
        fail_msg("the 401 line does not name the received and configured aud");
    }
    free(t);
}

static void every_bad_token_gets_the_same_bare_401(void **s)
{
    (void)s;
    char *good = token((claims){0});
    assert_int_equal(http_get("/cds-services", good), 200);
    char *tampered = strdup(good);
    size_t l = strlen(tampered);
    tampered[l - 3] = tampered[l - 3] == 'A' ? 'B' : 'A';
    struct { const char *name; char *token; } cases[] = {
        {"alg none", token((claims){.none = true})},
        {"HS256 with the public key as secret", token((claims){.alg = JWT_ALG_HS256, .key = ec_pub_pem})},
        {"wrong aud", token((claims){.aud = "https://cds.example.org/cds-services/other"})},
        {"expired", token((claims){.exp_in = -10})},
        {"iat in the future", token((claims){.iat_in = 600})},
        {"unknown iss", token((claims){.iss = "https://intruder.example"})},
        {"jku not allowed", token((claims){.jku = "https://intruder.example/jwks.json"})},
        {"unknown kid", token((claims){.kid = "nope"})},
        {"alg does not fit the key", token((claims){.alg = JWT_ALG_RS384, .kid = "ec-1", .key = rsa_pem})},
        {"bad signature", tampered},
        {"replayed jti", strdup(good)},
        {"missing jti", token((claims){.no_jti = true})},
        /* issue 22 item 11 */
        {"unknown crit header parameter", token((claims){.header_json = "{\"crit\":[\"x-policy\"],\"x-policy\":1}"})},
        {"iat 1e300", token((claims){.iat_json = "1e300"})},
        {"iat -1e300", token((claims){.iat_json = "-1e300"})},
        {"iat a string", token((claims){.iat_json = "\"1700000000\""})},
        {"exp ten years ahead", token((claims){.exp_in = 10L * 365 * 86400})},
        {"exp 7 minutes ahead", token((claims){.exp_in = 420})},
        {"nbf in the future", token((claims){.nbf_in = 600})},
        {"ES256 over a P-384 key", token((claims){.alg = JWT_ALG_ES256})},
        {"ES384 over a P-256 key", token((claims){.kid = "ec256-1", .key = ec256_pem})},
        {"claim names in capitals", token((claims){.upper = true})},
        {"no token", NULL},  /* NOLINT */
    };
    char first[256] = "";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int code = http_get("/cds-services", cases[i].token);
        if (code != 401) fail_msg("%s: %d", cases[i].name, code);
        char p[128], body[256] = "";
        snprintf(p, sizeof p, "%s/body", dir);
        FILE *f = fopen(p, "r");
        size_t n = f ? fread(body, 1, sizeof body - 1, f) : 0;
        body[n] = '\0';
        if (f) fclose(f);
        if (!first[0]) snprintf(first, sizeof first, "%s", body);
        assert_string_equal(body, first);   /* no hint of why */
        free(cases[i].token);
    }
    /* the log says why, never the token */
    char *sig = strrchr(good, '.') + 1;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "grep -q 'jti replayed' '%s' && ! grep -q '%.40s' '%s'", log_path, sig, log_path);
    assert_int_equal(system(cmd), 0);
    free(good);
    assert_int_equal(http_get("/health", NULL), 200);   /* load balancers need no token */
}


/* A connection to the gateway, or -1. */
static int connect_gateway(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Sends n bytes (a request as raw bytes); false when the peer stopped taking them for 2 s or
 * closed the connection. */
static bool send_all(int fd, const char *p, size_t n)
{
    while (n) {
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        if (poll(&pf, 1, 2000) != 1) return false;
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        if (w <= 0) return false;
        p += w, n -= (size_t)w;
    }
    return true;
}

/* The status of the response read from fd (the head into head, when given); -1 without one. */
static int read_status(int fd, char *head, size_t cap)
{
    char buf[4096];
    size_t n = 0;
    while (n < sizeof buf - 1) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 5000) != 1) break;
        ssize_t r = recv(fd, buf + n, sizeof buf - 1 - n, 0);
        if (r <= 0) break;
        n += (size_t)r;
        buf[n] = '\0';
        if (strstr(buf, "\r\n\r\n")) break;
    }
    buf[n] = '\0';
    if (head) snprintf(head, cap, "%s", buf);
    int code = -1;
    return sscanf(buf, "HTTP/1.1 %d", &code) == 1 ? code : -1;
}

/* One raw request on its own connection: its status. */
static int raw_status(const char *req, size_t len, char *head, size_t cap)
{
    int fd = connect_gateway();
    if (fd < 0) return -1;
    int code = send_all(fd, req, len) ? read_status(fd, head, cap) : -1;
    close(fd);
    return code;
}

/* POST a file with a token and a content type to path; the status (body in dir/body). */
static int http_post(const char *path, const char *token, const char *type, const char *file)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "curl -s -o '%s/body' -w '%%{http_code}' -H 'Authorization: Bearer %s' -H 'Content-Type: %s' "
             "--data-binary @'%s' '%s%s' > '%s/code'", dir, token, type, file, base, path, dir);
    return curl_status(cmd);
}

static const char *REQ = "fixtures/requests/spec-90-composed-order-sign-ddi.json";
#define CALL_AUD "https://cds.example.org/cds-services/medication-safety"

/* Issue 22 item 3: the gateway read the whole body (up to --max-request) before checking the
 * token: 200 connections without one, each holding 4 MiB - 1 bytes, took the server from 20 to
 * 830 MiB. The 401 now goes out from the request's head and the body is never read. */
static void unauthenticated_bodies_are_refused_before_they_are_read(void **s)
{
    (void)s;
    enum { CONNS = 64, BODY = 4 << 20 };
    long rss0 = cdsd_status_field(server, "VmRSS:");
    char *junk = malloc(BODY);
    memset(junk, ' ', BODY);
    char head[256];
    int len = snprintf(head, sizeof head, "POST /cds-services/medication-safety HTTP/1.1\r\nHost: x\r\n"
                       "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", BODY);
    int fds[CONNS], refused_early = 0;
    for (int i = 0; i < CONNS; i++) {
        fds[i] = connect_gateway();
        assert_true(fds[i] >= 0);
        /* all but the last byte: a request held open, as in the campaign */
        if (!send_all(fds[i], head, (size_t)len) || !send_all(fds[i], junk, BODY - 1)) refused_early++;
    }
    long rss1 = cdsd_status_field(server, "VmRSS:");
    for (int i = 0; i < CONNS; i++) close(fds[i]);
    free(junk);
    print_message("server RSS %ld kB idle, %ld kB with %d unauthenticated 4 MiB bodies (%d refused before the "
                  "body was sent)\n", rss0, rss1, CONNS, refused_early);
    /* buffered, they were 256 MiB; refused from the head, a few MiB of connections */
    assert_true(rss1 - rss0 < 64 * 1024);
    assert_int_equal(refused_early, CONNS);
    /* a token's holder is still served, body and all */
    char *t = token((claims){.aud = CALL_AUD});
    assert_int_equal(http_post("/cds-services/medication-safety", t, "application/json", REQ), 200);
    free(t);
}

/* Issue 22 item 3: bodies being received are bounded together (--http-max-buffered, 8 MiB here):
 * with two 4 MiB bodies in progress a third request is answered 503 with Retry-After at once,
 * and served again when they are gone. */
static void the_bodies_in_progress_are_bounded_together(void **s)
{
    (void)s;
    int fds[2] = {-1, -1};
    char cmd[8192];
    int busy = 1;
    /* A busy machine can leave the previous test's slow clients holding the gateway's connection
     * slots for a while, and a held connection refused at accept never reserves its body: the
     * two bodies are opened afresh until a third request is refused (a minute at most). */
    for (int round = 0; round < 6 && busy; round++) {
        for (int i = 0; i < 2; i++) {
            if (fds[i] >= 0) close(fds[i]);
            char *t = token((claims){.aud = CALL_AUD});
            char head[2048];
            int len = snprintf(head, sizeof head, "POST /cds-services/medication-safety HTTP/1.1\r\nHost: x\r\n"
                               "Authorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{",
                               t, 4 << 20);
            free(t);
            assert_true((fds[i] = connect_gateway()) >= 0);
            assert_true(send_all(fds[i], head, (size_t)len));
        }
        /* the gateway reads both heads asynchronously: ask until it answers 503 (10 s a round) */
        for (int i = 0; i < 50 && busy; i++) {
            char *t = token((claims){.aud = CALL_AUD});
            snprintf(cmd, sizeof cmd, "curl -s -D '%s/head' -o /dev/null -H 'Authorization: Bearer %s' "
                     "-H 'Content-Type: application/json' --data-binary @'%s' '%s/cds-services/medication-safety'",
                     dir, t, REQ, base);
            assert_int_equal(system(cmd), 0);
            free(t);
            snprintf(cmd, sizeof cmd, "grep -q '^HTTP/1.1 503' '%s/head' && grep -qi '^Retry-After: 1' '%s/head'", dir, dir);
            if ((busy = system(cmd)) != 0) usleep(200000);
        }
    }
    if (busy) {
        snprintf(cmd, sizeof cmd, "cat '%s/head' >&2", dir);
        (void)!system(cmd);
        fail_msg("a third body beyond --http-max-buffered was not answered 503 with Retry-After");
    }
    for (int i = 0; i < 2; i++) close(fds[i]);
    int code = -1;
    for (int i = 0; i < 50 && code != 200; i++) {
        char *t = token((claims){.aud = CALL_AUD});
        if ((code = http_post("/cds-services/medication-safety", t, "application/json", REQ)) != 200) usleep(100000);
        free(t);
    }
    assert_int_equal(code, 200);
}

/* Issue 22 item 4: two different Content-Length headers (a smuggling shape behind proxies), a
 * media type that only starts like JSON, and a service id with an encoded NUL or slash were
 * accepted ("/cds-services/medication-safety%00" was served). */
static void the_head_of_a_request_is_checked(void **s)
{
    (void)s;
    char resp[4096];
    static const char two_lengths[] = "POST /cds-services/medication-safety HTTP/1.1\r\nHost: x\r\n"
                                      "Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}";
    assert_int_equal(raw_status(two_lengths, sizeof two_lengths - 1, resp, sizeof resp), 400);
    if (!strstr(resp, "two different Content-Length headers")) fail_msg("%s", resp);
    static const char both[] = "POST /cds-services/medication-safety HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                               "Content-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
    assert_int_equal(raw_status(both, sizeof both - 1, resp, sizeof resp), 400);
    struct { const char *path, *aud, *type; int status; } cases[] = {
        {"/cds-services/medication-safety", CALL_AUD, "application/jsonx", 415},
        {"/cds-services/medication-safety", CALL_AUD, "application/json-patch+json", 415},
        {"/cds-services/medication-safety", CALL_AUD, "application/json; charset=utf-8", 200},
        {"/cds-services/medication-safety", CALL_AUD, "Application/JSON", 200},
        {"/cds-services/medication-safety%00", CALL_AUD, "application/json", 404},
        {"/cds-services/medication-safety%00x", CALL_AUD, "application/json", 404},
        {"/cds-services/medication-safety%2ffeedback", CALL_AUD "/feedback", "application/json", 404},
        {"/cds-services/medication-safety%2Ffeedback", CALL_AUD "/feedback", "application/json", 404},
        {"/cds-services/medication%2Dsafety", CALL_AUD, "application/json", 200},   /* any other escape decodes */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = token((claims){.aud = cases[i].aud});
        int code = http_post(cases[i].path, t, cases[i].type, REQ);
        free(t);
        if (code != cases[i].status) fail_msg("%s as %s: %d, not %d", cases[i].path, cases[i].type, code, cases[i].status);
    }
}

/* Issue 22 item 8: a raw NUL in the body cut a string silently (the request was answered 200);
 * 400, naming the field. */
static void a_raw_nul_in_the_body_is_a_400_with_its_path(void **s)
{
    (void)s;
    char path[128];
    snprintf(path, sizeof path, "%s/nul.json", dir);
    FILE *f = fopen(path, "wb");
    static const char body[] = "{\"hook\":\"order-sign\",\"hookInstance\":\"h-1\",\"context\":{\"userId\":\"Practitioner/1\","
                               "\"patientId\":\"p-1\0 -- anything\",\"draftOrders\":{\"resourceType\":\"Bundle\",\"entry\":[]}}}";
    fwrite(body, 1, sizeof body - 1, f);
    fclose(f);
    char *t = token((claims){.aud = CALL_AUD});
    assert_int_equal(http_post("/cds-services/medication-safety", t, "application/json", path), 400);
    free(t);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "grep -q '\"expression\":\\[\"\\$.context.patientId\"\\]' '%s/body'", dir);
    if (system(cmd) != 0) {
        snprintf(cmd, sizeof cmd, "cat '%s/body' >&2", dir);
        (void)!system(cmd);
        fail_msg("the 400 does not name the field");
    }
}

/* Issue 22 item 6: HTTP decisions recorded an empty caller; now the peer address and the
 * token's iss and sub (never the token). */
static void http_decisions_record_the_caller(void **s)
{
    (void)s;
    char *t = token((claims){.aud = CALL_AUD, .sub = "Practitioner/synthetic-7"});
    assert_int_equal(http_post("/cds-services/medication-safety", t, "application/json", REQ), 200);
    char db_path[160];
    snprintf(db_path, sizeof db_path, "%s/var/audit.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT caller FROM decision ORDER BY rowid DESC LIMIT 1", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *caller = (const char *)sqlite3_column_text(st, 0);
    char want[256];
    snprintf(want, sizeof want, " iss=%s sub=Practitioner/synthetic-7", ISS);
    print_message("caller: %s\n", caller ? caller : "(null)");
    assert_non_null(caller);
    assert_true(strncmp(caller, "http 127.0.0.1:", 15) == 0);
    assert_non_null(strstr(caller, want));
    assert_null(strstr(caller, strrchr(t, '.') + 1));
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(t);
}

/* How many lines of the server's log match a grep pattern. */
static int log_count(const char *pattern)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "grep -c -- '%s' '%s' > '%s/count'", pattern, log_path, dir);
    if (system(cmd)) {}   /* grep -c exits 1 on no match, still printing 0 */
    snprintf(cmd, sizeof cmd, "%s/count", dir);
    FILE *f = fopen(cmd, "r");
    int n = -1;
    if (f) { if (fscanf(f, "%d", &n) != 1) n = -1; fclose(f); }
    return n;
}

/* Issue 22 item 7: CR/LF in a JWT header field (kid, alg, jku), a claim (iss) and the URL path
 * once forged log lines. Each is escaped inside its quoted field: every request that carried the
 * forged text is one line, and no line starts with it. */
static void control_characters_in_a_token_or_the_path_cannot_forge_a_log_line(void **s)
{
    (void)s;
#define FORGED "\r\ntime=2000-01-01T00:00:00.000Z level=error event=forged"
    int before = log_count("event=forged");
    char *tokens[4];
    tokens[0] = token((claims){.kid = "ec-1" FORGED});
    tokens[1] = token((claims){.jku = "https://ehr.example.org/" FORGED});
    tokens[2] = token((claims){.iss = "https://ehr.example.org" FORGED});
    /* the same text as JSON escapes: the verifier's parser turns them into CR and LF */
    static const char hdr[] = "{\"alg\":\"ES384\\r\\ntime=2000-01-01T00:00:00.000Z level=error event=forged\","
                              "\"typ\":\"JWT\",\"kid\":\"ec-1\"}";
    static const char pay[] = "{\"iss\":\"https://ehr.example.org\"}";
    char *h = b64url((const unsigned char *)hdr, strlen(hdr)), *p = b64url((const unsigned char *)pay, strlen(pay));
    tokens[3] = malloc(strlen(h) + strlen(p) + 8);
    sprintf(tokens[3], "%s.%s.c2ln", h, p);
    free(h);
    free(p);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(http_get("/cds-services", tokens[i]), 401);
        free(tokens[i]);
    }
    assert_int_equal(log_count("event=forged") - before, 4);
    /* the gateway decodes %0d%0a in the path; a service id with a control character is refused
     * (404) before the token is looked at, and whatever is logged about it stays escaped */
    int code = http_get("/cds-services/x%0d%0atime=2000-01-01T00:00:00.000Z%20level=error%20event=forged", NULL);
    assert_true(code == 404 || code == 401);
    int lines = log_count("event=forged") - before;
    assert_true(lines == 4 || lines == 5);
    assert_int_equal(log_count("^time=2000"), 0);
    assert_int_equal(log_count("\\\\r\\\\ntime=2000-01-01") - before, lines);   /* written \r\n, readable */
#undef FORGED
}

/* Issue 19: a call with a patient's name and birth date, a bearer token and a FHIR access token
 * is logged (one request line) without any of them. */
static void a_call_with_patient_data_and_tokens_logs_none_of_them(void **s)
{
    (void)s;
    char path[128], cmd[4096];
    snprintf(path, sizeof path, "%s/phi.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"hook\":\"order-sign\",\"hookInstance\":\"phi-http-1\",\"fhirServer\":\"http://127.0.0.1:9/fhir\","
          "\"fhirAuthorization\":{\"access_token\":\"eyJmarkerAccessToken.payload.sig\",\"token_type\":\"Bearer\","
          "\"expires_in\":300,\"scope\":\"patient/*.read\",\"subject\":\"cdsd\"},"
          "\"context\":{\"userId\":\"Practitioner/1\",\"patientId\":\"patient-marker-77\",\"draftOrders\":"
          "{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":{\"resourceType\":\"MedicationRequest\",\"id\":\"d\","
          "\"status\":\"draft\",\"medicationCodeableConcept\":{\"text\":\"Warfarin 5 mg\"}}}]}},"
          "\"prefetch\":{\"patient\":{\"resourceType\":\"Patient\",\"id\":\"patient-marker-77\","
          "\"name\":[{\"family\":\"Zyxmarker\",\"given\":[\"Quux\"]}],\"birthDate\":\"1911-11-11\"},"
          "\"medications\":null,\"allergies\":null}}", f);
    fclose(f);
    char *t = token((claims){.aud = "https://cds.example.org/cds-services/medication-safety"});
    snprintf(cmd, sizeof cmd, "curl -s -o /dev/null -w '%%{http_code}' -H 'Authorization: Bearer %s' "
             "-H 'Content-Type: application/json' --data-binary @'%s' '%s/cds-services/medication-safety' | grep -qx 200",
             t, path, base);
    assert_int_equal(system(cmd), 0);
    assert_true(log_count("event=request id=- op=call service=medication-safety hook=order-sign status=200 outcome=ok") >= 1);
    char sig[48];
    snprintf(sig, sizeof sig, "%.40s", strrchr(t, '.') + 1);
    const char *markers[] = {"Zyxmarker", "Quux", "1911-11-11", "patient-marker-77", "eyJmarker", sig};
    for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++)
        if (log_count(markers[i]) != 0) fail_msg("'%s' is in the log", markers[i]);
    free(t);
}

int main(int argc, char **argv)
{
    if (argc < 2) return 2;
    cdsd = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_es384_and_rs384_tokens_are_accepted),
        cmocka_unit_test(every_bad_token_gets_the_same_bare_401),
        cmocka_unit_test(every_public_url_is_an_audience_and_a_wrong_aud_is_logged),
        cmocka_unit_test(slow_clients_are_bounded_and_the_gateway_recovers),
        cmocka_unit_test(unauthenticated_bodies_are_refused_before_they_are_read),
        cmocka_unit_test(the_bodies_in_progress_are_bounded_together),
        cmocka_unit_test(the_head_of_a_request_is_checked),
        cmocka_unit_test(a_raw_nul_in_the_body_is_a_400_with_its_path),
        cmocka_unit_test(http_decisions_record_the_caller),
        cmocka_unit_test(control_characters_in_a_token_or_the_path_cannot_forge_a_log_line),
        cmocka_unit_test(a_call_with_patient_data_and_tokens_logs_none_of_them),
    };
    return cmocka_run_group_tests_name("jwt", tests, setup, teardown);
}
