/* strbuf.c — growable text buffer. */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cds_strbuf_init(cds_strbuf *b) { memset(b, 0, sizeof *b); }

void cds_strbuf_free(cds_strbuf *b) { free(b->data); memset(b, 0, sizeof *b); }

void cds_strbuf_clear(cds_strbuf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

static bool grow(cds_strbuf *b, size_t extra)
{
    if (b->oom) return false;
    if (b->len + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) { b->oom = true; return false; }
    b->data = p;
    b->cap = cap;
    return true;
}

void cds_strbuf_append(cds_strbuf *b, const char *s, size_t n)
{
    if (!grow(b, n)) return;
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void cds_strbuf_puts(cds_strbuf *b, const char *s) { cds_strbuf_append(b, s, strlen(s)); }
void cds_strbuf_putc(cds_strbuf *b, char c) { cds_strbuf_append(b, &c, 1); }

void cds_strbuf_printf(cds_strbuf *b, const char *fmt, ...)
{
    /* Formats straight into the free space; only when it does not fit, grows and formats again
     * (formatting twice every time was a visible cost on the audit path). */
    if (!grow(b, 64)) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->data[b->len] = '\0';
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        if (!grow(b, (size_t)n)) {
            b->data[b->len] = '\0';
            return;
        }
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

size_t cds_fmt_tenths(char out[32], double v)
{
    if (!(v > -1e15 && v < 1e15)) return (size_t)snprintf(out, 32, "%.1f", v);
    long long t = (long long)(v * 10.0 + (v < 0 ? -0.5 : 0.5));
    char tmp[24];
    size_t n = 0, o = 0;
    if (t < 0) {
        out[o++] = '-';
        t = -t;
    }
    tmp[n++] = (char)('0' + t % 10);
    tmp[n++] = '.';
    t /= 10;
    do {
        tmp[n++] = (char)('0' + t % 10);
        t /= 10;
    } while (t);
    while (n) out[o++] = tmp[--n];
    out[o] = '\0';
    return o;
}

void cds_strbuf_tenths(cds_strbuf *b, double v)
{
    char num[32];
    cds_strbuf_append(b, num, cds_fmt_tenths(num, v));
}

void cds_strbuf_json_string(cds_strbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    cds_strbuf_putc(b, '"');
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        cds_strbuf_append(b, s + start, i - start);
        switch (c) {
        case '"': cds_strbuf_puts(b, "\\\""); break;
        case '\\': cds_strbuf_puts(b, "\\\\"); break;
        case '\n': cds_strbuf_puts(b, "\\n"); break;
        case '\r': cds_strbuf_puts(b, "\\r"); break;
        case '\t': cds_strbuf_puts(b, "\\t"); break;
        default: {
            char u[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
            cds_strbuf_puts(b, u);
        }
        }
        start = i + 1;
    }
    cds_strbuf_append(b, s + start, n - start);
    cds_strbuf_putc(b, '"');
}
