/* log.h — one-line logs to stderr: time, level, message. Never patient data or tokens:
 * callers log ids, codes, counts and timings only. */
#ifndef CDS_LOG_H
#define CDS_LOG_H

typedef enum cds_log_level { CDS_LOG_ERROR, CDS_LOG_WARN, CDS_LOG_INFO, CDS_LOG_DEBUG } cds_log_level;

void cds_log_set_level(cds_log_level level);
/* Parses "error|warn|info|debug"; returns -1 when unknown. */
int cds_log_parse_level(const char *s);
void cds_log(cds_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
