/* digest.c — thin wrapper over OpenSSL EVP digests. */
#include "digest.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <string.h>

struct cds_digest { EVP_MD_CTX *ctx; };

cds_digest *cds_digest_new(void)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) return NULL;
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    return (cds_digest *)ctx;
}

void cds_digest_update(cds_digest *d, const void *data, size_t n)
{
    if (d) EVP_DigestUpdate((EVP_MD_CTX *)d, data, n);
}

void cds_hex(const unsigned char *md, size_t n, char *out)
{
    static const char h[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = h[md[i] >> 4];
        out[2 * i + 1] = h[md[i] & 15];
    }
    out[2 * n] = '\0';
}

void cds_digest_final(cds_digest *d, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (!d) { out[0] = '\0'; return; }
    EVP_DigestFinal_ex((EVP_MD_CTX *)d, md, &n);
    EVP_MD_CTX_free((EVP_MD_CTX *)d);
    cds_hex(md, n, out);
}

/* One-shot digests with the algorithms fetched once: OpenSSL 3's SHA1()/SHA256() look the
 * algorithm up on every call, which cost more than hashing a card's name (a card and each of
 * its suggestions get a name-based UUID). Falls back to the one-shot calls if a fetch failed. */
static EVP_MD *md_sha1, *md_sha256;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static void fetch_mds(void)
{
    md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void cds_sha256(const void *data, size_t n, unsigned char out[32])
{
    pthread_once(&md_once, fetch_mds);
    if (!md_sha256 || !EVP_Digest(data, n, out, NULL, md_sha256, NULL)) SHA256(data, n, out);
}

void cds_sha1(const void *data, size_t n, unsigned char out[20])
{
    pthread_once(&md_once, fetch_mds);
    if (!md_sha1 || !EVP_Digest(data, n, out, NULL, md_sha1, NULL)) SHA1(data, n, out);
}

void cds_sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char md[32];
    cds_sha256(data, n, md);
    cds_hex(md, 32, out);
}

void cds_uuid_format(const unsigned char b[16], int version, char out[37])
{
    unsigned char u[16];
    memcpy(u, b, 16);
    u[6] = (unsigned char)((u[6] & 0x0f) | (version << 4));
    u[8] = (u[8] & 0x3f) | 0x80;
    static const char h[] = "0123456789abcdef";
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
        out[o++] = h[u[i] >> 4];
        out[o++] = h[u[i] & 15];
    }
    out[o] = '\0';
}
