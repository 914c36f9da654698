/* http_admission.h — what the HTTP gateway decides from a request's head alone, before it reads
 * a byte of the body: the body's framing (RFC 9112 §6.3), its media type, the path's percent
 * encoding, and how many body bytes all connections together may hold. */
#ifndef CDS_HTTP_ADMISSION_H
#define CDS_HTTP_ADMISSION_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* NULL when the framing is sound; otherwise why not (answer 400): Content-Length headers that
 * disagree or are not a number, or Content-Length together with Transfer-Encoding (the
 * request-smuggling shapes). *length is the Content-Length, or -1 when there is none. */
const char *cds_http_framing_error(struct MHD_Connection *c, long long *length);

/* The same judgement, one header at a time (what cds_http_framing_error runs over a request's
 * headers; tests/fuzz/fuzz_http_head.c drives it directly). Start from CDS_HTTP_FRAMING_INIT. */
typedef struct cds_http_framing {
    long long length;        /* the Content-Length, -1 before one is seen */
    const char *error;
    bool transfer_encoding;
} cds_http_framing;
#define CDS_HTTP_FRAMING_INIT {.length = -1, .error = NULL, .transfer_encoding = false}
void cds_http_framing_add(cds_http_framing *f, const char *name, const char *value);
const char *cds_http_framing_end(cds_http_framing *f);

/* application/json, with optional parameters (";charset=utf-8"); nothing else (not
 * "application/jsonx", not "application/json-patch+json"). */
bool cds_http_is_json(const char *content_type);

/* MHD_OPTION_UNESCAPE_CALLBACK: percent-decodes like libmicrohttpd, except %00 and %2F, which
 * stay encoded: a NUL would cut the path ("/cds-services/x%00" served as x) and an encoded
 * slash would act as a separator. A path that keeps a '%' names no service. */
size_t cds_http_unescape(void *cls, struct MHD_Connection *c, char *s);

/* The body bytes every connection together may hold (a pre-authentication memory bound). */
typedef struct cds_http_budget {
    atomic_size_t used;
    size_t cap;
} cds_http_budget;

/* Takes n bytes; false (nothing taken) when that would pass the cap. */
bool cds_http_budget_take(cds_http_budget *b, size_t n);
void cds_http_budget_give(cds_http_budget *b, size_t n);

#endif
