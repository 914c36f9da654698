/* strbuf.h — growable byte buffer for building text (JSON, diffs, messages). */
#ifndef CDS_STRBUF_H
#define CDS_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cds_strbuf {
    char *data;   /* always NUL-terminated when non-NULL */
    size_t len, cap;
    bool oom;     /* set once an allocation failed; later appends are no-ops */
} cds_strbuf;

void cds_strbuf_init(cds_strbuf *b);
void cds_strbuf_free(cds_strbuf *b);
void cds_strbuf_clear(cds_strbuf *b);
void cds_strbuf_append(cds_strbuf *b, const char *s, size_t n);
void cds_strbuf_puts(cds_strbuf *b, const char *s);
void cds_strbuf_putc(cds_strbuf *b, char c);
void cds_strbuf_printf(cds_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* v with one decimal, as "%.1f" prints it ("12.3"), without printf's float formatting (a
 * visible cost per audit row); returns the length. */
size_t cds_fmt_tenths(char out[32], double v);
void cds_strbuf_tenths(cds_strbuf *b, double v);
/* Appends `s` as a JSON string literal, quotes included. */
void cds_strbuf_json_string(cds_strbuf *b, const char *s, size_t n);

#endif
