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

void cds_log(cds_log_level level, const char *fmt, ...)
{
    if (level > current) return;
    char msg[1024], ts[32];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03ldZ %-5s %s\n", ts, now.tv_nsec / 1000000, names[level], msg);
}
