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

#include "digest.h"
#include "mp.h"
#include "strbuf.h"

static const char SCHEMA[] =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS decision(seq INTEGER PRIMARY KEY, decision TEXT NOT NULL UNIQUE, time_ms INTEGER NOT NULL,"
    " outcome TEXT NOT NULL, service TEXT, hook TEXT, hook_instance TEXT, caller TEXT, pack TEXT, pack_version TEXT,"
    " pack_digest TEXT, kb_digest TEXT, rules TEXT, cards TEXT, error TEXT, request_sha256 TEXT, patient_key TEXT,"
    " eval_us TEXT, total_us REAL, decode_us REAL, request BLOB, prev_hash TEXT NOT NULL, row_hash TEXT NOT NULL);"
    /* one b-tree (no rowid beside the key): one page fewer to write per commit */
    "CREATE TABLE IF NOT EXISTS card(uuid TEXT NOT NULL, decision TEXT NOT NULL, rule TEXT, indicator TEXT,"
    " PRIMARY KEY(uuid, decision)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS feedback(id INTEGER PRIMARY KEY, service TEXT, card TEXT NOT NULL, outcome TEXT NOT NULL,"
    " outcome_time TEXT NOT NULL, accepted TEXT, reason_system TEXT, reason_code TEXT, reason_display TEXT,"
    " comment TEXT, received_ms INTEGER NOT NULL, known_card INTEGER NOT NULL,"
    " UNIQUE(card, outcome, outcome_time, accepted, reason_code));";

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
    size_t pending;           /* asynchronous jobs queued or being written */
    bool busy;                /* the writer role: someone is running a transaction */
    bool stop;
    char last_hash[65];
    unsigned char secret[32];
    sqlite3_stmt *ins_decision, *ins_card, *ins_feedback, *find_card, *begin, *commit;
    /* Checkpoints run on their own connection and thread: run inside the writer's commit (SQLite's
     * auto-checkpoint) they stalled every reply waiting on that commit for milliseconds. */
    sqlite3 *ckpt_db;
    pthread_t ckpt_thread;
    pthread_cond_t ckpt_cond;
    pthread_mutex_t ckpt_run;     /* held while either connection checkpoints */
    bool ckpt_wanted, ckpt_started;
    atomic_int ckpt_pages;    /* WAL length (pages) that asks for a checkpoint */
    int wal_pages;            /* WAL length after the last commit (writer role) */
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

/* The canonical text of a row that the chain hashes. */
static void chain_hash(const char *prev, const char *const *fields, int n, char out[65])
{
    cds_digest *d = cds_digest_new();
    cds_digest_update(d, prev, strlen(prev));
    for (int i = 0; i < n; i++) {
        const char *f = fields[i] ? fields[i] : "";
        cds_digest_update(d, "\x1f", 1);
        cds_digest_update(d, f, strlen(f));
    }
    cds_digest_final(d, out);
}

#define NFIELDS 17

static void fields_of(const cds_audit_record *r, const char *decision, const char *time_ms, const char *eval,
                      const char **f)
{
    const char *v[NFIELDS] = {decision, time_ms, r->outcome, r->service, r->hook, r->hook_instance, r->caller, r->pack,
                              r->pack_version, r->pack_digest, r->kb_digest, r->rules_json, r->cards_json, r->error,
                              r->request_sha256, r->patient_key, eval};
    memcpy(f, v, sizeof v);
}

/* Binding parameters, remembering the first failure: a bind that fails leaves its parameter
 * NULL, and a row stored with a field silently missing would break the chain (its hash covers
 * the intended text). Values are bound SQLITE_STATIC: each lives until its step_reset(). */
typedef struct {
    sqlite3_stmt *st;
    int rc;
} binder;

static void note(binder *b, int rc)
{
    if (rc != SQLITE_OK && b->rc == SQLITE_OK) b->rc = rc;
}

static void bind_text(binder *b, int i, const char *s)
{
    note(b, s ? sqlite3_bind_text(b->st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(b->st, i));
}

static void bind_int64(binder *b, int i, int64_t v) { note(b, sqlite3_bind_int64(b->st, i, v)); }
static void bind_double(binder *b, int i, double v) { note(b, sqlite3_bind_double(b->st, i, v)); }

/* Steps and resets at once. A statement left unreset after SQLITE_ROW keeps a read
 * transaction open: in WAL mode that pins the connection's snapshot, so checkpoints can never
 * finish and, once anyone else writes, BEGIN IMMEDIATE fails with 'database is locked'. */
static int step_reset(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc;
}

static int insert_decision(cds_audit *a, const cds_audit_record *r, char *hash_io)
{
    char time_ms[32], eval[32], row_hash[65];
    int64_t now = now_ms();
    snprintf(time_ms, sizeof time_ms, "%lld", (long long)now);
    cds_fmt_tenths(eval, r->eval_us);
    const char *f[NFIELDS];
    fields_of(r, r->decision, time_ms, eval, f);
    chain_hash(hash_io, f, NFIELDS, row_hash);
    binder b = {a->ins_decision, SQLITE_OK};
    sqlite3_reset(b.st);
    bind_text(&b, 1, r->decision);
    bind_int64(&b, 2, now);
    bind_text(&b, 3, r->outcome);
    bind_text(&b, 4, r->service);
    bind_text(&b, 5, r->hook);
    bind_text(&b, 6, r->hook_instance);
    bind_text(&b, 7, r->caller);
    bind_text(&b, 8, r->pack);
    bind_text(&b, 9, r->pack_version);
    bind_text(&b, 10, r->pack_digest);
    bind_text(&b, 11, r->kb_digest);
    bind_text(&b, 12, r->rules_json);
    bind_text(&b, 13, r->cards_json);
    bind_text(&b, 14, r->error);
    bind_text(&b, 15, r->request_sha256);
    bind_text(&b, 16, r->patient_key);
    bind_text(&b, 17, eval);
    bind_double(&b, 18, r->total_us);
    note(&b, r->request_blob ? sqlite3_bind_blob(b.st, 19, r->request_blob, (int)r->request_len, SQLITE_STATIC)
                             : sqlite3_bind_null(b.st, 19));
    bind_text(&b, 20, hash_io);
    bind_text(&b, 21, row_hash);
    bind_double(&b, 22, r->decode_us);
    if (b.rc != SQLITE_OK) return b.rc;
    int rc = step_reset(b.st);
    if (rc != SQLITE_DONE) return rc;
    for (size_t i = 0; i < r->ncards; i++) {
        binder c = {a->ins_card, SQLITE_OK};
        sqlite3_reset(c.st);
        bind_text(&c, 1, r->card_uuid[i]);
        bind_text(&c, 2, r->decision);
        bind_text(&c, 3, r->card_rule[i]);
        bind_text(&c, 4, r->card_indicator[i]);
        if (c.rc != SQLITE_OK) return c.rc;
        if ((rc = step_reset(c.st)) != SQLITE_DONE) return rc;
    }
    memcpy(hash_io, row_hash, 65);
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
        binder f = {a->find_card, oom ? SQLITE_NOMEM : SQLITE_OK};
        sqlite3_reset(f.st);
        bind_text(&f, 1, card);
        int found = f.rc == SQLITE_OK ? step_reset(f.st) : f.rc;   /* a failed lookup is not "unknown card" */
        binder b = {a->ins_feedback, found == SQLITE_ROW || found == SQLITE_DONE ? SQLITE_OK : found};
        sqlite3_reset(b.st);
        bind_text(&b, 1, service);
        bind_text(&b, 2, card);
        bind_text(&b, 3, outcome);
        bind_text(&b, 4, when);
        bind_text(&b, 5, accepted);
        bind_text(&b, 6, rs);
        bind_text(&b, 7, rc_ ? rc_ : "");   /* '' not NULL: UNIQUE must see duplicates */
        bind_text(&b, 8, rd);
        bind_text(&b, 9, comment);
        bind_int64(&b, 10, now_ms());
        note(&b, sqlite3_bind_int(b.st, 11, found == SQLITE_ROW));
        int rc = b.rc == SQLITE_OK ? step_reset(b.st) : b.rc;
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
static cds_rc write_batch(cds_audit *a, job *batch)
{
    char hash[65];
    memcpy(hash, a->last_hash, 65);
    int rc = step_reset(a->begin) == SQLITE_DONE ? SQLITE_DONE : SQLITE_ERROR;
    for (job *j = batch; j && rc == SQLITE_DONE; j = j->next)
        rc = j->kind == JOB_DECISION ? insert_decision(a, j->rec, hash) : insert_feedback(a, j->service, j->feedback);
    if (rc == SQLITE_DONE && step_reset(a->commit) == SQLITE_DONE) {
        memcpy(a->last_hash, hash, 65);
        if (a->wal_pages >= CKPT_WRITER_FACTOR * atomic_load(&a->ckpt_pages))
            writer_checkpoint(a);
        return CDS_OK;
    }
    fprintf(stderr, "audit: write failed: %s\n", sqlite3_errmsg(a->db));
    sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
    return CDS_EIO;
}

static void *writer_main(void *p)
{
    cds_audit *a = p;
    pthread_mutex_lock(&a->lock);
    for (;;) {
        /* work: jobs queued and nobody committing inline; done: stopping with nothing left */
        while ((!a->head || a->busy) && !(a->stop && !a->head && !a->busy)) pthread_cond_wait(&a->work, &a->lock);
        if (!a->head) break;
        job *batch = a->head;
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
    offsetof(cds_audit_record, kb_digest), offsetof(cds_audit_record, rules_json), offsetof(cds_audit_record, cards_json),
    offsetof(cds_audit_record, error), offsetof(cds_audit_record, request_sha256), offsetof(cds_audit_record, patient_key),
};
#define NSTRINGS (sizeof record_strings / sizeof record_strings[0])

static const char **string_at(cds_audit_record *r, size_t i) { return (const char **)((char *)r + record_strings[i]); }

/* The job and a copy of every string and array of the record, in one allocation. */
static job *job_with_copy(const cds_audit_record *r)
{
    size_t size = sizeof(job) + 3 * r->ncards * sizeof(char *) + r->request_len;
    cds_audit_record src = *r;
    for (size_t i = 0; i < NSTRINGS; i++) size += *string_at(&src, i) ? strlen(*string_at(&src, i)) + 1 : 0;
    for (size_t i = 0; i < r->ncards; i++)
        size += strlen(r->card_uuid[i]) + strlen(r->card_rule[i]) + strlen(r->card_indicator[i]) + 3;
    job *j = calloc(1, size);
    if (!j) return NULL;
    j->copy = *r;
    const char **ptrs = (const char **)(j + 1);
    char *p = (char *)(ptrs + 3 * r->ncards);
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
    if (r->request_blob) {
        memcpy(p, r->request_blob, r->request_len);
        j->copy.request_blob = p;
    }
    j->kind = JOB_DECISION;
    j->rec = &j->copy;
    return j;
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
        if (a->head || a->stop) pthread_cond_signal(&a->work);
        pthread_cond_broadcast(&a->done);
        pthread_mutex_unlock(&a->lock);
        return CDS_OK;
    }
    pthread_mutex_unlock(&a->lock);
    job *j = job_with_copy(r);
    if (!j) return CDS_EINTERNAL;
    j->cb = done;
    j->cb_arg = arg;
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
    while (a->pending || a->busy) pthread_cond_wait(&a->done, &a->lock);
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
    sqlite3_finalize(a->begin);
    sqlite3_finalize(a->commit);
    sqlite3_close(a->ckpt_db);
    sqlite3_close(a->db);   /* the last connection: checkpoints the WAL back into the database */
    free(a);
}

cds_audit *cds_audit_open(const char *path, bool sync_full, cds_error *err)
{
    cds_audit *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    char key[1100];
    snprintf(key, sizeof key, "%s.key", path);
    if (!cds_audit_secret(key, a->secret, err)) { free(a); return NULL; }
    if (cds_create_private(path) != 0 || sqlite3_open(path, &a->db) != SQLITE_OK) goto fail;   /* 0600: PHI */
    sqlite3_busy_timeout(a->db, 2000);
    if (sqlite3_exec(a->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK) goto fail;
    sqlite3_exec(a->db, sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    if (sqlite3_prepare_v2(a->db, "INSERT INTO decision(decision,time_ms,outcome,service,hook,hook_instance,caller,pack,"
                                  "pack_version,pack_digest,kb_digest,rules,cards,error,request_sha256,patient_key,eval_us,"
                                  "total_us,request,prev_hash,row_hash,decode_us) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, &a->ins_decision, NULL) ||
        sqlite3_prepare_v2(a->db, "INSERT OR IGNORE INTO card VALUES(?,?,?,?)", -1, &a->ins_card, NULL) ||
        sqlite3_prepare_v2(a->db, "INSERT OR IGNORE INTO feedback(service,card,outcome,outcome_time,accepted,"
                                  "reason_system,reason_code,reason_display,comment,received_ms,known_card)"
                                  " VALUES(?,?,?,?,?,?,?,?,?,?,?)", -1, &a->ins_feedback, NULL) ||
        sqlite3_prepare_v2(a->db, "SELECT 1 FROM card WHERE uuid=?", -1, &a->find_card, NULL) ||
        sqlite3_prepare_v2(a->db, "BEGIN IMMEDIATE", -1, &a->begin, NULL) ||
        sqlite3_prepare_v2(a->db, "COMMIT", -1, &a->commit, NULL))
        goto fail;
    snprintf(a->last_hash, sizeof a->last_hash, "%064d", 0);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(a->db, "SELECT row_hash FROM decision ORDER BY seq DESC LIMIT 1", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) snprintf(a->last_hash, sizeof a->last_hash, "%s", sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
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

int cds_audit_verify(const char *path, FILE *out)
{
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(out, "%s: %s\n", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return 2;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT seq, decision, time_ms, outcome, service, hook, hook_instance, caller, pack,"
                               " pack_version, pack_digest, kb_digest, rules, cards, error, request_sha256, patient_key,"
                               " eval_us, prev_hash, row_hash FROM decision ORDER BY seq", -1, &st, NULL) != SQLITE_OK) {
        fprintf(out, "%s: %s\n", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return 2;
    }
    char prev[65];
    snprintf(prev, sizeof prev, "%064d", 0);
    long rows = 0;
    int status = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *f[NFIELDS];
        char eval[32];
        snprintf(eval, sizeof eval, "%s", sqlite3_column_text(st, 17) ? (const char *)sqlite3_column_text(st, 17) : "");
        for (int i = 0; i < NFIELDS - 1; i++) f[i] = (const char *)sqlite3_column_text(st, i + 1);
        f[NFIELDS - 1] = eval;
        const char *stored_prev = (const char *)sqlite3_column_text(st, 18);
        const char *stored = (const char *)sqlite3_column_text(st, 19);
        char want[65];
        chain_hash(prev, f, NFIELDS, want);
        long long seq = sqlite3_column_int64(st, 0);
        if (!stored_prev || strcmp(stored_prev, prev) != 0) {
            fprintf(out, "chain broken at row %lld (decision %s): it does not follow the previous row "
                         "(a row was deleted or reordered before it)\n", seq, f[0] ? f[0] : "?");
            status = 1;
            break;
        }
        if (!stored || strcmp(stored, want) != 0) {
            fprintf(out, "chain broken at row %lld (decision %s): its content was changed\n", seq, f[0] ? f[0] : "?");
            status = 1;
            break;
        }
        memcpy(prev, want, 65);
        rows++;
    }
    if (!status && rc != SQLITE_DONE) {   /* a damaged page ends the scan: not "intact" */
        fprintf(out, "%s: cannot read past row %ld: %s\n", path, rows, sqlite3_errmsg(db));
        status = 2;
    }
    sqlite3_finalize(st);
    if (!status) fprintf(out, "audit chain intact: %ld decisions\n", rows);
    sqlite3_close(db);
    return status;
}
