/* clock.c — monotonic and thread-CPU deadlines and elapsed times (see clock.h). */
#include "clock.h"

static void deadline_in(clockid_t clock, struct timespec *d, double ms)
{
    clock_gettime(clock, d);
    long long ns = (long long)(ms * 1e6);
    d->tv_sec += (time_t)(ns / 1000000000LL);
    d->tv_nsec += (long)(ns % 1000000000LL);
    if (d->tv_nsec >= 1000000000L) {
        d->tv_sec++;
        d->tv_nsec -= 1000000000L;
    }
}

void cds_deadline_in(struct timespec *d, double ms) { deadline_in(CLOCK_MONOTONIC, d, ms); }
void cds_cpu_deadline_in(struct timespec *d, double ms) { deadline_in(CLOCK_THREAD_CPUTIME_ID, d, ms); }

double cds_cpu_ms_until(const struct timespec *d)
{
    struct timespec now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return (double)(d->tv_sec - now.tv_sec) * 1e3 + (double)(d->tv_nsec - now.tv_nsec) / 1e6;
}

bool cds_past(const struct timespec *d)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > d->tv_sec || (now.tv_sec == d->tv_sec && now.tv_nsec >= d->tv_nsec);
}

long cds_ms_until(const struct timespec *d)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(d->tv_sec - now.tv_sec) * 1000 + (d->tv_nsec - now.tv_nsec) / 1000000;
}

double cds_us_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) * 1e6 + (double)(t.tv_nsec - t0->tv_nsec) / 1e3;
}
