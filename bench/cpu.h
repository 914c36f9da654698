/* cpu.h — CPU time of the server under test, by thread role, and of the benchmark itself:
 * where a request's CPU goes, read from /proc (no profiler needed). */
#ifndef CDS_BENCH_CPU_H
#define CDS_BENCH_CPU_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct cpu_use {
    double worker, audit, nng, other;   /* server threads, seconds: cdsd-worker, cdsd-audit/-checkpoint, nng:*, the rest
                                         * (the process total less those: ended threads included) */
    double client;                      /* this process (the load generator, and the idle echo server) */
} cpu_use;

/* Reads the server's threads (/proc/PID/task) and this process's CPU time so far. */
bool cpu_sample(pid_t server, cpu_use *out);
/* b - a, divided by n (per request), in microseconds. */
cpu_use cpu_per_request(const cpu_use *a, const cpu_use *b, size_t n);

#endif
