/* shadow.h — shadow mode (`cdsd serve --shadow DIR`): a candidate rule set evaluated on every
 * call after the live reply has gone, off the hot path. A call is copied into a bounded queue
 * (dropped and counted when it is full) and one thread at nice 19 evaluates it, only while the
 * live service is idle, with its own engine, writing an audit decision marked shadow (decision.shadow = 1) whose
 * caller is "shadow of <live decision id>". Shadow cards never reach a client. */
#ifndef CDS_SHADOW_H
#define CDS_SHADOW_H

#include <stdbool.h>
#include <stddef.h>

#include "protocol.h"

typedef struct cds_shadow cds_shadow;

typedef struct cds_shadow_opts {
    const char *rules_dir;     /* the candidate rule set */
    const char *kb_path;       /* its knowledge base file (not the live one's) */
    int queue;                 /* calls waiting for the shadow thread before new ones are dropped */
    size_t max_request;
    struct cds_audit *audit;
    cds_stats *stats;          /* shadow_evaluated / shadow_dropped are counted there */
} cds_shadow_opts;

/* The caller column of a shadow decision: this prefix, then the live decision's id. */
#define CDS_SHADOW_CALLER_PREFIX "shadow of "

/* Loads the candidate set and starts the thread; NULL (logged) when it does not load. */
cds_shadow *cds_shadow_start(const cds_shadow_opts *o);
/* Reloads the candidate set (SIGHUP, `cdsd reload`); on failure the previous one stays. */
bool cds_shadow_reload(cds_shadow *sh);
/* Queues a copy of an answered call (its envelope as received, and the live decision id); never
 * blocks: a full queue drops the call and counts it. */
void cds_shadow_submit(cds_shadow *sh, const char *envelope, size_t len, const char *decision);
/* Stops the thread (calls still queued are dropped and counted) and frees everything. Before
 * the audit log is closed: the rows handed to it are committed by cds_audit_flush/close. */
void cds_shadow_stop(cds_shadow *sh);

#endif
