/* audit.c — group-committing audit writer, feedback store, chain verifier. */
#include "audit.h"
#include "private_file.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit_chain.h"
#include "audit_layout.h"
#include "digest.h"
#include "mp.h"
#include "strbuf.h"

typedef enum { JOB_DECISION, JOB_FEEDBACK } job_kind;

typedef struct job {
    job_kind kind;
    const cds_audit_record *rec;
    const char *service;
    const msgpack_object *feedback;
    cds_rc rc;
    bool done;
    struct job *next;
    /* asynchronous jobs: heap-allocated, own a copy of the record, report through cb */
    cds_audit_done_fn cb;
    void *cb_arg;
    cds_audit_record copy;
} job;

struct cds_audit {
    sqlite3 *db;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t work, done;
    job *head, *tail;
    /* Shadow rows (cds_audit_write_lazy): committed in batches of their own when LAZY_BATCH have
     * gathered or the oldest has waited LAZY_MS, so that a lone live call rarely finds the writer
     * busy with them; under steady live traffic they ride along once LAZY_MAX are waiting. */
    job *lazy_head, *lazy_tail;
    size_t nlazy;
    int64_t lazy_due_ms;      /* CLOCK_REALTIME ms */
    bool flushing;            /* cds_audit_flush: lazy rows are due now */
    size_t pending;           /* asynchronous jobs queued or being written */
    bool busy;                /* the writer role: someone is running a transaction */
    bool stop;
    unsigned char secret[32];
    /* the chain (writer role): the next entry's seq, the MAC of the last, and the key */
    int64_t next_seq;
    unsigned char chain_head[CDS_MAC_LEN], chain_key[32];
    cds_strbuf macbuf;        /* the canonical bytes of the entry being MACed */
    int anchor_fd;            /* path.anchor, rewritten after every commit; -1 when it cannot be */
    int64_t gen_id;           /* the generation of the last decision written (0: none yet) */
    char *gen_text;           /* its identity: pack, version, digests and rule list, \x1f-separated */
    sqlite3_stmt *ins_decision, *ins_card, *ins_feedback, *find_card, *find_gen, *ins_gen, *begin, *commit;
    /* Checkpoints run on their own connection and thread: run inside the writer's commit (SQLite's
     * auto-checkpoint) they stalled every reply waiting on that commit for milliseconds. */
    sqlite3 *ckpt_db;
    pthread_t ckpt_thread;
    pthread_cond_t ckpt_cond;
    pthread_mutex_t ckpt_run;     /* held while either connection checkpoints */
    bool ckpt_wanted, ckpt_started;
    atomic_int ckpt_pages;    /* WAL length (pages) that asks for a checkpoint */
    int wal_pages;            /* WAL length after the last commit (writer role) */
    int64_t (*clock)(void *); /* time stamps (NULL: the real clock); see cds_audit_set_clock */
    void *clock_arg;
    /* cds_audit_stats_read */
    atomic_ulong commits, failures, commit_us;
    _Atomic int64_t last_failure_ms;
    atomic_bool last_failed;
};

/* 32 MiB of WAL between checkpoints: a leaf page that many rows append to is copied back once
 * rather than many times, and each checkpoint's two fsyncs are shared by ~10k rows. (SQLite's
 * default, 1000 pages, cost ~10% of the 16-client throughput in cdsd-bench.) */
#define CKPT_PAGES 8192
/* If the checkpointer never catches the writer idle (the WAL restarts only once every frame is
 * copied back), the writer checkpoints itself after its commit at this multiple. */
#define CKPT_WRITER_FACTOR 4

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

bool cds_audit_secret(const char *path, unsigned char secret[32], cds_error *err)
{
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        ssize_t n = read(fd, secret, 32);
        close(fd);
        if (n == 32) return true;
        cds_error_set(err, CDS_EIO, NULL, "%s: the audit secret must be 32 bytes", path);
        return false;
    }
    if (RAND_bytes(secret, 32) != 1) {
        cds_error_set(err, CDS_EIO, NULL, "no randomness for the audit secret");
        return false;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || write(fd, secret, 32) != 32) {
        if (fd >= 0) close(fd);
        cds_error_set(err, CDS_EIO, NULL, "%s: %s", path, strerror(errno));
        return false;
    }
    fsync(fd);
    close(fd);
    return true;
}

void cds_audit_patient_key(const cds_audit *a, const char *patient_id, char out[65])
{
    unsigned char md[32];
    unsigned int n = 32;
    HMAC(EVP_sha256(), a->secret, 32, (const unsigned char *)patient_id, strlen(patient_id), md, &n);
    cds_hex(md, 32, out);
}

/* Steps and resets at once. A statement left unreset after SQLITE_ROW keeps a read
 * transaction open: in WAL mode that pins the connection's snapshot, so checkpoints can never
 * finish and, once anyone else writes, BEGIN IMMEDIATE fails with 'database is locked'. */
static int step_reset(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc;
}

static int64_t stamp(const cds_audit *a) { return a->clock ? a->clock(a->clock_arg) : now_ms(); }

void cds_audit_set_clock(cds_audit *a, int64_t (*clock)(void *), void *arg)
{
    a->clock = clock;
    a->clock_arg = arg;
}

/* A 64-digit hex digest as its 32 bytes (buf), anything else as the text it is. */
static cds_audit_val hex32(const char *s, unsigned char buf[32])
{
    return s && strlen(s) == 64 && cds_unhex(s, buf, 32) ? cds_val_blob(buf, 32) : cds_val_text(s);
}

static int64_t tenths(double us) { return us > 0 ? (int64_t)(us * 10 + 0.5) : 0; }

/* The id of the record's generation, stored (with its MAC) when new; 0 for a record without
 * one; -1 on a database error. Rule sets change rarely: the last one is remembered. */
static int64_t generation_of(cds_audit *a, const cds_audit_record *r)
{
    if (!r->pack && !r->pack_version && !r->pack_digest && !r->kb_digest && !r->gen_rules) return 0;
    const char *parts[] = {r->pack, r->pack_version, r->pack_digest, r->kb_digest, r->gen_rules};
    cds_strbuf id;
    cds_strbuf_init(&id);
    for (size_t k = 0; k < 5; k++) {
        cds_strbuf_putc(&id, parts[k] ? '+' : '-');   /* NULL and '' differ */
        cds_strbuf_puts(&id, parts[k] ? parts[k] : "");
        cds_strbuf_putc(&id, '\x1f');
    }
    if (id.oom) return -1;
    if (a->gen_id && a->gen_text && !strcmp(a->gen_text, id.data)) {
        cds_strbuf_free(&id);
        return a->gen_id;
    }
    cds_audit_val v[CDS_GENERATION_COLS] = {cds_val_int(0), cds_val_text(r->pack), cds_val_text(r->pack_version),
                                            cds_val_text(r->pack_digest), cds_val_text(r->kb_digest),
                                            cds_val_text(r->gen_rules)};
    int64_t gen = -1;
    sqlite3_reset(a->find_gen);
    if (cds_audit_bind(a->find_gen, 1, v + 1, 5) == SQLITE_OK) {
        int rc = sqlite3_step(a->find_gen);
        if (rc == SQLITE_ROW) gen = sqlite3_column_int64(a->find_gen, 0);
        sqlite3_reset(a->find_gen);
        if (rc == SQLITE_DONE) {   /* new: its id is max + 1, MACed with its content */
            sqlite3_stmt *mx;
            gen = 1;
            if (sqlite3_prepare_v2(a->db, "SELECT coalesce(max(id), 0) + 1 FROM generation", -1, &mx, NULL) == SQLITE_OK &&
                sqlite3_step(mx) == SQLITE_ROW)
                gen = sqlite3_column_int64(mx, 0);
            sqlite3_finalize(mx);
            v[0] = cds_val_int(gen);
            static const unsigned char zero[CDS_MAC_LEN];
            unsigned char mac[CDS_MAC_LEN];
            cds_chain_begin(&a->macbuf, zero, 'G');
            cds_chain_add(&a->macbuf, 'G', v, CDS_GENERATION_COLS);
            cds_audit_val m = cds_val_blob(mac, sizeof mac);
            sqlite3_reset(a->ins_gen);
            if (!cds_chain_end(&a->macbuf, a->chain_key, mac) ||
                cds_audit_bind(a->ins_gen, 1, v, CDS_GENERATION_COLS) != SQLITE_OK ||
                cds_audit_bind(a->ins_gen, CDS_GENERATION_COLS + 1, &m, 1) != SQLITE_OK || step_reset(a->ins_gen) != SQLITE_DONE)
                gen = -1;
        } else if (rc != SQLITE_ROW) gen = -1;
    }
    if (gen > 0) {   /* remembered only once committed: write_batch forgets it on a rollback */
        free(a->gen_text);
        a->gen_text = strdup(id.data);
        a->gen_id = a->gen_text ? gen : 0;
    }
    cds_strbuf_free(&id);
    return gen;
}

/* While another connection writes (an archive run deleting what it moved), the writer retries
 * every 100 us for up to 2 s. SQLite's own busy timeout sleeps 1, 2, 5, 10 ... ms between
 * tries, and every reply waiting for its row would wait that long after the lock is free. */
static int busy_wait(void *arg, int tries)
{
    (void)arg;
    if (tries >= 20000) return 0;
    struct timespec t = {0, 100000};
    nanosleep(&t, NULL);
    return 1;
}

/* Card i of the record as stored: its columns and, when it has one, its ext map. */
static void card_vals(const cds_audit_record *r, int64_t seq, size_t i, cds_audit_val c[CDS_CARD_COLS + 1])
{
    c[0] = cds_val_int(seq);
    c[1] = cds_val_int((int64_t)i);
    c[2] = cds_val_text(r->card_uuid[i]);
    c[3] = cds_val_text(r->card_rule[i]);
    c[4] = cds_val_text(r->card_indicator[i]);
    c[CDS_CARD_EXT_COL] = r->card_ext && r->card_ext[i].len ? cds_val_blob(r->card_ext[i].data, r->card_ext[i].len)
                                                            : cds_val_text(NULL);
}

/* The decision's row and its cards, one chain entry: the MAC covers every column of both
 * (the later, optional columns only when set: audit_layout.h). */
static int insert_decision(cds_audit *a, const cds_audit_record *r)
{
    int64_t gen = generation_of(a, r);
    if (gen < 0) return SQLITE_ERROR;
    int64_t seq = a->next_seq;
    unsigned char sha[32], pkey[32], mac[CDS_MAC_LEN];
    cds_audit_val v[CDS_DECISION_SHADOW_COL + 1] = {
        cds_val_int(seq), cds_val_text(r->decision), cds_val_int(stamp(a)), cds_val_text(r->outcome),
        cds_val_text(r->service), cds_val_text(r->hook), cds_val_text(r->hook_instance), cds_val_text(r->caller),
        gen ? cds_val_int(gen) : cds_val_text(NULL), cds_val_blob(r->runs ? r->runs : "", r->runs_len),
        cds_val_text(r->error), hex32(r->request_sha256, sha), hex32(r->patient_key, pkey), cds_val_int(tenths(r->decode_us)),
        cds_val_int(tenths(r->eval_us)), cds_val_int(tenths(r->total_us)), cds_val_blob(r->request_blob, r->request_len)};
    v[CDS_DECISION_SHADOW_COL] = r->shadow ? cds_val_int(1) : cds_val_text(NULL);
    cds_chain_begin(&a->macbuf, a->chain_head, 'D');
    cds_chain_add(&a->macbuf, 'D', v, CDS_DECISION_COLS);
    if (r->shadow) cds_chain_add(&a->macbuf, 'V', &v[CDS_DECISION_SHADOW_COL], 1);
    for (size_t i = 0; i < r->ncards; i++) {
        cds_audit_val c[CDS_CARD_COLS + 1];
        card_vals(r, seq, i, c);
        cds_chain_add(&a->macbuf, 'C', c, c[CDS_CARD_EXT_COL].type == SQLITE_NULL ? CDS_CARD_COLS : CDS_CARD_COLS + 1);
    }
    if (!cds_chain_end(&a->macbuf, a->chain_key, mac)) return SQLITE_NOMEM;
    v[CDS_DECISION_COLS] = cds_val_blob(mac, sizeof mac);
    sqlite3_reset(a->ins_decision);
    int rc = cds_audit_bind(a->ins_decision, 1, v, CDS_DECISION_SHADOW_COL + 1);
    if (rc != SQLITE_OK) return rc;
    if ((rc = step_reset(a->ins_decision)) != SQLITE_DONE) return rc;
    for (size_t i = 0; i < r->ncards; i++) {
        cds_audit_val c[CDS_CARD_COLS + 1];
        card_vals(r, seq, i, c);
        sqlite3_reset(a->ins_card);
        if ((rc = cds_audit_bind(a->ins_card, 1, c, CDS_CARD_COLS + 1)) != SQLITE_OK) return rc;
        if ((rc = step_reset(a->ins_card)) != SQLITE_DONE) return rc;
    }
    a->next_seq++;
    memcpy(a->chain_head, mac, CDS_MAC_LEN);
    return SQLITE_DONE;
}

/* A copy of the string o (NULL when o is absent or not a string); *oom set when the copy failed. */
static char *mpdup(const msgpack_object *o, bool *oom)
{
    if (!cds_mp_is_str(o)) return NULL;
    char *s = strndup(o->via.str.ptr, o->via.str.size);
    if (!s) *oom = true;
    return s;
}

static int insert_feedback(cds_audit *a, const char *service, const msgpack_object *req)
{
    const msgpack_object *fb = cds_mp_get(req, "feedback");
    for (uint32_t i = 0; fb && i < fb->via.array.size; i++) {
        const msgpack_object *e = &fb->via.array.ptr[i];
        bool oom = false;
        char *card = mpdup(cds_mp_get(e, "card"), &oom), *outcome = mpdup(cds_mp_get(e, "outcome"), &oom);
        char *when = mpdup(cds_mp_get(e, "outcomeTimestamp"), &oom);
        const msgpack_object *reason = cds_mp_get(cds_mp_get(e, "overrideReason"), "reason");
        char *rs = mpdup(cds_mp_get(reason, "system"), &oom), *rc_ = mpdup(cds_mp_get(reason, "code"), &oom);
        char *rd = mpdup(cds_mp_get(reason, "display"), &oom);
        char *comment = mpdup(cds_mp_get(cds_mp_get(e, "overrideReason"), "userComment"), &oom);
        /* accepted suggestion ids, joined */
        char accepted[1024] = "";
        const msgpack_object *as = cds_mp_get(e, "acceptedSuggestions");
        for (uint32_t k = 0; as && as->type == MSGPACK_OBJECT_ARRAY && k < as->via.array.size; k++) {
            const msgpack_object *id = cds_mp_get(&as->via.array.ptr[k], "id");
            if (!cds_mp_is_str(id)) continue;
            size_t l = strlen(accepted);
            snprintf(accepted + l, sizeof accepted - l, "%s%.*s", l ? "," : "", (int)id->via.str.size, id->via.str.ptr);
        }
        sqlite3_reset(a->find_card);
        int found = oom ? SQLITE_NOMEM : sqlite3_bind_text(a->find_card, 1, card, -1, SQLITE_STATIC);
        if (found == SQLITE_OK) found = step_reset(a->find_card);   /* a failed lookup is not "unknown card" */
        int rc = found == SQLITE_ROW || found == SQLITE_DONE ? SQLITE_OK : found;
        unsigned char mac[CDS_MAC_LEN];
        cds_audit_val v[CDS_FEEDBACK_COLS + 1] = {
            cds_val_int(a->next_seq), cds_val_text(service), cds_val_text(card), cds_val_text(outcome), cds_val_text(when),
            cds_val_text(accepted), cds_val_text(rs), cds_val_text(rc_ ? rc_ : "") /* '' not NULL: UNIQUE must see duplicates */,
            cds_val_text(rd), cds_val_text(comment), cds_val_int(stamp(a)), cds_val_int(found == SQLITE_ROW),
            cds_val_blob(mac, sizeof mac)};
        cds_chain_begin(&a->macbuf, a->chain_head, 'F');
        cds_chain_add(&a->macbuf, 'F', v, CDS_FEEDBACK_COLS);
        if (rc == SQLITE_OK && !cds_chain_end(&a->macbuf, a->chain_key, mac)) rc = SQLITE_NOMEM;
        sqlite3_reset(a->ins_feedback);
        if (rc == SQLITE_OK) rc = cds_audit_bind(a->ins_feedback, 1, v, CDS_FEEDBACK_COLS + 1);
        if (rc == SQLITE_OK) rc = step_reset(a->ins_feedback);
        if (rc == SQLITE_DONE && sqlite3_changes(a->db) > 0) {   /* a repeat is ignored: no chain entry */
            a->next_seq++;
            memcpy(a->chain_head, mac, CDS_MAC_LEN);
        }
        free(card); free(outcome); free(when); free(rs); free(rc_); free(rd); free(comment);
        if (rc != SQLITE_DONE) return rc;
    }
    return SQLITE_DONE;
}

/* The background checkpoints never got the WAL restarted (a restart needs every frame copied
 * back when a transaction begins, and under steady load the writer always has a few new ones):
 * copy the rest now, while nobody writes, so the next commit starts the WAL from its beginning.
 * On the commit path, but rare; SQLite refuses a second concurrent checkpoint at once (busy
 * handler or not), hence ckpt_run. */
static void writer_checkpoint(cds_audit *a)
{
    pthread_mutex_lock(&a->ckpt_run);
    sqlite3_wal_checkpoint_v2(a->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    pthread_mutex_unlock(&a->ckpt_run);
}

/* One transaction for the whole batch (group commit). The caller holds the writer role (busy). */
/* The transaction itself (below); write_batch times and counts it for cds_audit_stats_read. */
static cds_rc commit_batch(cds_audit *a, job *batch);
static cds_rc write_batch(cds_audit *a, job *batch)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cds_rc rc = commit_batch(a, batch);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int64_t us = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
    atomic_fetch_add_explicit(&a->commits, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&a->commit_us, (unsigned long)(us > 0 ? us : 0), memory_order_relaxed);
    atomic_store(&a->last_failed, rc != CDS_OK);
    if (rc != CDS_OK) {
        atomic_fetch_add_explicit(&a->failures, 1, memory_order_relaxed);
        atomic_store(&a->last_failure_ms, (int64_t)t1.tv_sec * 1000 + t1.tv_nsec / 1000000);
    }
    return rc;
}

void cds_audit_stats_read(cds_audit *a, cds_audit_stats *out)
{
    pthread_mutex_lock(&a->lock);
    out->queued = a->pending;
    pthread_mutex_unlock(&a->lock);
    out->commits = atomic_load(&a->commits);
    out->failures = atomic_load(&a->failures);
    out->commit_seconds = (double)atomic_load(&a->commit_us) / 1e6;
    out->last_failure_ms = atomic_load(&a->last_failure_ms);
    out->last_failed = atomic_load(&a->last_failed);
}

static cds_rc commit_batch(cds_audit *a, job *batch)
{
    int64_t seq = a->next_seq;
    unsigned char head[CDS_MAC_LEN];
    memcpy(head, a->chain_head, CDS_MAC_LEN);
    int rc = step_reset(a->begin) == SQLITE_DONE ? SQLITE_DONE : SQLITE_ERROR;
    for (job *j = batch; j && rc == SQLITE_DONE; j = j->next)
        rc = j->kind == JOB_DECISION ? insert_decision(a, j->rec) : insert_feedback(a, j->service, j->feedback);
    if (rc == SQLITE_DONE && step_reset(a->commit) == SQLITE_DONE) {
        if (a->anchor_fd >= 0 && a->next_seq != seq && !cds_anchor_write(a->anchor_fd, a->chain_key, a->next_seq - 1, a->chain_head))
            fprintf(stderr, "audit: cannot update the anchor file: %s\n", strerror(errno));
        if (a->wal_pages >= CKPT_WRITER_FACTOR * atomic_load(&a->ckpt_pages))
            writer_checkpoint(a);
        return CDS_OK;
    }
    fprintf(stderr, "audit: write failed: %s\n", sqlite3_errmsg(a->db));
    sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
    a->next_seq = seq;   /* the chain continues from the last committed entry */
    memcpy(a->chain_head, head, CDS_MAC_LEN);
    a->gen_id = 0;       /* a generation stored in this batch is gone too */
    return CDS_EIO;
}

#define LAZY_BATCH 256
#define LAZY_MAX 1024
#define LAZY_MS 1000

static bool lazy_ready(const cds_audit *a)
{
    return a->lazy_head && (a->nlazy >= LAZY_BATCH || a->stop || a->flushing || now_ms() >= a->lazy_due_ms);
}

/* Takes the lazy rows off their list, onto the end of `tail` (or as the batch). */
static job *take_lazy(cds_audit *a, job *tail)
{
    job *l = a->lazy_head;
    a->lazy_head = a->lazy_tail = NULL;
    a->nlazy = 0;
    if (tail) tail->next = l;
    return l;
}

static void *writer_main(void *p)
{
    cds_audit *a = p;
    pthread_mutex_lock(&a->lock);
    for (;;) {
        /* work: jobs queued (or lazy rows due) and nobody committing inline; done: stopping with
         * nothing left */
        while (a->busy || (!a->head && !lazy_ready(a))) {
            if (a->stop && !a->busy && !a->head && !a->lazy_head) break;
            if (a->lazy_head && !a->busy) {
                struct timespec until = {(time_t)(a->lazy_due_ms / 1000), (long)(a->lazy_due_ms % 1000) * 1000000L};
                pthread_cond_timedwait(&a->work, &a->lock, &until);
            } else {
                pthread_cond_wait(&a->work, &a->lock);
            }
        }
        if (!a->head && !a->lazy_head) break;
        job *batch = a->head;
        if (batch && a->nlazy >= LAZY_MAX) take_lazy(a, a->tail);
        else if (!batch) batch = take_lazy(a, NULL);
        a->head = a->tail = NULL;
        a->busy = true;
        pthread_mutex_unlock(&a->lock);

        cds_rc result = write_batch(a, batch);
        /* Blocked callers are woken (a waiter's job is gone once marked done), then the
         * asynchronous jobs' callbacks run: they send the replies. */
        job *async = NULL, **at = &async;
        size_t nasync = 0;
        pthread_mutex_lock(&a->lock);
        for (job *j = batch, *next; j; j = next) {
            next = j->next;
            if (j->cb) {
                *at = j;
                at = &j->next;
                nasync++;
            } else {
                j->rc = result;
                j->done = true;
            }
        }
        *at = NULL;
        pthread_cond_broadcast(&a->done);
        pthread_mutex_unlock(&a->lock);
        for (job *j = async, *next; j; j = next) {
            next = j->next;
            j->cb(j->cb_arg, result);
            free(j);
        }
        pthread_mutex_lock(&a->lock);
        a->busy = false;
        a->pending -= nasync;
        if (nasync) pthread_cond_broadcast(&a->done);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

/* After each commit on the writer's connection: ask for a checkpoint once the WAL is long. */
static int on_wal(void *p, sqlite3 *db, const char *name, int pages)
{
    (void)db, (void)name;
    cds_audit *a = p;
    a->wal_pages = pages;   /* called inside the commit, by the holder of the writer role */
    if (pages >= atomic_load(&a->ckpt_pages)) {
        pthread_mutex_lock(&a->lock);
        a->ckpt_wanted = true;
        pthread_cond_signal(&a->ckpt_cond);
        pthread_mutex_unlock(&a->lock);
    }
    return SQLITE_OK;
}

static void *checkpointer_main(void *p)
{
    cds_audit *a = p;
    pthread_mutex_lock(&a->lock);
    for (;;) {
        while (!a->ckpt_wanted && !a->stop) pthread_cond_wait(&a->ckpt_cond, &a->lock);
        if (a->stop) break;
        a->ckpt_wanted = false;
        pthread_mutex_unlock(&a->lock);
        /* PASSIVE: copies what it can without blocking the writer; the WAL restarts from its
         * beginning at a later commit once everything is copied back. */
        pthread_mutex_lock(&a->ckpt_run);
        sqlite3_wal_checkpoint_v2(a->ckpt_db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_unlock(&a->ckpt_run);
        pthread_mutex_lock(&a->lock);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

static cds_rc submit(cds_audit *a, job *j)
{
    pthread_mutex_lock(&a->lock);
    if (a->tail) a->tail->next = j;
    else a->head = j;
    a->tail = j;
    pthread_cond_signal(&a->work);
    while (!j->done) pthread_cond_wait(&a->done, &a->lock);
    pthread_mutex_unlock(&a->lock);
    return j->rc;
}

cds_rc cds_audit_write(cds_audit *a, const cds_audit_record *r)
{
    job j = {.kind = JOB_DECISION, .rec = r};
    return submit(a, &j);
}

/* The record's string fields, by offset: copied for asynchronous jobs. */
static const size_t record_strings[] = {
    offsetof(cds_audit_record, decision), offsetof(cds_audit_record, outcome), offsetof(cds_audit_record, service),
    offsetof(cds_audit_record, hook), offsetof(cds_audit_record, hook_instance), offsetof(cds_audit_record, caller),
    offsetof(cds_audit_record, pack), offsetof(cds_audit_record, pack_version), offsetof(cds_audit_record, pack_digest),
    offsetof(cds_audit_record, kb_digest), offsetof(cds_audit_record, gen_rules),
    offsetof(cds_audit_record, error), offsetof(cds_audit_record, request_sha256), offsetof(cds_audit_record, patient_key),
};
#define NSTRINGS (sizeof record_strings / sizeof record_strings[0])

static const char **string_at(cds_audit_record *r, size_t i) { return (const char **)((char *)r + record_strings[i]); }

/* The job and a copy of every string and array of the record, in one allocation. */
static job *job_with_copy(const cds_audit_record *r)
{
    size_t size = sizeof(job) + 3 * r->ncards * sizeof(char *) + r->request_len + r->runs_len;
    if (r->card_ext) size += r->ncards * sizeof(cds_audit_blob);
    cds_audit_record src = *r;
    for (size_t i = 0; i < NSTRINGS; i++) size += *string_at(&src, i) ? strlen(*string_at(&src, i)) + 1 : 0;
    for (size_t i = 0; i < r->ncards; i++) {
        size += strlen(r->card_uuid[i]) + strlen(r->card_rule[i]) + strlen(r->card_indicator[i]) + 3;
        if (r->card_ext) size += r->card_ext[i].len;
    }
    job *j = calloc(1, size);
    if (!j) return NULL;
    j->copy = *r;
    /* pointers first, then the blob descriptors, then bytes: each array at its own alignment */
    const char **ptrs = (const char **)(j + 1);
    cds_audit_blob *ext = r->card_ext ? (cds_audit_blob *)(ptrs + 3 * r->ncards) : NULL;
    char *p = ext ? (char *)(ext + r->ncards) : (char *)(ptrs + 3 * r->ncards);
    for (size_t i = 0; i < NSTRINGS; i++) {
        const char **f = string_at(&j->copy, i);
        if (!*f) continue;
        size_t n = strlen(*f) + 1;
        memcpy(p, *f, n);
        *f = p;
        p += n;
    }
    const char *const *lists[] = {r->card_uuid, r->card_rule, r->card_indicator};
    for (size_t k = 0; k < 3; k++) {
        for (size_t i = 0; i < r->ncards; i++) {
            size_t n = strlen(lists[k][i]) + 1;
            memcpy(p, lists[k][i], n);
            ptrs[k * r->ncards + i] = p;
            p += n;
        }
    }
    j->copy.card_uuid = ptrs;
    j->copy.card_rule = ptrs + r->ncards;
    j->copy.card_indicator = ptrs + 2 * r->ncards;
    for (size_t i = 0; ext && i < r->ncards; i++) {
        ext[i].len = r->card_ext[i].len;
        ext[i].data = ext[i].len ? memcpy(p, r->card_ext[i].data, ext[i].len) : NULL;
        p += ext[i].len;
    }
    j->copy.card_ext = ext;
    if (r->request_blob) {
        memcpy(p, r->request_blob, r->request_len);
        j->copy.request_blob = p;
        p += r->request_len;
    }
    if (r->runs) {
        memcpy(p, r->runs, r->runs_len);
        j->copy.runs = p;
    }
    j->kind = JOB_DECISION;
    j->rec = &j->copy;
    return j;
}

/* A copy of the record as an asynchronous job reporting to done; NULL when out of memory. */
static job *async_job(const cds_audit_record *r, cds_audit_done_fn done, void *arg)
{
    job *j = job_with_copy(r);
    if (j) j->cb = done, j->cb_arg = arg;
    return j;
}

cds_rc cds_audit_write_lazy(cds_audit *a, const cds_audit_record *r, cds_audit_done_fn done, void *arg)
{
    job *j = async_job(r, done, arg);
    if (!j) return CDS_EINTERNAL;
    pthread_mutex_lock(&a->lock);
    if (a->lazy_tail) a->lazy_tail->next = j;
    else a->lazy_head = j, a->lazy_due_ms = now_ms() + LAZY_MS;
    a->lazy_tail = j;
    a->pending++;
    if (++a->nlazy >= LAZY_BATCH) pthread_cond_signal(&a->work);
    pthread_mutex_unlock(&a->lock);
    return CDS_OK;
}

cds_rc cds_audit_write_async(cds_audit *a, const cds_audit_record *r, cds_audit_done_fn done, void *arg, bool alone)
{
    /* A lone request, nothing queued and nobody writing: commit here and now, without waking
     * the writer (one thread hop less); otherwise join the writer's next batch (at 16
     * concurrent, single-row commits by the callers cost ~10% of throughput). */
    pthread_mutex_lock(&a->lock);
    if (alone && !a->busy && !a->head && !a->stop) {
        a->busy = true;
        pthread_mutex_unlock(&a->lock);
        job j = {.kind = JOB_DECISION, .rec = r};
        cds_rc rc = write_batch(a, &j);
        done(arg, rc);
        pthread_mutex_lock(&a->lock);
        a->busy = false;
        if (a->head || a->stop || a->lazy_head) pthread_cond_signal(&a->work);
        pthread_cond_broadcast(&a->done);
        pthread_mutex_unlock(&a->lock);
        return CDS_OK;
    }
    pthread_mutex_unlock(&a->lock);
    job *j = async_job(r, done, arg);
    if (!j) return CDS_EINTERNAL;
    pthread_mutex_lock(&a->lock);
    if (a->tail) a->tail->next = j;
    else a->head = j;
    a->tail = j;
    a->pending++;
    pthread_cond_signal(&a->work);
    pthread_mutex_unlock(&a->lock);
    return CDS_OK;
}

void cds_audit_flush(cds_audit *a)
{
    if (!a) return;
    pthread_mutex_lock(&a->lock);
    a->flushing = true;   /* lazy rows are due */
    pthread_cond_signal(&a->work);
    while (a->pending || a->busy) pthread_cond_wait(&a->done, &a->lock);
    a->flushing = false;
    pthread_mutex_unlock(&a->lock);
}

cds_rc cds_audit_feedback(cds_audit *a, const char *service, const msgpack_object *request)
{
    job j = {.kind = JOB_FEEDBACK, .service = service, .feedback = request};
    return submit(a, &j);
}

/* Statements, connection and the handle itself. */
static void release(cds_audit *a)
{
    sqlite3_finalize(a->ins_decision);
    sqlite3_finalize(a->ins_card);
    sqlite3_finalize(a->ins_feedback);
    sqlite3_finalize(a->find_card);
    sqlite3_finalize(a->find_gen);
    sqlite3_finalize(a->ins_gen);
    sqlite3_finalize(a->begin);
    sqlite3_finalize(a->commit);
    sqlite3_close(a->ckpt_db);
    sqlite3_close(a->db);   /* the last connection: checkpoints the WAL back into the database */
    if (a->anchor_fd >= 0) close(a->anchor_fd);
    cds_strbuf_free(&a->macbuf);
    free(a->gen_text);
    free(a);
}

/* A log in layout 1 at path is kept, read-only from now on, as audit-v1.db (path + ".v1" for a
 * name not ending in ".db"); the new log's chain starts where its chain ended (*seq, last).
 * false with the reason in err. */
static bool set_aside_layout1(const char *path, int64_t *seq, unsigned char last[CDS_MAC_LEN], cds_error *err)
{
    sqlite3 *db;
    if (access(path, F_OK) != 0) return true;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return true;   /* cds_audit_open says why */
    }
    int layout = cds_audit_layout_of(db);
    bool ok = true;
    if (layout == 1) {
        sqlite3_stmt *st;
        ok = sqlite3_prepare_v2(db, "SELECT seq, row_hash FROM decision ORDER BY seq DESC LIMIT 1", -1, &st, NULL) == SQLITE_OK;
        if (ok && sqlite3_step(st) == SQLITE_ROW) {
            unsigned char buf[32];
            cds_audit_val h = hex32((const char *)sqlite3_column_text(st, 1), buf);
            *seq = sqlite3_column_int64(st, 0) + 1;
            if (h.type == SQLITE_BLOB) memcpy(last, buf, 32);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);   /* the last connection: the WAL is copied back and removed */
    if (layout != 1) return true;
    char to[1100];
    size_t n = strlen(path);
    if (n > 3 && !strcmp(path + n - 3, ".db")) snprintf(to, sizeof to, "%.*s-v1.db", (int)(n - 3), path);
    else snprintf(to, sizeof to, "%s.v1", path);
    if (!ok || access(to, F_OK) == 0 || rename(path, to) != 0) {
        cds_error_set(err, CDS_EIO, NULL, "%s: a log in the first layout, and it cannot be kept as %s (%s)", path, to,
                      ok ? access(to, F_OK) == 0 ? "that file exists" : strerror(errno) : "unreadable");
        return false;
    }
    fprintf(stderr, "audit: %s is in the first layout: kept read-only as %s (cdsd audit verify and cdsd report "
                    "--audit read it); the new log continues its chain\n", path, to);
    return true;
}

/* Where the chain stands: the start record (written for a new file), then the newest entry. */
static bool chain_setup(cds_audit *a, const char *path, int64_t start_seq, const unsigned char start_prev[CDS_MAC_LEN],
                        cds_error *err)
{
    unsigned char rec[CDS_CHAIN_POINT_LEN];
    cds_chain_point_pack(a->chain_key, 'S', start_seq, start_prev, rec);
    sqlite3_stmt *st;
    bool ok = sqlite3_prepare_v2(a->db, "INSERT OR IGNORE INTO meta VALUES('start', ?)", -1, &st, NULL) == SQLITE_OK &&
              sqlite3_bind_blob(st, 1, rec, sizeof rec, SQLITE_STATIC) == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    ok = ok && sqlite3_prepare_v2(a->db, "SELECT v FROM meta WHERE k='start'", -1, &st, NULL) == SQLITE_OK &&
         sqlite3_step(st) == SQLITE_ROW &&
         cds_chain_point_unpack(a->chain_key, 'S', sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0),
                                &a->next_seq, a->chain_head);
    sqlite3_finalize(st);
    if (!ok) {
        cds_error_set(err, CDS_EIO, NULL, "%s: the chain's start record is missing or not genuine (another key?)", path);
        return false;
    }
    if (sqlite3_prepare_v2(a->db, "SELECT seq, mac FROM (SELECT seq, mac FROM decision WHERE seq = (SELECT max(seq) FROM decision)"
                                  " UNION ALL SELECT seq, mac FROM feedback WHERE seq = (SELECT max(seq) FROM feedback))"
                                  " ORDER BY seq DESC LIMIT 1", -1, &st, NULL) != SQLITE_OK)
        return false;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 1) == CDS_MAC_LEN) {
        a->next_seq = sqlite3_column_int64(st, 0) + 1;
        memcpy(a->chain_head, sqlite3_column_blob(st, 1), CDS_MAC_LEN);
    }
    sqlite3_finalize(st);
    /* The anchor: the newest entry, outside the database. One that is ahead of the log (entries
     * deleted while the service was stopped, or lost with the power under synchronous=NORMAL)
     * is kept as evidence before the anchor follows the log again. */
    char anchor[1100], lost[1200];
    snprintf(anchor, sizeof anchor, "%s.anchor", path);
    int64_t aseq;
    unsigned char amac[CDS_MAC_LEN];
    cds_error aerr;
    if (cds_anchor_read(anchor, a->chain_key, &aseq, amac, &aerr) == 1 && aseq >= a->next_seq) {
        snprintf(lost, sizeof lost, "%s.lost-%lld", anchor, (long long)now_ms());
        fprintf(stderr, "audit: the log ends at entry %lld but its anchor says %lld were written (entries deleted, or "
                        "lost in a power failure): the anchor is kept as %s\n",
                (long long)a->next_seq - 1, (long long)aseq, lost);
        if (rename(anchor, lost) != 0) fprintf(stderr, "audit: %s: %s\n", lost, strerror(errno));
    }
    a->anchor_fd = open(anchor, O_WRONLY | O_CREAT, 0600);
    if (a->anchor_fd < 0 || (a->next_seq > start_seq && !cds_anchor_write(a->anchor_fd, a->chain_key, a->next_seq - 1, a->chain_head)))
        fprintf(stderr, "audit: %s: %s (truncating the log's newest entries will not be detected)\n", anchor, strerror(errno));
    return true;
}

cds_audit *cds_audit_open(const char *path, bool sync_full, cds_error *err)
{
    cds_audit *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    char key[1100];
    snprintf(key, sizeof key, "%s.key", path);
    if (!cds_audit_secret(key, a->secret, err)) { free(a); return NULL; }
    a->anchor_fd = -1;
    cds_strbuf_init(&a->macbuf);
    cds_chain_key(a->secret, a->chain_key);
    int64_t start_seq = 1;
    unsigned char start_prev[CDS_MAC_LEN] = {0};
    if (!set_aside_layout1(path, &start_seq, start_prev, err)) {
        release(a);
        return NULL;
    }
    if (cds_create_private(path) != 0 || sqlite3_open(path, &a->db) != SQLITE_OK) goto fail;   /* 0600: PHI */
    sqlite3_busy_handler(a->db, busy_wait, NULL);
    /* a new log gives the pages archiving frees back to the file system (incremental vacuum);
     * set before the first table */
    if ((cds_audit_layout_of(a->db) == 0 && sqlite3_exec(a->db, "PRAGMA auto_vacuum=INCREMENTAL", NULL, NULL, NULL)) ||
        sqlite3_exec(a->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(a->db, CDS_AUDIT_SCHEMA, NULL, NULL, NULL) != SQLITE_OK || !cds_audit_layout_upgrade(a->db, "main"))
        goto fail;
    sqlite3_exec(a->db, sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    if (sqlite3_prepare_v2(a->db, "INSERT INTO decision VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &a->ins_decision, NULL) ||
        sqlite3_prepare_v2(a->db, "INSERT INTO card VALUES(?,?,?,?,?,?)", -1, &a->ins_card, NULL) ||
        sqlite3_prepare_v2(a->db, "INSERT OR IGNORE INTO feedback VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &a->ins_feedback, NULL) ||
        sqlite3_prepare_v2(a->db, "SELECT 1 FROM card WHERE uuid=?", -1, &a->find_card, NULL) ||
        sqlite3_prepare_v2(a->db, "SELECT id FROM generation WHERE pack IS ? AND pack_version IS ? AND pack_digest IS ?"
                                  " AND kb_digest IS ? AND rules IS ?", -1, &a->find_gen, NULL) ||
        sqlite3_prepare_v2(a->db, "INSERT INTO generation VALUES(?,?,?,?,?,?,?)", -1, &a->ins_gen, NULL) ||
        sqlite3_prepare_v2(a->db, "BEGIN IMMEDIATE", -1, &a->begin, NULL) ||
        sqlite3_prepare_v2(a->db, "COMMIT", -1, &a->commit, NULL))
        goto fail;
    if (!chain_setup(a, path, start_seq, start_prev, err)) {
        release(a);
        return NULL;
    }
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->work, NULL);
    pthread_cond_init(&a->done, NULL);
    pthread_cond_init(&a->ckpt_cond, NULL);
    pthread_mutex_init(&a->ckpt_run, NULL);
    if (sqlite3_open(path, &a->ckpt_db) != SQLITE_OK) goto fail;
    sqlite3_busy_timeout(a->ckpt_db, 2000);
    /* A connection learns that the database is in WAL mode on its first read; before that,
     * sqlite3_wal_checkpoint_v2() returns SQLITE_OK having done nothing (the WAL grew forever). */
    if (sqlite3_exec(a->ckpt_db, "PRAGMA journal_mode", NULL, NULL, NULL) != SQLITE_OK) goto fail;
    atomic_init(&a->ckpt_pages, CKPT_PAGES);
    /* after a burst, the restarted WAL file is cut back to this size */
    sqlite3_exec(a->db, "PRAGMA journal_size_limit=67108864", NULL, NULL, NULL);
    sqlite3_exec(a->db, "PRAGMA wal_autocheckpoint=0", NULL, NULL, NULL);
    sqlite3_wal_hook(a->db, on_wal, a);
    if (pthread_create(&a->ckpt_thread, NULL, checkpointer_main, a) != 0) goto fail;
    pthread_setname_np(a->ckpt_thread, "cdsd-checkpoint");
    a->ckpt_started = true;
    if (pthread_create(&a->thread, NULL, writer_main, a) != 0) goto fail;
    pthread_setname_np(a->thread, "cdsd-audit");
    return a;
fail:
    cds_error_set(err, CDS_EIO, NULL, "%s: %s", path, a->db ? sqlite3_errmsg(a->db) : "cannot open");
    if (a->ckpt_started) {
        pthread_mutex_lock(&a->lock);
        a->stop = true;
        pthread_cond_signal(&a->ckpt_cond);
        pthread_mutex_unlock(&a->lock);
        pthread_join(a->ckpt_thread, NULL);
    }
    release(a);
    return NULL;
}

void cds_audit_cache_kib(cds_audit *a, int kib)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size=-%d", kib > 0 ? kib : 2000);
    sqlite3_exec(a->db, sql, NULL, NULL, NULL);
}

void cds_audit_checkpoint_every(cds_audit *a, int pages)
{
    atomic_store(&a->ckpt_pages, pages > 0 ? pages : CKPT_PAGES);
}

void cds_audit_close(cds_audit *a)
{
    if (!a) return;
    pthread_mutex_lock(&a->lock);
    a->stop = true;
    pthread_cond_signal(&a->work);
    pthread_cond_signal(&a->ckpt_cond);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->thread, NULL);
    pthread_join(a->ckpt_thread, NULL);
    release(a);
}
