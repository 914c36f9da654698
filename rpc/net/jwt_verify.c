/* jwt_verify.c — JWK Sets to PEM keys, header/claim checks, replay cache. */
#include "jwt_verify.h"

#include <cjson/cJSON.h>
#include <jwt.h>
#include <math.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define SKEW 60
#define MAX_LIFETIME 300         /* CDS Hooks: a token expires at most 5 minutes after it is issued */
#ifndef CDS_JWT_MAX_SEEN          /* (a test builds this file with a small cap) */
#define CDS_JWT_MAX_SEEN 65536    /* jti entries remembered at once (each lives until its exp) */
#endif
#define MAX_SEEN CDS_JWT_MAX_SEEN
#define LATEST_DATE 253402300799.0   /* 9999-12-31T23:59:59Z: NumericDates beyond are refused */

typedef struct jwk { char *kid, *pem; bool ec; int bits; } jwk;   /* bits: the EC curve's size (256, 384, 521) */
typedef struct issuer { char *iss; jwk *keys; size_t nkeys; } issuer;
typedef struct seen { char *jti; time_t exp; } seen;

struct cds_jwt_verifier {
    issuer *iss;
    size_t niss;
    char **jku;
    size_t njku;
    pthread_mutex_t lock;
    seen *seen;
    size_t nseen, capseen;
};

/* base64url -> bytes (malloc'd). */
static unsigned char *b64url(const char *in, size_t inlen, size_t *outlen)
{
    size_t n = inlen;
    char *s = malloc(n + 4);
    if (!s) return NULL;
    for (size_t i = 0; i < n; i++) s[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
    while (n % 4) s[n++] = '=';
    unsigned char *out = malloc(n / 4 * 3 + 1);
    int r = out ? EVP_DecodeBlock(out, (unsigned char *)s, (int)n) : -1;
    free(s);
    if (r < 0) { free(out); return NULL; }
    size_t pad = 0;
    for (size_t i = inlen; i % 4; i++) pad++;
    *outlen = (size_t)r - pad;
    out[*outlen] = '\0';
    return out;
}

static char *pem_of(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *pem = NULL;
    if (b && PEM_write_bio_PUBKEY(b, k)) {
        char *data;
        long n = BIO_get_mem_data(b, &data);
        pem = strndup(data, (size_t)n);
    }
    BIO_free(b);
    return pem;
}

static char *jwk_pem(const cJSON *k, bool *ec, int *bits, char *err, size_t errlen)
{
    const char *kty = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(k, "kty"));
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    BIGNUM *n = NULL, *e = NULL;
    char *pem = NULL;
    size_t l1 = 0, l2 = 0;
    unsigned char *a = NULL, *b = NULL;
    unsigned char pub[1 + 66 * 2];   /* the builder keeps a pointer until _to_param: function scope */
    if (kty && !strcmp(kty, "EC")) {
        const char *crv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(k, "crv"));
        const char *x = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(k, "x")), *y = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(k, "y"));
        static const struct { const char *crv, *group; int bits; } curves[] = {
            {"P-256", "prime256v1", 256}, {"P-384", "secp384r1", 384}, {"P-521", "secp521r1", 521}};
        const char *group = NULL;
        for (size_t i = 0; crv && i < sizeof curves / sizeof curves[0]; i++)
            if (!strcmp(crv, curves[i].crv)) group = curves[i].group, *bits = curves[i].bits;
        if (!group || !x || !y || !(a = b64url(x, strlen(x), &l1)) || !(b = b64url(y, strlen(y), &l2))) {
            snprintf(err, errlen, "EC key needs crv P-256/P-384/P-521, x and y");
            goto done;
        }
        if (l1 + l2 + 1 > sizeof pub) goto done;
        pub[0] = 4;
        memcpy(pub + 1, a, l1);
        memcpy(pub + 1 + l1, b, l2);
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + l1 + l2);
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        *ec = true;
    } else if (kty && !strcmp(kty, "RSA")) {
        const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(k, "n")), *es = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(k, "e"));
        if (!ns || !es || !(a = b64url(ns, strlen(ns), &l1)) || !(b = b64url(es, strlen(es), &l2))) {
            snprintf(err, errlen, "RSA key needs n and e");
            goto done;
        }
        n = BN_bin2bn(a, (int)l1, NULL);
        e = BN_bin2bn(b, (int)l2, NULL);
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
        *ec = false;
    } else {
        snprintf(err, errlen, "unsupported key type '%s' (EC or RSA)", kty ? kty : "?");
        goto done;
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    if (!ctx || !params || EVP_PKEY_fromdata_init(ctx) <= 0 || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
        snprintf(err, errlen, "the key material is not a valid %s public key", kty);
        goto done;
    }
    pem = pem_of(pkey);
done:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    free(a);
    free(b);
    return pem;
}

cds_jwt_verifier *cds_jwt_new(void)
{
    cds_jwt_verifier *v = calloc(1, sizeof *v);
    if (v) pthread_mutex_init(&v->lock, NULL);
    return v;
}

void cds_jwt_free(cds_jwt_verifier *v)
{
    if (!v) return;
    for (size_t i = 0; i < v->niss; i++) {
        for (size_t k = 0; k < v->iss[i].nkeys; k++) { free(v->iss[i].keys[k].kid); free(v->iss[i].keys[k].pem); }
        free(v->iss[i].keys);
        free(v->iss[i].iss);
    }
    free(v->iss);
    for (size_t i = 0; i < v->njku; i++) free(v->jku[i]);
    free(v->jku);
    for (size_t i = 0; i < v->nseen; i++) free(v->seen[i].jti);
    free(v->seen);
    free(v);
}

bool cds_jwt_add_issuer(cds_jwt_verifier *v, const char *spec, char *err, size_t errlen)
{
    const char *eq = strrchr(spec, '=');
    if (!eq || eq == spec) { snprintf(err, errlen, "--jwt-issuer wants ISS=JWKS_FILE"); return false; }
    cds_error e;
    cds_error_clear(&e);
    size_t len;
    char *text = cds_read_file(eq + 1, &len, 1u << 20, &e);
    cJSON *set = text ? cJSON_ParseWithLength(text, len) : NULL;
    free(text);
    cJSON *keys = cJSON_GetObjectItemCaseSensitive(set, "keys"), *k;
    if (!cJSON_IsArray(keys)) {
        snprintf(err, errlen, "%s: not a JWK Set (an object with \"keys\")", eq + 1);
        cJSON_Delete(set);
        return false;
    }
    issuer is = {.iss = strndup(spec, (size_t)(eq - spec))};
    cJSON_ArrayForEach(k, keys) {
        const char *kid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(k, "kid"));
        char kerr[200] = "";
        bool ec = false;
        int bits = 0;
        char *pem = jwk_pem(k, &ec, &bits, kerr, sizeof kerr);
        jwk *grown = kid && pem ? realloc(is.keys, (is.nkeys + 1) * sizeof *is.keys) : NULL;
        if (grown) is.keys = grown;
        char *kid_copy = grown ? strdup(kid) : NULL;
        if (!kid_copy) {
            if (kid && pem) snprintf(err, errlen, "%s: out of memory", eq + 1);
            else snprintf(err, errlen, "%s: key %s: %s", eq + 1, kid ? kid : "(no kid)", kid ? kerr : "every key needs a kid");
            free(pem);
            for (size_t i = 0; i < is.nkeys; i++) { free(is.keys[i].kid); free(is.keys[i].pem); }
            free(is.keys);
            free(is.iss);
            cJSON_Delete(set);
            return false;
        }
        is.keys[is.nkeys++] = (jwk){kid_copy, pem, ec, bits};
    }
    cJSON_Delete(set);
    issuer *grown = is.iss ? realloc(v->iss, (v->niss + 1) * sizeof *v->iss) : NULL;
    if (!grown) {
        snprintf(err, errlen, "%s: out of memory", eq + 1);
        for (size_t i = 0; i < is.nkeys; i++) { free(is.keys[i].kid); free(is.keys[i].pem); }
        free(is.keys);
        free(is.iss);
        return false;
    }
    v->iss = grown;
    v->iss[v->niss++] = is;
    return true;
}

bool cds_jwt_allow_jku(cds_jwt_verifier *v, const char *url)
{
    char **grown = realloc(v->jku, (v->njku + 1) * sizeof *v->jku);
    if (!grown) return false;
    v->jku = grown;
    if (!(v->jku[v->njku] = strdup(url))) return false;
    v->njku++;
    return true;
}

#define FAIL(...) do { snprintf(why, whylen, __VA_ARGS__); goto done; } while (0)

/* aud is one of bases[i] + path */
static bool aud_is(const char *aud, const char *const *bases, size_t nbases, const char *path)
{
    for (size_t i = 0; i < nbases; i++) {
        size_t bl = strlen(bases[i]);
        if (strncmp(aud, bases[i], bl) == 0 && strcmp(aud + bl, path) == 0) return true;
    }
    return false;
}

/* A NumericDate claim as seconds: present, a finite number within year 9999 (checked as a
 * double: a cast of 1e300 to time_t is undefined behaviour). False when absent or out of range. */
static bool numeric_date(const cJSON *pay, const char *name, time_t *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(pay, name);
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble) || j->valuedouble < 0 || j->valuedouble > LATEST_DATE)
        return false;
    *out = (time_t)j->valuedouble;
    return true;
}

/* Remembers jti until exp; false (why set) when it was seen before, or when the cache is full
 * (a token not remembered could be replayed, so it is refused). */
static bool remember_jti(cds_jwt_verifier *v, const char *jti, time_t exp, time_t now, char *why, size_t whylen)
{
    pthread_mutex_lock(&v->lock);
    size_t w = 0;
    bool replay = false;
    for (size_t i = 0; i < v->nseen; i++) {
        if (v->seen[i].exp < now - SKEW) { free(v->seen[i].jti); continue; }   /* expired: forget */
        replay |= !strcmp(v->seen[i].jti, jti);
        v->seen[w++] = v->seen[i];
    }
    v->nseen = w;
    bool kept = false;
    if (!replay && v->nseen == v->capseen && v->capseen < MAX_SEEN) {
        size_t cap = v->capseen * 2 + 64 < MAX_SEEN ? v->capseen * 2 + 64 : MAX_SEEN;
        seen *grown = realloc(v->seen, cap * sizeof *v->seen);
        if (grown) {
            v->seen = grown;
            v->capseen = cap;
        }
    }
    if (!replay && v->nseen < v->capseen && (v->seen[v->nseen].jti = strdup(jti))) {
        v->seen[v->nseen++].exp = exp;
        kept = true;
    }
    size_t n = v->nseen;
    pthread_mutex_unlock(&v->lock);
    if (replay) snprintf(why, whylen, "jti replayed");
    else if (!kept && n >= MAX_SEEN) snprintf(why, whylen, "the replay cache is full (%d unexpired tokens)", MAX_SEEN);
    else if (!kept) snprintf(why, whylen, "out of memory recording the jti");
    return kept;
}

bool cds_jwt_verify(cds_jwt_verifier *v, const char *token, const char *const *bases, size_t nbases, const char *path,
                    time_t now, cds_jwt_identity *who, char *why, size_t whylen)
{
    bool ok = false;
    cJSON *hdr = NULL, *pay = NULL;
    jwt_t *jwt = NULL;
    unsigned char *h = NULL, *p = NULL;
    if (who) who->iss[0] = who->sub[0] = '\0';
    const char *d1 = token ? strchr(token, '.') : NULL, *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || strchr(d2 + 1, '.')) FAIL("not a compact JWS");
    size_t hl, pl;
    if (!(h = b64url(token, (size_t)(d1 - token), &hl)) || !(p = b64url(d1 + 1, (size_t)(d2 - d1 - 1), &pl)))
        FAIL("undecodable header or payload");
    if (strlen((char *)h) != hl || strlen((char *)p) != pl) FAIL("a NUL byte in the header or payload");
    hdr = cJSON_Parse((char *)h);
    pay = cJSON_Parse((char *)p);
    if (!hdr || !pay) FAIL("header or payload is not JSON");
    const char *alg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(hdr, "alg"));
    const char *kid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(hdr, "kid"));
    const char *typ = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(hdr, "typ"));
    const char *jku = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(hdr, "jku"));
    /* ES256/ES384/ES512 each on its own curve (an ES256 signature over a P-384 key is refused) */
    int ec_bits = !alg ? 0 : !strcmp(alg, "ES256") ? 256 : !strcmp(alg, "ES384") ? 384 : !strcmp(alg, "ES512") ? 521 : 0;
    bool rsa_alg = alg && (!strcmp(alg, "RS384") || !strcmp(alg, "RS256"));
    if (!ec_bits && !rsa_alg) FAIL("alg '%s' is not allowed", alg ? alg : "(none)");
    if (!typ || strcmp(typ, "JWT")) FAIL("typ must be JWT");
    if (!kid) FAIL("no kid");
    /* RFC 7515 §4.1.11: extensions named critical must be understood; this verifier knows none */
    if (cJSON_GetObjectItemCaseSensitive(hdr, "crit")) FAIL("crit header parameters are not understood");
    if (jku) {
        bool allowed = false;
        for (size_t i = 0; i < v->njku; i++) allowed |= !strcmp(v->jku[i], jku);
        if (!allowed) FAIL("jku '%s' is not on the allow-list", jku);
    }
    const char *iss = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pay, "iss"));
    const issuer *is = NULL;
    for (size_t i = 0; iss && i < v->niss; i++)
        if (!strcmp(v->iss[i].iss, iss)) is = &v->iss[i];
    if (!is) FAIL("issuer '%s' is not trusted", iss ? iss : "(none)");
    const jwk *key = NULL;
    for (size_t i = 0; i < is->nkeys; i++)
        if (!strcmp(is->keys[i].kid, kid)) key = &is->keys[i];
    if (!key) FAIL("kid '%s' is not in the JWK Set of %s", kid, iss);
    if (key->ec != (ec_bits != 0)) FAIL("alg %s does not fit the %s key %s", alg, key->ec ? "EC" : "RSA", kid);
    if (key->ec && key->bits != ec_bits) FAIL("alg %s does not fit the P-%d key %s", alg, key->bits, kid);
    if (jwt_decode(&jwt, token, (const unsigned char *)key->pem, (int)strlen(key->pem)) != 0 || !jwt) FAIL("bad signature");
    const char *alg_names[] = {[JWT_ALG_ES256] = "ES256", [JWT_ALG_ES384] = "ES384", [JWT_ALG_ES512] = "ES512",
                               [JWT_ALG_RS256] = "RS256", [JWT_ALG_RS384] = "RS384"};
    jwt_alg_t ja = jwt_get_alg(jwt);
    if (ja >= (jwt_alg_t)(sizeof alg_names / sizeof alg_names[0]) || !alg_names[ja] || strcmp(alg_names[ja], alg))
        FAIL("verified alg differs from the header");
    /* claims from the verified token */
    cJSON *a = cJSON_GetObjectItemCaseSensitive(pay, "aud");
    bool aud_ok = cJSON_IsString(a) && aud_is(a->valuestring, bases, nbases, path);
    cJSON *it;
    if (cJSON_IsArray(a)) cJSON_ArrayForEach(it, a) aud_ok |= cJSON_IsString(it) && aud_is(it->valuestring, bases, nbases, path);
    if (!aud_ok) {
        /* for the on-call engineer: what the token said and what would have matched (a client
         * calling through a host name that is not configured is the usual cause) */
        char got[200] = "(none)", want[300] = "";
        if (cJSON_IsString(a)) snprintf(got, sizeof got, "'%.190s'", a->valuestring);
        else if (cJSON_IsArray(a)) {
            char *j = cJSON_PrintUnformatted(a);
            snprintf(got, sizeof got, "%.190s", j ? j : "[...]");
            cJSON_free(j);
        }
        for (size_t i = 0; i < nbases; i++) {
            size_t l = strlen(want);
            snprintf(want + l, sizeof want - l, "%s'%s%s'", i ? ", " : "", bases[i], path);
        }
        FAIL("aud %s is not the URL called; configured (--public-url + path): %s", got, want);
    }
    const char *jti = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pay, "jti"));
    time_t exp, iat, nbf;
    if (!cJSON_GetObjectItemCaseSensitive(pay, "exp") || !cJSON_GetObjectItemCaseSensitive(pay, "iat") || !jti)
        FAIL("exp, iat and jti are required");
    if (!numeric_date(pay, "exp", &exp) || !numeric_date(pay, "iat", &iat)) FAIL("exp or iat is not a date in range");
    if (exp <= now) FAIL("expired");
    if (exp > now + MAX_LIFETIME + SKEW) FAIL("exp is more than %d s ahead (CDS Hooks: 5 minutes)", MAX_LIFETIME);
    if (iat > now + SKEW) FAIL("iat is in the future");
    if (cJSON_GetObjectItemCaseSensitive(pay, "nbf")) {
        if (!numeric_date(pay, "nbf", &nbf)) FAIL("nbf is not a date in range");
        if (nbf > now + SKEW) FAIL("nbf is in the future");
    }
    if (!remember_jti(v, jti, exp, now, why, whylen)) goto done;
    if (who) {
        const char *sub = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pay, "sub"));
        snprintf(who->iss, sizeof who->iss, "%s", iss);
        snprintf(who->sub, sizeof who->sub, "%s", sub ? sub : "");
    }
    ok = true;
done:
    jwt_free(jwt);
    cJSON_Delete(hdr);
    cJSON_Delete(pay);
    free(h);
    free(p);
    return ok;
}
