/* clock.h — monotonic deadlines and elapsed times (one implementation for the sandbox's
 * budgets, the service's request deadlines and the latency figures). */
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

#endif
