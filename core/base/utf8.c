/* utf8.c — UTF-8 validation (see utf8.h). */
#include "utf8.h"

#include <stdint.h>
#include <string.h>

size_t cds_utf8_prefix(const unsigned char *p, size_t n)
{
    const unsigned char *start = p, *end = p + n;
    while (p < end) {
        unsigned c = *p;
        if (c < 0x80) {
            /* ASCII, most of any text here: eight bytes at a time while none has the high bit */
            for (p++; end - p >= 8; p += 8) {
                uint64_t w;
                memcpy(&w, p, 8);
                if (w & 0x8080808080808080u) break;
            }
            continue;
        }
        size_t need;
        unsigned lo = 0x80, hi = 0xbf;   /* allowed range of the first continuation byte */
        if (c >= 0xc2 && c <= 0xdf) need = 1;
        else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0) lo = 0xa0;        /* overlong */
            else if (c == 0xed) hi = 0x9f;   /* UTF-16 surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0) lo = 0x90;        /* overlong */
            else if (c == 0xf4) hi = 0x8f;   /* past U+10FFFF */
        } else {
            break;                           /* continuation byte, 0xc0/0xc1, 0xf5.. */
        }
        if ((size_t)(end - p) <= need || p[1] < lo || p[1] > hi) break;
        size_t i = 2;
        while (i <= need && (p[i] & 0xc0) == 0x80) i++;
        if (i <= need) break;
        p += need + 1;
    }
    return (size_t)(p - start);
}

void cds_utf8_scrub(char *s)
{
    size_t n = strlen(s), at = 0;
    while ((at += cds_utf8_prefix((const unsigned char *)s + at, n - at)) < n) s[at++] = '?';
}

cds_rc cds_utf8_check_text(const char *path, const char *text, size_t n, cds_error *err)
{
    size_t ok = cds_utf8_prefix((const unsigned char *)text, n);
    if (ok == n) return CDS_OK;
    int line = 1, col = 1;
    for (size_t i = 0; i < ok; i++) {
        if (text[i] == '\n') { line++; col = 1; }
        else if (((unsigned char)text[i] & 0xc0) != 0x80) col++;   /* characters, not bytes */
    }
    return cds_error_set(err, CDS_ELOAD, NULL, "%s:%d:%d: not valid UTF-8 (byte 0x%02x); save the file as UTF-8", path,
                         line, col, (unsigned char)text[ok]);
}
