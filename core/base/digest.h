/* digest.h — SHA-256 (OpenSSL libcrypto) as lowercase hex, one-shot or incremental. */
#ifndef CDS_DIGEST_H
#define CDS_DIGEST_H

#include <stddef.h>

typedef struct cds_digest cds_digest;  /* opaque incremental context */

cds_digest *cds_digest_new(void);
void cds_digest_update(cds_digest *d, const void *data, size_t n);
/* Writes 64 hex chars + NUL into out[65] and frees `d`. */
void cds_digest_final(cds_digest *d, char out[65]);
void cds_sha256_hex(const void *data, size_t n, char out[65]);
/* Raw 32-byte SHA-256 and 20-byte SHA-1 (for UUIDv5). */
void cds_sha256(const void *data, size_t n, unsigned char out[32]);
void cds_sha1(const void *data, size_t n, unsigned char out[20]);

/* Lowercase hex of n bytes into out (2n chars + NUL). */
void cds_hex(const unsigned char *bytes, size_t n, char *out);

/* Formats 16 bytes as a UUID string, setting the version nibble and the RFC 4122 variant. */
void cds_uuid_format(const unsigned char b[16], int version, char out[37]);

#endif
