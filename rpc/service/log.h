/* log.h — one logfmt line per event on stderr (journald keeps one entry per line):
 *   time=2026-01-05T10:00:00.123Z level=warn event=request id=7 op=call service=medication-safety
 *   hook=order-sign status=412 outcome=prefetch_missing path=request.prefetch.allergies duration_ms=0.41
 *   msg="..."
 * Every value is escaped: one with a space, '"', '=', '\\' or a byte outside printable ASCII is
 * quoted, and inside quotes a control character is written \n, \r, \t or \u00XX and a byte that
 * is not well-formed UTF-8 \xXX, so text from a request (an envelope id, a URL path, a JWT header
 * field) can never start a line of its own. A line is at most CDS_LOG_LINE_MAX bytes, written
 * with one write(2) (below PIPE_BUF: lines from different threads never interleave).
 * Never patient data or tokens: callers log ids, codes, counts and timings only. */
#ifndef CDS_LOG_H
#define CDS_LOG_H

#include <stddef.h>

typedef enum cds_log_level { CDS_LOG_ERROR, CDS_LOG_WARN, CDS_LOG_INFO, CDS_LOG_DEBUG } cds_log_level;

#define CDS_LOG_LINE_MAX 4096

void cds_log_set_level(cds_log_level level);
/* Parses "error|warn|info|debug"; returns -1 when unknown. */
int cds_log_parse_level(const char *s);
/* Where lines go (default stderr's descriptor, 2); for tests. */
void cds_log_set_fd(int fd);

/* event: a stable lower-case name ("start", "reload", "drain", ...); the formatted text is the
 * line's msg field. */
void cds_log(cds_log_level level, const char *event, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The fields every line about one request carries, whichever door it came through (NNG, HTTP, a
 * prefetch fetch). NULL or "" = "-" for id/op/service/hook, omitted for the others; status 0 =
 * "-" (the HTTP status the call gets: the NNG error code's HTTP equivalent); duration_ms <= 0 is
 * omitted. */
typedef struct cds_log_fields {
    const char *id, *op, *service, *hook;
    unsigned status;
    const char *outcome;      /* "ok" or the error code */
    const char *decision;     /* the decision id of a call */
    const char *path;         /* the field an error names */
    double duration_ms;       /* receive to reply */
} cds_log_fields;

/* fmt may be NULL (no msg field). */
void cds_log_request(cds_log_level level, const char *event, const cds_log_fields *f, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Appends " key=value" to the n bytes of buf (capacity cap), value escaped as above; returns the
 * new length (the value is cut, never the escaping, when cap is reached). For tests and for
 * lines built elsewhere. */
size_t cds_log_put_field(char *buf, size_t n, size_t cap, const char *key, const char *value);

#endif
