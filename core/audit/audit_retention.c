/* audit_retention.c — the service's daily archive run (see audit_retention.h). */
#include "audit_retention.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "audit_archive.h"

#define FIRST_RUN_S 5
#define EVERY_S 3600          /* wakes hourly: the cut-off date moves once a day */

struct cds_audit_retention {
    char db[1100], dir[1100];
    int days;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    atomic_bool stop;
};

static void run_once(cds_audit_retention *r, char *done_day, size_t n)
{
    time_t cut = time(NULL) - (time_t)r->days * 86400;
    cut -= cut % 86400;   /* UTC midnight: one archive a day */
    struct tm tm;
    char day[16], out[1300];
    gmtime_r(&cut, &tm);
    strftime(day, sizeof day, "%Y-%m-%d", &tm);
    if (!strcmp(day, done_day)) return;
    snprintf(out, sizeof out, "%s/audit-until-%s.db.gz", r->dir, day);
    cds_archive_opts o = {.stop = &r->stop};
    cds_archive_result res;
    cds_error err;
    if (cds_audit_archive(r->db, (int64_t)cut * 1000, out, &o, &res, stderr, &err) != CDS_OK) {
        fprintf(stderr, "audit retention: %s\n", err.message);
        return;   /* tried again at the next wake-up */
    }
    if (res.last_seq >= res.first_seq)
        fprintf(stderr, "audit retention: archived entries %lld-%lld (%ld decisions, %ld feedback entries) to %s, %lld bytes\n",
                (long long)res.first_seq, (long long)res.last_seq, res.decisions, res.feedback, out, res.bytes);
    snprintf(done_day, n, "%s", day);
}

static void *retention_main(void *p)
{
    cds_audit_retention *r = p;
    char done_day[16] = "";
    int wait_s = FIRST_RUN_S;
    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += wait_s;
        pthread_mutex_lock(&r->lock);
        while (!atomic_load(&r->stop) && pthread_cond_timedwait(&r->cond, &r->lock, &until) != ETIMEDOUT) {}
        pthread_mutex_unlock(&r->lock);
        if (atomic_load(&r->stop)) break;
        run_once(r, done_day, sizeof done_day);
        wait_s = EVERY_S;
    }
    return NULL;
}

cds_audit_retention *cds_audit_retention_start(const char *db, const char *archive_dir, int days, cds_error *err)
{
    cds_audit_retention *r = calloc(1, sizeof *r);
    if (!r) {
        cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory");
        return NULL;
    }
    snprintf(r->db, sizeof r->db, "%s", db);
    snprintf(r->dir, sizeof r->dir, "%s", archive_dir);
    r->days = days;
    atomic_init(&r->stop, false);
    if (mkdir(archive_dir, 0700) != 0 && errno != EEXIST) {
        cds_error_set(err, CDS_EIO, NULL, "%s: %s", archive_dir, strerror(errno));
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    if (pthread_create(&r->thread, NULL, retention_main, r) != 0) {
        cds_error_set(err, CDS_EINTERNAL, NULL, "cannot start the retention thread");
        free(r);
        return NULL;
    }
    pthread_setname_np(r->thread, "cdsd-retention");
    return r;
}

void cds_audit_retention_stop(cds_audit_retention *r)
{
    if (!r) return;
    pthread_mutex_lock(&r->lock);
    atomic_store(&r->stop, true);
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
    free(r);
}
