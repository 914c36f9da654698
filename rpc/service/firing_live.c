/* firing_live.c — live firing-rate counts and their alarms (see firing_live.h). */
#include "firing_live.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define NAME_LEN 96
#define SERVICES 64          /* powers of two; full tables leave the extra names uncounted */
#define SERIES 4096
#define DAY_S 86400

/* Counts are kept for two days, by the day's parity: today's are written while yesterday's wait
 * to be replaced by the audit log's own count (the baseline reload), then zeroed for tomorrow. */
typedef struct service_slot {
    _Atomic int state;                 /* 0 empty, 1 being filled, 2 ready */
    char name[NAME_LEN];
    atomic_long calls[2];
} service_slot;

typedef struct series_slot {
    _Atomic int state;
    char service[NAME_LEN], rule[NAME_LEN];
    size_t svc;                        /* its service's slot */
    atomic_long cards[2];
    long base_runs, base_cards;        /* the baseline, under lock */
} series_slot;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static service_slot services[SERVICES];
static series_slot series[SERIES];
static pthread_t thread;
static bool running, stopping;
static char state_dir[1024];
static size_t baseline = CDS_FIRING_BASELINE_DAYS;

static uint32_t hash2(const char *a, const char *b)
{
    uint32_t h = 2166136261u;   /* FNV-1a over a, a separator, b */
    for (; *a; a++) h = (h ^ (unsigned char)*a) * 16777619u;
    h = (h ^ 0x1fu) * 16777619u;
    for (; b && *b; b++) h = (h ^ (unsigned char)*b) * 16777619u;
    return h;
}

/* The service's slot + 1, or 0 when unknown. Lock-free. */
static size_t find_service(const char *name)
{
    if (!name) return 0;
    uint32_t h = hash2(name, NULL);
    for (size_t i = 0; i < SERVICES; i++) {
        size_t k = (h + i) % SERVICES;
        int st = atomic_load_explicit(&services[k].state, memory_order_acquire);
        if (st == 0) return 0;
        if (st == 2 && !strcmp(services[k].name, name)) return k + 1;
    }
    return 0;
}

static size_t find_series(const char *service, const char *rule)
{
    if (!service || !rule) return 0;
    uint32_t h = hash2(service, rule);
    for (size_t i = 0; i < SERIES; i++) {
        size_t k = (h + i) % SERIES;
        int st = atomic_load_explicit(&series[k].state, memory_order_acquire);
        if (st == 0) return 0;
        if (st == 2 && !strcmp(series[k].rule, rule) && !strcmp(series[k].service, service)) return k + 1;
    }
    return 0;
}

/* Under lock. */
static size_t add_service(const char *name)
{
    size_t f = find_service(name);
    if (f || strlen(name) >= NAME_LEN) return f;
    uint32_t h = hash2(name, NULL);
    for (size_t i = 0; i < SERVICES; i++) {
        size_t k = (h + i) % SERVICES;
        if (atomic_load_explicit(&services[k].state, memory_order_relaxed)) continue;
        atomic_store_explicit(&services[k].state, 1, memory_order_relaxed);
        memcpy(services[k].name, name, strlen(name) + 1);
        atomic_store_explicit(&services[k].state, 2, memory_order_release);
        return k + 1;
    }
    return 0;
}

static void add_series(size_t svc, const char *rule)
{
    const char *service = services[svc - 1].name;
    if (find_series(service, rule) || strlen(rule) >= NAME_LEN) return;
    uint32_t h = hash2(service, rule);
    for (size_t i = 0; i < SERIES; i++) {
        size_t k = (h + i) % SERIES;
        if (atomic_load_explicit(&series[k].state, memory_order_relaxed)) continue;
        atomic_store_explicit(&series[k].state, 1, memory_order_relaxed);
        memcpy(series[k].service, service, strlen(service) + 1);
        memcpy(series[k].rule, rule, strlen(rule) + 1);
        series[k].svc = svc - 1;
        atomic_store_explicit(&series[k].state, 2, memory_order_release);
        return;
    }
}

void cds_firing_live_register(const cds_ruleset *rs)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < rs->nservices; i++) {
        size_t svc = add_service(rs->services[i].id);
        for (size_t k = 0; svc && k < rs->services[i].nrules; k++) add_series(svc, rs->rules[rs->services[i].rules[k]].id);
    }
    pthread_mutex_unlock(&lock);
}

static unsigned today_parity(void) { return (unsigned)((time(NULL) / DAY_S) & 1); }

void cds_firing_live_call(const char *service, const cds_eval_info *info)
{
    size_t svc = find_service(service);
    if (!svc) return;
    unsigned d = today_parity();
    atomic_fetch_add_explicit(&services[svc - 1].calls[d], 1, memory_order_relaxed);
    for (size_t i = 0; i < info->ncards; i++) {
        size_t s = find_series(service, info->cards[i].rule);
        if (s) atomic_fetch_add_explicit(&series[s - 1].cards[d], 1, memory_order_relaxed);
    }
}

/* Reads the baseline days and today's decisions so far from the audit history: the baseline
 * replaces the old one, today's counts are set to the log's own (a restart keeps the day). */
static void reload(int64_t day)
{
    cds_firing_table t = {.day0_ms = (day - (int64_t)baseline) * DAY_S * 1000LL, .ndays = baseline + 1};
    cds_error err;
    if (cds_firing_read_state(state_dir, &t, true, &err) != CDS_OK) {
        cds_log(CDS_LOG_WARN, "firing_rate", "baseline not read: %s", err.message);
        cds_firing_table_free(&t);
        return;
    }
    unsigned d = (unsigned)(day & 1);
    long svc_calls[SERVICES] = {0};
    pthread_mutex_lock(&lock);
    for (size_t k = 0; k < SERIES; k++) {
        series_slot *s = &series[k];
        if (atomic_load_explicit(&s->state, memory_order_acquire) != 2) continue;
        s->base_runs = s->base_cards = 0;
        for (size_t i = 0; i < t.n; i++) {
            const cds_firing_series *f = &t.series[i];
            if (strcmp(f->service, s->service) || strcmp(f->rule, s->rule)) continue;
            for (size_t j = 0; j < baseline; j++) {
                s->base_runs += f->days[j].runs;
                s->base_cards += f->days[j].cards;
            }
            atomic_store_explicit(&s->cards[d], f->days[baseline].cards, memory_order_relaxed);
            if (f->days[baseline].runs > svc_calls[s->svc]) svc_calls[s->svc] = f->days[baseline].runs;
        }
        atomic_store_explicit(&s->cards[!d], 0, memory_order_relaxed);   /* tomorrow's */
    }
    for (size_t k = 0; k < SERVICES; k++) {
        atomic_store_explicit(&services[k].calls[d], svc_calls[k], memory_order_relaxed);
        atomic_store_explicit(&services[k].calls[!d], 0, memory_order_relaxed);
    }
    pthread_mutex_unlock(&lock);
    cds_firing_table_free(&t);
}

static void *run(void *arg)
{
    (void)arg;
    int64_t loaded = -1;
    pthread_mutex_lock(&lock);
    while (!stopping) {
        int64_t day = (int64_t)(time(NULL) / DAY_S);
        if (day != loaded) {
            pthread_mutex_unlock(&lock);
            reload(day);
            pthread_mutex_lock(&lock);
            loaded = day;
            continue;
        }
        /* wake a second after midnight (or at stop) */
        struct timespec until = {.tv_sec = (time_t)((day + 1) * DAY_S + 1)};
        pthread_cond_timedwait(&wake, &lock, &until);
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

bool cds_firing_live_start(const char *state, size_t baseline_days)
{
    snprintf(state_dir, sizeof state_dir, "%s", state);
    baseline = baseline_days ? baseline_days : CDS_FIRING_BASELINE_DAYS;
    stopping = false;
    running = pthread_create(&thread, NULL, run, NULL) == 0;
    return running;
}

void cds_firing_live_stop(void)
{
    if (!running) return;
    pthread_mutex_lock(&lock);
    stopping = true;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
    pthread_join(thread, NULL);
    running = false;
}

size_t cds_firing_live_anomalies(cds_firing_alarm *out, size_t max)
{
    unsigned d = today_parity();
    size_t n = 0;
    pthread_mutex_lock(&lock);
    for (size_t k = 0; k < SERIES; k++) {
        series_slot *s = &series[k];
        if (atomic_load_explicit(&s->state, memory_order_acquire) != 2) continue;
        cds_firing_count base = {s->base_runs, s->base_cards};
        cds_firing_count today = {atomic_load_explicit(&services[s->svc].calls[d], memory_order_relaxed),
                                  atomic_load_explicit(&s->cards[d], memory_order_relaxed)};
        cds_firing_check c = cds_firing_check_day(&base, 1, today, CDS_FIRING_MIN_EXPECTED);
        if (!cds_firing_is_anomaly(c.kind)) continue;
        if (n < max) {
            snprintf(out[n].service, sizeof out[n].service, "%s", s->service);
            snprintf(out[n].rule, sizeof out[n].rule, "%s", s->rule);
            out[n].check = c;
        }
        n++;
    }
    pthread_mutex_unlock(&lock);
    return n;
}

bool cds_firing_live_today(const char *service, const char *rule, long *calls, long *cards)
{
    size_t s = find_series(service, rule);
    if (!s) return false;
    unsigned d = today_parity();
    *calls = atomic_load_explicit(&services[series[s - 1].svc].calls[d], memory_order_relaxed);
    *cards = atomic_load_explicit(&series[s - 1].cards[d], memory_order_relaxed);
    return true;
}
