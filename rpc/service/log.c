/* log.c — stderr logger, safe to call from any thread (one fprintf per line). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static cds_log_level current = CDS_LOG_INFO;
static const char *const names[] = {"error", "warn", "info", "debug"};

void cds_log_set_level(cds_log_level level) { current = level; }

int cds_log_parse_level(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

/* One line per call: a control character from a request (an id, a service name) must not
 * start a forged line. */
static void emit(cds_log_level level, char *msg)
{
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    char ts[32];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %-5s %s\n", ts, now.tv_nsec / 1000000, names[level], msg);
}

void cds_log(cds_log_level level, const char *fmt, ...)
{
    if (level > current) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(level, msg);
}

void cds_log_request(cds_log_level level, const cds_log_fields *f, const char *fmt, ...)
{
    if (level > current) return;
    char msg[1024], status[16] = "-";
    if (f->status) snprintf(status, sizeof status, "%u", f->status);
    int n = snprintf(msg, sizeof msg, "request id=%.48s op=%.16s service=%.64s hook=%.64s status=%s ",
                     f->id && *f->id ? f->id : "-", f->op && *f->op ? f->op : "-",
                     f->service && *f->service ? f->service : "-", f->hook && *f->hook ? f->hook : "-", status);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof msg) vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    emit(level, msg);
}
