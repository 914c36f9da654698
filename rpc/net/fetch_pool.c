/* fetch_pool.c — the fetch thread (see fetch_pool.h). */
#include "fetch_pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "metrics.h"

typedef struct entry {
    cds_fetch_job *job;
    void *arg;
    struct entry *next;
} entry;

struct cds_fetch_pool {
    CURLM *multi;
    pthread_t thread;
    cds_fetch_done_fn done;
    int max_calls;
    pthread_mutex_t lock;
    entry *incoming;          /* submitted, not yet attached (under lock) */
    int inflight;             /* jobs submitted and not yet handed back (under lock) */
    bool stopping;            /* under lock */
    entry *active;            /* the thread's own */
};

static void hand_back(cds_fetch_pool *p, entry *e)
{
    p->done(e->arg, e->job);
    free(e);
    pthread_mutex_lock(&p->lock);
    p->inflight--;
    pthread_mutex_unlock(&p->lock);
    cds_metrics_fetch_inflight(-1);
}

/* Hands back every active job that is complete or whose time is up; returns the poll timeout. */
static int sweep(cds_fetch_pool *p)
{
    long wait = 1000;
    for (entry **pe = &p->active; *pe;) {
        entry *e = *pe;
        long left = cds_fetch_job_ms_left(e->job);
        if (!cds_fetch_job_done(e->job) && left > 0) {
            if (left < wait) wait = left;
            pe = &e->next;
            continue;
        }
        *pe = e->next;
        cds_fetch_job_time_up(e->job, p->multi);   /* detaches; fails only the keys not done */
        hand_back(p, e);
    }
    return (int)wait;
}

static void *pool_main(void *arg)
{
    cds_fetch_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        entry *in = p->incoming;
        p->incoming = NULL;
        bool stop = p->stopping;
        pthread_mutex_unlock(&p->lock);
        while (in) {
            entry *e = in;
            in = in->next;
            cds_fetch_job_attach(e->job, p->multi);
            e->next = p->active;
            p->active = e;
        }
        if (stop) break;
        int running;
        curl_multi_perform(p->multi, &running);
        CURLMsg *msg;
        int q;
        while ((msg = curl_multi_info_read(p->multi, &q)))
            if (msg->msg == CURLMSG_DONE) cds_fetch_transfer_done(p->multi, msg->easy_handle, msg->data.result);
        int wait = sweep(p);
        /* woken early by a submission or stop (curl_multi_wakeup) */
        curl_multi_poll(p->multi, NULL, 0, wait, NULL);
    }
    while (p->active) {
        entry *e = p->active;
        p->active = e->next;
        cds_fetch_job_detach(e->job, p->multi, "the service is stopping", true);
        hand_back(p, e);
    }
    return NULL;
}

cds_fetch_pool *cds_fetch_pool_start(int max_calls, cds_fetch_done_fn done)
{
    cds_fetch_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->done = done;
    p->max_calls = max_calls;
    pthread_mutex_init(&p->lock, NULL);
    if (!(p->multi = curl_multi_init()) || pthread_create(&p->thread, NULL, pool_main, p) != 0) {
        if (p->multi) curl_multi_cleanup(p->multi);
        pthread_mutex_destroy(&p->lock);
        free(p);
        cds_log(CDS_LOG_ERROR, "start", "cannot start the prefetch fetch thread");
        return NULL;
    }
    pthread_setname_np(p->thread, "cdsd-fetch");
    return p;
}

void cds_fetch_pool_submit(cds_fetch_pool *p, cds_fetch_job *job, void *arg)
{
    entry *e = malloc(sizeof *e);
    pthread_mutex_lock(&p->lock);
    bool stopping = p->stopping;
    bool take = e && !stopping && p->inflight < p->max_calls;
    if (take) {
        e->job = job;
        e->arg = arg;
        e->next = p->incoming;
        p->incoming = e;
        p->inflight++;
    }
    pthread_mutex_unlock(&p->lock);
    if (take) {
        cds_metrics_fetch_inflight(1);
        curl_multi_wakeup(p->multi);
        return;
    }
    free(e);
    char why[120];
    if (stopping) {
        snprintf(why, sizeof why, "the service is stopping");
    } else {
        snprintf(why, sizeof why, "the service was already fetching for %d calls (--fetch-max-calls)", p->max_calls);
        cds_metrics_fetch_refused();
    }
    cds_fetch_job_detach(job, NULL, why, true);
    p->done(arg, job);
}

void cds_fetch_pool_stop(cds_fetch_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_mutex_unlock(&p->lock);
    curl_multi_wakeup(p->multi);
    pthread_join(p->thread, NULL);
    /* submissions that raced the stop: attached by the last loop and handed back above */
    curl_multi_cleanup(p->multi);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
