/* http_admission.c — checks of a request's head (see http_admission.h). */
#include "http_admission.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A Content-Length value: digits only (RFC 9110 §8.6; "5, 5" and "+5" are not lengths). */
static long long parse_length(const char *v)
{
    if (!v || !*v) return -1;
    long long n = 0;
    for (const char *p = v; *p; p++) {
        if (!isdigit((unsigned char)*p) || n > (1LL << 53)) return -1;
        n = n * 10 + (*p - '0');
    }
    return n;
}

void cds_http_framing_add(cds_http_framing *f, const char *name, const char *value)
{
    if (f->error) return;
    if (!strcasecmp(name, "Transfer-Encoding")) f->transfer_encoding = true;
    if (strcasecmp(name, "Content-Length")) return;
    long long n = parse_length(value);
    if (n < 0) f->error = "Content-Length is not a number";
    else if (f->length >= 0 && n != f->length) f->error = "two different Content-Length headers";
    else f->length = n;
}

const char *cds_http_framing_end(cds_http_framing *f)
{
    if (!f->error && f->transfer_encoding && f->length >= 0) f->error = "both Content-Length and Transfer-Encoding";
    return f->error;
}

static enum MHD_Result each_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    cds_http_framing *f = cls;
    cds_http_framing_add(f, key, value);
    return f->error ? MHD_NO : MHD_YES;
}

const char *cds_http_framing_error(struct MHD_Connection *c, long long *length)
{
    cds_http_framing f = CDS_HTTP_FRAMING_INIT;
    MHD_get_connection_values(c, MHD_HEADER_KIND, each_header, &f);
    const char *error = cds_http_framing_end(&f);
    *length = f.length;
    return error;
}

bool cds_http_is_json(const char *ct)
{
    static const char type[] = "application/json";
    if (!ct || strncasecmp(ct, type, sizeof type - 1) != 0) return false;
    const char *p = ct + sizeof type - 1;
    while (*p == ' ' || *p == '\t') p++;
    return *p == '\0' || *p == ';';
}

static int hex(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t cds_http_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls, (void)c;
    char *w = s;
    for (const char *r = s; *r;) {
        int hi, lo;
        if (r[0] == '%' && (hi = hex(r[1])) >= 0 && (lo = hex(r[2])) >= 0) {
            char d = (char)(hi << 4 | lo);
            if (d != '\0' && d != '/') {
                *w++ = d;
                r += 3;
                continue;
            }
        }
        *w++ = *r++;
    }
    *w = '\0';
    return (size_t)(w - s);
}

bool cds_http_budget_take(cds_http_budget *b, size_t n)
{
    size_t used = atomic_load(&b->used);
    do {
        if (n > b->cap || used > b->cap - n) return false;
    } while (!atomic_compare_exchange_weak(&b->used, &used, used + n));
    return true;
}

void cds_http_budget_give(cds_http_budget *b, size_t n) { atomic_fetch_sub(&b->used, n); }
