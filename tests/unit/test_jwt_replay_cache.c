/* test_jwt_replay_cache.c — the JWT verifier's jti cache is bounded (issue 22 item 11): 3,000
 * tokens with a 10-year exp once added 5.9 MiB. Built with CDS_JWT_MAX_SEEN=8 (tests/CMakeLists.txt)
 * and driven with its `now` argument, so no test waits for tokens to expire. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jwt.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jwt_keys.h"
#include "jwt_verify.h"

#define ISS "https://ehr.example.org"
#define BASE "https://cds.example.org"
static char *key_pem;
static char jwks[64];

static int setup(void **s)
{
    (void)s;
    EVP_PKEY *k = EVP_EC_gen("P-256");
    key_pem = private_pem(k);
    char *jwk = ec_jwk(k, "P-256", "k1");
    snprintf(jwks, sizeof jwks, "/tmp/cdsd-jwks-XXXXXX");
    int fd = mkstemp(jwks);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "{\"keys\":[%s]}", jwk);
    fclose(f);
    free(jwk);
    EVP_PKEY_free(k);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    unlink(jwks);
    free(key_pem);
    return 0;
}

static char *token(const char *jti, time_t iat, long exp_in)
{
    jwt_t *j;
    jwt_new(&j);
    jwt_add_grant(j, "iss", ISS);
    jwt_add_grant(j, "aud", BASE "/cds-services");
    jwt_add_grant_int(j, "iat", iat);
    jwt_add_grant_int(j, "exp", iat + exp_in);
    jwt_add_grant(j, "jti", jti);
    jwt_add_header(j, "kid", "k1");
    jwt_set_alg(j, JWT_ALG_ES256, (const unsigned char *)key_pem, (int)strlen(key_pem));
    char *t = jwt_encode_str(j);
    jwt_free(j);
    return t;
}

static bool verify(cds_jwt_verifier *v, const char *jti, time_t now, long exp_in, char *why, size_t n)
{
    const char *bases[] = {BASE};
    char *t = token(jti, now, exp_in);
    bool ok = cds_jwt_verify(v, t, bases, 1, "/cds-services", now, NULL, why, n);
    free(t);
    return ok;
}

static void the_replay_cache_is_bounded_and_forgets_expired_tokens(void **s)
{
    (void)s;
    cds_jwt_verifier *v = cds_jwt_new();
    char spec[128], why[600];
    snprintf(spec, sizeof spec, "%s=%s", ISS, jwks);
    assert_true(cds_jwt_add_issuer(v, spec, why, sizeof why));
    time_t now = time(NULL);
    char jti[32];
    for (int i = 0; i < CDS_JWT_MAX_SEEN; i++) {
        snprintf(jti, sizeof jti, "t-%d", i);
        if (!verify(v, jti, now, 300, why, sizeof why)) fail_msg("token %d: %s", i, why);
    }
    /* full: a new token is refused (were it let through unrecorded, it could be replayed) */
    assert_false(verify(v, "one-more", now, 300, why, sizeof why));
    if (!strstr(why, "replay cache is full")) fail_msg("%s", why);
    assert_false(verify(v, "t-0", now, 300, why, sizeof why));
    assert_string_equal(why, "jti replayed");
    /* once their exp (+ skew) has passed they are forgotten and new tokens fit again */
    time_t later = now + 300 + 61;
    assert_true(verify(v, "one-more", later, 300, why, sizeof why));
    /* an exp further ahead than CDS Hooks' five minutes (+ skew) is refused outright */
    assert_false(verify(v, "long-lived", later, 10L * 365 * 86400, why, sizeof why));
    if (!strstr(why, "more than 300 s ahead")) fail_msg("%s", why);
    assert_true(verify(v, "five-minutes-and-skew", later, 360, why, sizeof why));
    cds_jwt_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_replay_cache_is_bounded_and_forgets_expired_tokens),
    };
    return cmocka_run_group_tests_name("jwt_replay_cache", tests, setup, teardown);
}
