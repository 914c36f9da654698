/* latency.h — latency samples and their summary (p50/p90/p99/max, throughput). */
#ifndef CDS_BENCH_LATENCY_H
#define CDS_BENCH_LATENCY_H

#include <stddef.h>

typedef struct latency {
    double *us;               /* samples in microseconds */
    size_t n, cap;
    double seconds;           /* wall time of the measured phase */
    size_t errors;
    size_t by_code[16];       /* error replies by cds_rc; [0] counts transport failures */
} latency;

void latency_add(latency *l, double us);
void latency_merge(latency *into, const latency *from);
/* Sorts the samples; fills p50/p90/p99/max and requests per second. */
typedef struct latency_summary { double p50, p90, p99, max, rps; size_t n, errors; } latency_summary;
latency_summary latency_summarise(latency *l);
void latency_free(latency *l);
double now_us(void);

#endif
