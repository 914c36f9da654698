/* test_jwt.c — the HTTP gateway's JWT matrix ("Trusting CDS Clients"), with keys made here:
 * every kind of bad token gets the same bare 401, valid ES384 and RS384 tokens get 200, and the
 * token never reaches the log; and its connection limit holds against slow clients.
 * usage: test_jwt PATH/TO/cdsd   (from the repository root) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <jwt.h>
#include <netinet/in.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
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
#include "loopback.h"

static const char *cdsd;
static char dir[64], base[64], log_path[128];
static pid_t server;
static char *ec_pem, *rsa_pem, *ec_pub_pem;
static const char *ISS = "https://ehr.example.org", *PUBLIC = "https://cds.example.org";
/* a second name the same gateway is called by (a client on the host itself, issue 21 point 9) */
static const char *ALIAS = "http://localhost:8090/";

static char *b64url(const unsigned char *b, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    int l = EVP_EncodeBlock((unsigned char *)out, b, (int)n);
    while (l && out[l - 1] == '=') l--;
    out[l] = '\0';
    for (char *p = out; *p; p++) *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

static char *private_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    char *d;
    long n = BIO_get_mem_data(b, &d);
    char *s = strndup(d, (size_t)n);
    BIO_free(b);
    return s;
}

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

/* GET path with an optional bearer token; returns the HTTP status; body in dir/body. */
static int http_get(const char *path, const char *token)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "curl -s -o '%s/body' -w '%%{http_code}' %s%s%s '%s%s' > '%s/code'", dir,
             token ? "-H 'Authorization: Bearer " : "", token ? token : "", token ? "'" : "", base, path, dir);
    if (system(cmd) != 0) return -1;
    char p[128];
    snprintf(p, sizeof p, "%s/code", dir);
    FILE *f = fopen(p, "r");
    int code = -1;
    if (f) { if (fscanf(f, "%d", &code) != 1) code = -1; fclose(f); }
    return code;
}

typedef struct claims {
    const char *iss, *aud, *kid, *jku, *jti;
    long exp_in, iat_in;
    jwt_alg_t alg;
    const char *key;          /* PEM (private, or the public key as an HMAC secret) */
    bool no_jti, none;        /* none: an unsigned token (alg "none") */
} claims;

static char *token(claims c)
{
    jwt_t *j;
    jwt_new(&j);
    time_t now = time(NULL);
    jwt_add_grant(j, "iss", c.iss ? c.iss : ISS);
    jwt_add_grant(j, "aud", c.aud ? c.aud : "https://cds.example.org/cds-services");
    jwt_add_grant_int(j, "exp", now + (c.exp_in ? c.exp_in : 300));
    jwt_add_grant_int(j, "iat", now + c.iat_in);
    static int serial;
    char jti[32];
    snprintf(jti, sizeof jti, "jti-%d", ++serial);
    if (!c.no_jti) jwt_add_grant(j, "jti", c.jti ? c.jti : jti);
    jwt_add_header(j, "kid", c.kid ? c.kid : "ec-1");
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
    EVP_PKEY *ec = EVP_EC_gen("P-384"), *rsa = EVP_RSA_gen(2048);
    ec_pem = private_pem(ec);
    rsa_pem = private_pem(rsa);
    ec_pub_pem = public_pem(ec);
    unsigned char pub[200];
    size_t pl = 0;
    EVP_PKEY_get_octet_string_param(ec, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub, &pl);
    size_t half = (pl - 1) / 2;
    char *x = b64url(pub + 1, half), *y = b64url(pub + 1 + half, half), *n = bn_b64(rsa, "n"), *e = bn_b64(rsa, "e");
    char path[128];
    snprintf(path, sizeof path, "%s/jwks.json", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"kid\":\"ec-1\",\"x\":\"%s\",\"y\":\"%s\"},"
               "{\"kty\":\"RSA\",\"kid\":\"rsa-1\",\"n\":\"%s\",\"e\":\"%s\"}]}\n", x, y, n, e);
    fclose(f);
    free(x); free(y); free(n); free(e);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(rsa);
    int port = free_port();
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    snprintf(log_path, sizeof log_path, "%s/server.log", dir);
    char http[64], issuer[256], state[128], listen[128];
    snprintf(http, sizeof http, "127.0.0.1:%d", port);
    snprintf(issuer, sizeof issuer, "%s=%s", ISS, path);
    snprintf(state, sizeof state, "%s/var", dir);
    snprintf(listen, sizeof listen, "ipc://%s/cdsd.sock", dir);
    const char *args[] = {"--listen", listen, "--state", state, "--fixtures", "none", "--http", http, "--jwt-issuer", issuer,
                          "--jwt-jku", "https://ehr.example.org/jwks.json", "--public-url", PUBLIC, "--public-url", ALIAS, NULL};
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
    free(ec_pem); free(rsa_pem); free(ec_pub_pem);
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
    int port = 0;
    assert_int_equal(sscanf(base, "http://127.0.0.1:%d", &port), 1);
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
    snprintf(cmd, sizeof cmd, "grep -q \"op=discover service=- hook=- status=401 error=unauthorized HTTP GET: aud "
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

int main(int argc, char **argv)
{
    if (argc < 2) return 2;
    cdsd = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_es384_and_rs384_tokens_are_accepted),
        cmocka_unit_test(every_bad_token_gets_the_same_bare_401),
        cmocka_unit_test(every_public_url_is_an_audience_and_a_wrong_aud_is_logged),
        cmocka_unit_test(slow_clients_are_bounded_and_the_gateway_recovers),
    };
    return cmocka_run_group_tests_name("jwt", tests, setup, teardown);
}
