/* log.h — one-line logs to stderr: time, level, message. Never patient data or tokens:
 * callers log ids, codes, counts and timings only. */
#ifndef CDS_LOG_H
#define CDS_LOG_H

typedef enum cds_log_level { CDS_LOG_ERROR, CDS_LOG_WARN, CDS_LOG_INFO, CDS_LOG_DEBUG } cds_log_level;

void cds_log_set_level(cds_log_level level);
/* Parses "error|warn|info|debug"; returns -1 when unknown. */
int cds_log_parse_level(const char *s);
void cds_log(cds_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The fields every line about one request starts with, whichever door it came through (NNG,
 * HTTP, a prefetch fetch): "request id=.. op=.. service=.. hook=.. status=..". NULL or 0 = "-";
 * status is the HTTP status the call gets (the NNG error code's HTTP equivalent). */
typedef struct cds_log_fields {
    const char *id, *op, *service, *hook;
    unsigned status;
} cds_log_fields;

void cds_log_request(cds_log_level level, const cds_log_fields *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
