/* audit_chain.c — the keyed chain's MAC, its canonical encoding of column values, and the
 * chain's start record and anchor file (see audit_chain.h). */
#include "audit_chain.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/hmac.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"

int cds_audit_bind(sqlite3_stmt *st, int first, const cds_audit_val *vals, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const cds_audit_val *v = &vals[k];
        int i = first + (int)k, rc;
        switch (v->type) {
        case SQLITE_INTEGER: rc = sqlite3_bind_int64(st, i, v->i); break;
        case SQLITE_TEXT: rc = sqlite3_bind_text(st, i, v->p, (int)v->n, SQLITE_STATIC); break;
        case SQLITE_BLOB: rc = sqlite3_bind_blob(st, i, v->p, (int)v->n, SQLITE_STATIC); break;
        default: rc = sqlite3_bind_null(st, i); break;
        }
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}

cds_audit_val cds_audit_column(sqlite3_stmt *st, int i)
{
    cds_audit_val v = {.type = sqlite3_column_type(st, i)};
    switch (v.type) {
    case SQLITE_INTEGER: v.i = sqlite3_column_int64(st, i); break;
    case SQLITE_FLOAT: {   /* never written by layout 2: its 8 bytes make a MAC that cannot match */
        double d = sqlite3_column_double(st, i);
        memcpy(&v.i, &d, sizeof d);
        break;
    }
    case SQLITE_TEXT: v.p = sqlite3_column_text(st, i); v.n = (size_t)sqlite3_column_bytes(st, i); break;
    case SQLITE_BLOB: v.p = sqlite3_column_blob(st, i); v.n = (size_t)sqlite3_column_bytes(st, i); break;
    default: break;
    }
    return v;
}

static const char KEY_LABEL[] = "cdsd audit chain v2";

void cds_chain_key(const unsigned char secret[32], unsigned char key[32])
{
    unsigned int n = 32;
    /* a key of its own (not the patient-key secret itself): one secret, two uses kept apart */
    HMAC(EVP_sha256(), secret, 32, (const unsigned char *)KEY_LABEL, sizeof KEY_LABEL - 1, key, &n);
}

bool cds_chain_key_file(const char *path, unsigned char key[32], cds_error *err)
{
    unsigned char secret[32];
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        cds_error_set(err, CDS_EIO, NULL, "%s: %s (the audit key, needed to verify the chain)", path, strerror(errno));
        return false;
    }
    ssize_t n = read(fd, secret, 32);
    close(fd);
    if (n != 32) {
        cds_error_set(err, CDS_EIO, NULL, "%s: the audit key must be 32 bytes", path);
        return false;
    }
    cds_chain_key(secret, key);
    return true;
}

static void put_be64(cds_strbuf *b, uint64_t v)
{
    char x[8];
    for (int k = 0; k < 8; k++) x[k] = (char)(v >> (56 - 8 * k));
    cds_strbuf_append(b, x, 8);
}

void cds_chain_begin(cds_strbuf *buf, const unsigned char prev[CDS_MAC_LEN], char tag)
{
    cds_strbuf_clear(buf);
    cds_strbuf_append(buf, (const char *)prev, CDS_MAC_LEN);
    cds_strbuf_putc(buf, tag);
}

void cds_chain_add(cds_strbuf *buf, char tag, const cds_audit_val *vals, size_t n)
{
    cds_strbuf_putc(buf, tag);
    put_be64(buf, n);
    for (size_t k = 0; k < n; k++) {
        const cds_audit_val *v = &vals[k];
        cds_strbuf_putc(buf, (char)v->type);
        if (v->type == SQLITE_INTEGER || v->type == SQLITE_FLOAT) put_be64(buf, (uint64_t)v->i);
        else if (v->type == SQLITE_TEXT || v->type == SQLITE_BLOB) {
            put_be64(buf, v->n);
            cds_strbuf_append(buf, v->p, v->n);
        }
    }
}

bool cds_chain_end(cds_strbuf *buf, const unsigned char key[32], unsigned char mac[CDS_MAC_LEN])
{
    if (buf->oom) return false;
    unsigned int n = CDS_MAC_LEN;
    HMAC(EVP_sha256(), key, 32, (const unsigned char *)buf->data, buf->len, mac, &n);
    return true;
}

static void point_mac(const unsigned char key[32], char tag, int64_t seq, const unsigned char mac[CDS_MAC_LEN],
                      unsigned char out[CDS_MAC_LEN])
{
    cds_strbuf b;
    cds_strbuf_init(&b);
    cds_chain_begin(&b, mac, tag);
    cds_audit_val v = cds_val_int(seq);
    cds_chain_add(&b, tag, &v, 1);
    if (!cds_chain_end(&b, key, out)) memset(out, 0, CDS_MAC_LEN);   /* out of memory: a record that never verifies */
    cds_strbuf_free(&b);
}

void cds_chain_point_pack(const unsigned char key[32], char tag, int64_t seq, const unsigned char mac[CDS_MAC_LEN],
                          unsigned char out[CDS_CHAIN_POINT_LEN])
{
    for (int k = 0; k < 8; k++) out[k] = (unsigned char)((uint64_t)seq >> (56 - 8 * k));
    memcpy(out + 8, mac, CDS_MAC_LEN);
    point_mac(key, tag, seq, mac, out + 8 + CDS_MAC_LEN);
}

bool cds_chain_point_unpack(const unsigned char key[32], char tag, const void *in, size_t n, int64_t *seq,
                            unsigned char mac[CDS_MAC_LEN])
{
    if (!in || n != CDS_CHAIN_POINT_LEN) return false;
    const unsigned char *p = in;
    uint64_t s = 0;
    for (int k = 0; k < 8; k++) s = s << 8 | p[k];
    unsigned char want[CDS_MAC_LEN];
    point_mac(key, tag, (int64_t)s, p + 8, want);
    if (CRYPTO_memcmp(want, p + 8 + CDS_MAC_LEN, CDS_MAC_LEN) != 0) return false;
    *seq = (int64_t)s;
    memcpy(mac, p + 8, CDS_MAC_LEN);
    return true;
}

/* "cdsd-audit-anchor <seq, 20 digits> <mac hex> <record mac hex>\n": fixed length, so a rewrite
 * in place never leaves a longer old tail behind. */
#define ANCHOR_LEN (17 + 1 + 20 + 1 + 64 + 1 + 64 + 1)

bool cds_anchor_write(int fd, const unsigned char key[32], int64_t seq, const unsigned char mac[CDS_MAC_LEN])
{
    unsigned char p[CDS_CHAIN_POINT_LEN];
    cds_chain_point_pack(key, 'A', seq, mac, p);
    char mhex[65], thex[65], line[ANCHOR_LEN + 1];
    cds_hex(p + 8, CDS_MAC_LEN, mhex);
    cds_hex(p + 8 + CDS_MAC_LEN, CDS_MAC_LEN, thex);
    int n = snprintf(line, sizeof line, "cdsd-audit-anchor %020lld %s %s\n", (long long)seq, mhex, thex);
    return n == ANCHOR_LEN && pwrite(fd, line, ANCHOR_LEN, 0) == ANCHOR_LEN;
}

bool cds_unhex(const char *s, unsigned char *out, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        unsigned v = 0;
        for (int h = 0; h < 2; h++) {
            char c = s[2 * k + h];
            unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 16;
            if (d > 15) return false;
            v = v << 4 | d;
        }
        out[k] = (unsigned char)v;
    }
    return true;
}

int cds_anchor_read(const char *path, const unsigned char key[32], int64_t *seq, unsigned char mac[CDS_MAC_LEN],
                    cds_error *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return errno == ENOENT ? 0 : (cds_error_set(err, CDS_EIO, NULL, "%s: %s", path, strerror(errno)), -1);
    char line[ANCHOR_LEN + 1] = "";
    ssize_t n = read(fd, line, ANCHOR_LEN);
    close(fd);
    unsigned char p[CDS_CHAIN_POINT_LEN];
    long long s;
    if (n != ANCHOR_LEN || sscanf(line, "cdsd-audit-anchor %20lld ", &s) != 1 || s < 0 || !cds_unhex(line + 39, p + 8, 32) ||
        !cds_unhex(line + 39 + 65, p + 40, 32)) {
        cds_error_set(err, CDS_EIO, NULL, "%s: not an anchor file", path);
        return -1;
    }
    for (int k = 0; k < 8; k++) p[k] = (unsigned char)((uint64_t)s >> (56 - 8 * k));
    if (!cds_chain_point_unpack(key, 'A', p, sizeof p, seq, mac)) {
        cds_error_set(err, CDS_EIO, NULL, "%s: the anchor's MAC is wrong (edited, or written under another key)", path);
        return -1;
    }
    return 1;
}
