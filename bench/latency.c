/* latency.c — sample storage and percentiles. */
#include "latency.h"

#include <stdlib.h>
#include <time.h>

double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

void latency_add(latency *l, double us)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        double *p = realloc(l->us, cap * sizeof *p);
        if (!p) return;
        l->us = p;
        l->cap = cap;
    }
    l->us[l->n++] = us;
}

void latency_merge(latency *into, const latency *from)
{
    for (size_t i = 0; i < from->n; i++) latency_add(into, from->us[i]);
    into->errors += from->errors;
    for (int i = 0; i < 16; i++) into->by_code[i] += from->by_code[i];
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const latency *l, double p)
{
    if (!l->n) return 0;
    size_t i = (size_t)(p * (double)(l->n - 1) + 0.5);
    return l->us[i];
}

latency_summary latency_summarise(latency *l)
{
    if (l->n) qsort(l->us, l->n, sizeof *l->us, cmp);
    latency_summary s = {pct(l, 0.5), pct(l, 0.9), pct(l, 0.99), l->n ? l->us[l->n - 1] : 0,
                         l->seconds > 0 ? (double)l->n / l->seconds : 0, l->n, l->errors};
    return s;
}

void latency_free(latency *l)
{
    free(l->us);
    l->us = NULL;
    l->n = l->cap = 0;
}
