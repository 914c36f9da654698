/* utf8.h — UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF). */
#ifndef CDS_UTF8_H
#define CDS_UTF8_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Length of the well-formed UTF-8 prefix of the n bytes at p (n when all are). */
size_t cds_utf8_prefix(const unsigned char *p, size_t n);
static inline bool cds_utf8_valid(const unsigned char *p, size_t n) { return cds_utf8_prefix(p, n) == n; }

/* Replaces each byte that does not start a well-formed sequence with '?', in place (text that
 * must go out as JSON: error messages quoting rule errors, or cut at a buffer's end). */
void cds_utf8_scrub(char *s);

/* For a file's text: CDS_OK, or CDS_ELOAD naming path:line:column of the first malformed byte
 * (rule and knowledge files reach the JSON of discovery and cards). */
cds_rc cds_utf8_check_text(const char *path, const char *text, size_t n, cds_error *err);

#endif
