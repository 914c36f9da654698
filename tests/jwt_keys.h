/* jwt_keys.h — key material for the JWT tests (header-only): base64url, a private key as PEM
 * (to sign with libjwt), and a public EC key as a JWK (for the JWK Set the service reads). */
#ifndef CDS_TEST_JWT_KEYS_H
#define CDS_TEST_JWT_KEYS_H

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline char *b64url(const unsigned char *b, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    int l = EVP_EncodeBlock((unsigned char *)out, b, (int)n);
    while (l && out[l - 1] == '=') l--;
    out[l] = '\0';
    for (char *p = out; *p; p++) *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

static inline char *private_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    char *d;
    long n = BIO_get_mem_data(b, &d);
    char *s = strndup(d, (size_t)n);
    BIO_free(b);
    return s;
}

/* A public EC JWK of k. */
static inline char *ec_jwk(EVP_PKEY *k, const char *crv, const char *kid)
{
    unsigned char pub[200];
    size_t pl = 0;
    EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub, &pl);
    size_t half = (pl - 1) / 2;
    char *x = b64url(pub + 1, half), *y = b64url(pub + 1 + half, half), *out = malloc(600);
    snprintf(out, 600, "{\"kty\":\"EC\",\"crv\":\"%s\",\"kid\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}", crv, kid, x, y);
    free(x);
    free(y);
    return out;
}

#endif
