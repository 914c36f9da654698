/* clock.h — monotonic and thread-CPU deadlines and elapsed times (one implementation for the
 * sandbox's budgets, the service's request deadlines and the latency figures). */
#ifndef CDS_CLOCK_H
#define CDS_CLOCK_H

#include <stdbool.h>
#include <time.h>

/* A monotonic deadline `ms` milliseconds from now. */
void cds_deadline_in(struct timespec *d, double ms);
/* Whether the monotonic deadline has passed. */
bool cds_past(const struct timespec *d);
/* Milliseconds left until the deadline (negative once past). */
long cds_ms_until(const struct timespec *d);
/* Microseconds since a monotonic start time. */
double cds_us_since(const struct timespec *t0);
/* A deadline `ms` milliseconds of the calling thread's CPU time from now, and the milliseconds
 * left until it (negative once past). Reading this clock is a system call (the monotonic clock
 * is read in user space), so callers on hot paths read it only when it can have run out. */
void cds_cpu_deadline_in(struct timespec *d, double ms);
double cds_cpu_ms_until(const struct timespec *d);

#endif
