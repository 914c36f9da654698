/* health.c — readiness and the /metrics gauges of the running server (see health.h). */
#include "health.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "generation.h"
#include "metrics.h"

/* Readiness is asked by HTTP threads while the main thread starts and stops the server. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static cds_stats *bound_stats;
static cds_audit *bound_audit;
static char state_dir[1024];
static atomic_bool draining;

/* Below this much free space the audit log is reported not writable (a commit needs a few pages;
 * the WAL grows by up to 32 MiB between checkpoints). */
#define MIN_FREE_BYTES (1u << 20)

void cds_health_bind(cds_stats *stats, cds_audit *audit, const char *dir)
{
    pthread_mutex_lock(&lock);
    bound_stats = stats;
    bound_audit = audit;
    snprintf(state_dir, sizeof state_dir, "%s", dir ? dir : "");
    atomic_store(&draining, false);
    pthread_mutex_unlock(&lock);
}

void cds_health_unbind(void)
{
    pthread_mutex_lock(&lock);
    bound_stats = NULL;
    bound_audit = NULL;
    pthread_mutex_unlock(&lock);
}

void cds_health_set_draining(void) { atomic_store(&draining, true); }

static void add_reason(char *why, size_t n, const char *text)
{
    size_t l = strlen(why);
    snprintf(why + l, n - l, "%s%s", l ? "; " : "", text);
}

/* Under lock. */
static void audit_reasons(char *why, size_t n)
{
    if (!bound_audit) return;
    char db[1100];
    snprintf(db, sizeof db, "%s/audit.db", state_dir);
    struct statvfs vfs;
    if (access(state_dir, W_OK) != 0 || access(db, W_OK) != 0) {
        add_reason(why, n, "audit log not writable: no write permission");
    } else if (statvfs(state_dir, &vfs) == 0 && (unsigned long long)vfs.f_bavail * vfs.f_frsize < MIN_FREE_BYTES) {
        add_reason(why, n, "audit log not writable: the disk is full");
    } else {
        cds_audit_stats st;
        cds_audit_stats_read(bound_audit, &st);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        if (st.last_failed && ms - st.last_failure_ms < CDS_HEALTH_AUDIT_FAIL_MS)
            add_reason(why, n, "audit log not writable: the last commit failed");
    }
}

bool cds_health_ready(char *why, size_t n)
{
    why[0] = '\0';
    if (atomic_load(&draining)) add_reason(why, n, "draining");
    cds_gen *g = cds_gen_acquire();
    if (!g) add_reason(why, n, "no rule set loaded");
    cds_gen_release(g);
    pthread_mutex_lock(&lock);
    if (!bound_stats) add_reason(why, n, "not serving");
    audit_reasons(why, n);
    pthread_mutex_unlock(&lock);
    return why[0] == '\0';
}

void cds_health_metrics_text(cds_strbuf *out)
{
    char why[256];
    cds_metrics_gauges g = {.ready = cds_health_ready(why, sizeof why), .draining = atomic_load(&draining)};
    pthread_mutex_lock(&lock);
    if (bound_stats) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        g.inflight = atomic_load(&bound_stats->inflight);
        g.workers = bound_stats->workers;
        g.shadow = atomic_load(&bound_stats->shadow_on);
        g.shadow_evaluated = atomic_load(&bound_stats->shadow_evaluated);
        g.shadow_dropped = atomic_load(&bound_stats->shadow_dropped);
        g.shadow_failed = atomic_load(&bound_stats->shadow_failed);
        g.uptime_s = (double)(now.tv_sec - bound_stats->started.tv_sec) +
                     (double)(now.tv_nsec - bound_stats->started.tv_nsec) / 1e9;
    }
    if (bound_audit) {
        cds_audit_stats st;
        cds_audit_stats_read(bound_audit, &st);
        g.have_audit = true;
        g.audit_queue = st.queued;
        g.audit_commits = st.commits;
        g.audit_failures = st.failures;
        g.audit_commit_seconds = st.commit_seconds;
    }
    pthread_mutex_unlock(&lock);
    cds_metrics_render(out, &g);
}
