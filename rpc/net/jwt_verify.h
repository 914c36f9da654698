/* jwt_verify.h — "Trusting CDS Clients": verifies the JWT a CDS client sends (CDS Hooks 2.0 §7).
 * Allow-listed issuers each with a JWK Set read from a file (no network fetch of keys); alg
 * ES384/RS384/ES256/RS256/ES512 only, matching the key's type and, for EC, its curve (ES256 P-256,
 * ES384 P-384, ES512 P-521; never none or HS*, whatever the token says); kid found in the
 * issuer's set; jku, when present, on the allow-list; typ JWT; no crit header (no extension is
 * understood); claim names case-sensitive; aud equal to the URL called; exp in the future but at
 * most 5 minutes + skew ahead; iat and nbf not in the future (60 s skew); jti not seen before
 * (kept until exp, at most 65536 at once: beyond, tokens are refused). libjwt checks the
 * signature; OpenSSL turns JWKs into public keys. */
#ifndef CDS_JWT_VERIFY_H
#define CDS_JWT_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

typedef struct cds_jwt_verifier cds_jwt_verifier;

/* Who a verified token speaks for, for the audit row (cut to fit; never the token). */
typedef struct cds_jwt_identity {
    char iss[128];
    char sub[128];   /* empty when the token has none */
} cds_jwt_identity;

cds_jwt_verifier *cds_jwt_new(void);
void cds_jwt_free(cds_jwt_verifier *v);
/* "ISS=JWKS_FILE". False with a message when the file or a key in it cannot be used. */
bool cds_jwt_add_issuer(cds_jwt_verifier *v, const char *spec, char *err, size_t errlen);
bool cds_jwt_allow_jku(cds_jwt_verifier *v, const char *url);   /* false: out of memory */
/* True when the token is valid at `now` for an audience bases[i] + path (the URL called, under
 * any of the names clients may use); otherwise why says why (for the log only: callers answer
 * a bare 401). who (may be NULL) receives the token's iss and sub. Thread-safe. */
bool cds_jwt_verify(cds_jwt_verifier *v, const char *token, const char *const *bases, size_t nbases, const char *path,
                    time_t now, cds_jwt_identity *who, char *why, size_t whylen);

#endif
