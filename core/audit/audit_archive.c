/* audit_archive.c — moving old entries of the live log into a compressed archive (see
 * audit_archive.h for the layout and the crash-safety argument). */
#include "audit_archive.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "audit.h"
#include "audit_chain.h"
#include "audit_file.h"
#include "audit_layout.h"

static int64_t query_int(sqlite3 *db, const char *sql, int64_t arg, bool *null)
{
    sqlite3_stmt *st;
    int64_t v = 0;
    *null = true;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, arg);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
            v = sqlite3_column_int64(st, 0);
            *null = false;
        }
    }
    sqlite3_finalize(st);
    return v;
}

/* The MAC of chain entry seq (a decision or a feedback row). */
static bool mac_at(sqlite3 *db, int64_t seq, unsigned char mac[CDS_MAC_LEN])
{
    sqlite3_stmt *st;
    bool ok = false;
    if (sqlite3_prepare_v2(db, "SELECT mac FROM decision WHERE seq=?1 UNION ALL SELECT mac FROM feedback WHERE seq=?1", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, seq);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == CDS_MAC_LEN) {
            memcpy(mac, sqlite3_column_blob(st, 0), CDS_MAC_LEN);
            ok = true;
        }
    }
    sqlite3_finalize(st);
    return ok;
}

static bool read_start(sqlite3 *db, const unsigned char key[32], int64_t *seq, unsigned char prev[CDS_MAC_LEN])
{
    sqlite3_stmt *st;
    bool ok = sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k='start'", -1, &st, NULL) == SQLITE_OK &&
              sqlite3_step(st) == SQLITE_ROW &&
              cds_chain_point_unpack(key, 'S', sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), seq, prev);
    sqlite3_finalize(st);
    return ok;
}

static bool exec_ok(sqlite3 *db, const char *sql) { return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK; }

static bool fsync_dir_of(const char *path)
{
    char d[1100];
    snprintf(d, sizeof d, "%s", path);
    int fd = open(dirname(d), O_RDONLY);
    if (fd < 0) return false;
    bool ok = fsync(fd) == 0;
    close(fd);
    return ok;
}

/* gzip src into dst (created 0600), fsynced. */
static bool compress_file(const char *src, const char *dst, cds_error *err)
{
    int in = open(src, O_RDONLY), fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    gzFile gz = fd >= 0 ? gzdopen(dup(fd), "wb6") : NULL;
    bool ok = in >= 0 && gz;
    char buf[1 << 16];
    ssize_t n;
    while (ok && (n = read(in, buf, sizeof buf)) != 0) ok = n > 0 && gzwrite(gz, buf, (unsigned)n) == (int)n;
    if (gz && gzclose(gz) != Z_OK) ok = false;
    if (fd >= 0 && fsync(fd) != 0) ok = false;
    if (in >= 0) close(in);
    if (fd >= 0) close(fd);
    if (!ok) cds_error_set(err, CDS_EIO, NULL, "%s: cannot write the compressed archive: %s", dst, strerror(errno));
    return ok;
}

/* Builds the archive of entries [start, cut) at out, checked and compressed. */
static bool build(const char *path, const char *key_path, int64_t start, int64_t cut, const unsigned char key[32],
                  const unsigned char end_mac[CDS_MAC_LEN], const char *out, cds_error *err)
{
    char tmp[1200], gz[1200];
    snprintf(tmp, sizeof tmp, "%s.building", out);
    snprintf(gz, sizeof gz, "%s.tmp", out);
    unlink(tmp);   /* what an interrupted run left */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);   /* it may hold requests: never world-readable */
    if (fd >= 0) close(fd);
    sqlite3 *db = NULL;
    sqlite3_stmt *st;
    unsigned char end[CDS_CHAIN_POINT_LEN];
    cds_chain_point_pack(key, 'E', cut - 1, end_mac, end);
    char attach[1300];
    char *q = sqlite3_mprintf("ATTACH %Q AS live", path);
    snprintf(attach, sizeof attach, "%s", q ? q : "");
    sqlite3_free(q);
    bool ok = sqlite3_open(tmp, &db) == SQLITE_OK && exec_ok(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF") &&
              exec_ok(db, CDS_AUDIT_SCHEMA) && exec_ok(db, attach) && exec_ok(db, "BEGIN") &&
              exec_ok(db, "INSERT INTO main.generation SELECT * FROM live.generation");
    static const char *const copies[] = {
        "INSERT INTO main.decision SELECT * FROM live.decision WHERE seq >= ?1 AND seq < ?2",
        "INSERT INTO main.card SELECT * FROM live.card WHERE decision >= ?1 AND decision < ?2",
        "INSERT INTO main.feedback SELECT * FROM live.feedback WHERE seq >= ?1 AND seq < ?2",
        "INSERT INTO main.meta SELECT k, v FROM live.meta WHERE k = 'start'",
        "INSERT INTO main.meta VALUES('end', ?3)",
    };
    for (size_t i = 0; ok && i < sizeof copies / sizeof copies[0]; i++) {
        ok = sqlite3_prepare_v2(db, copies[i], -1, &st, NULL) == SQLITE_OK;
        if (ok && sqlite3_bind_parameter_count(st) >= 2) {
            sqlite3_bind_int64(st, 1, start);
            sqlite3_bind_int64(st, 2, cut);
        }
        if (ok && sqlite3_bind_parameter_count(st) == 3) sqlite3_bind_blob(st, 3, end, sizeof end, SQLITE_STATIC);
        ok = ok && sqlite3_step(st) == SQLITE_DONE;
        sqlite3_finalize(st);
    }
    ok = ok && exec_ok(db, "COMMIT") && exec_ok(db, "DETACH live") && exec_ok(db, "VACUUM");
    if (!ok) cds_error_set(err, CDS_EIO, NULL, "%s: building the archive: %s", tmp, db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    if (ok) {   /* the copy is the chain prefix it should be, under the key, before anything is deleted */
        cds_audit_span span;
        FILE *quiet = fopen("/dev/null", "w");
        ok = quiet && cds_audit_verify_file(tmp, key_path, NULL, &span, quiet) == 0 && span.start_seq == start &&
             span.end_seq == cut - 1;
        if (quiet) fclose(quiet);
        if (!ok) cds_error_set(err, CDS_EIO, NULL, "%s: the archive built does not verify as entries %lld-%lld", tmp,
                               (long long)start, (long long)cut - 1);
    }
    ok = ok && compress_file(tmp, gz, err);
    if (ok && (rename(gz, out) != 0 || !fsync_dir_of(out))) {
        cds_error_set(err, CDS_EIO, NULL, "%s: %s", out, strerror(errno));
        ok = false;
    }
    unlink(tmp);
    if (!ok) unlink(gz);
    return ok;
}

typedef struct build_job {
    const char *path, *key_path, *out;
    int64_t start, cut;
    const unsigned char *key, *end_mac;
    cds_error *err;
    bool ok;
} build_job;

static void *build_main(void *p)
{
    build_job *j = p;
    /* below every other thread: the copy, VACUUM, verify and gzip take only CPU time the
     * service leaves idle */
    struct sched_param sp = {0};
    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0) setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
    j->ok = build(j->path, j->key_path, j->start, j->cut, j->key, j->end_mac, j->out, j->err);
    return NULL;
}

/* build() on a thread of idle priority. The deletions after it stay at the caller's priority:
 * they hold the write lock the service's writer waits for, and a holder of idle priority on a
 * busy machine would keep it for as long as the machine stays busy. */
static bool build_idle(const char *path, const char *key_path, int64_t start, int64_t cut, const unsigned char key[32],
                       const unsigned char end_mac[CDS_MAC_LEN], const char *out, cds_error *err)
{
    build_job j = {path, key_path, out, start, cut, key, end_mac, err, false};
    pthread_t t;
    if (pthread_create(&t, NULL, build_main, &j) != 0) return build(path, key_path, start, cut, key, end_mac, out, err);
    pthread_join(t, NULL);
    return j.ok;
}

static void pause_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}


/* While a transaction of the archive holds the write lock, the service's replies wait for their
 * audit rows: it holds it at most 1/LOCK_DUTY of the time, whatever the disk's speed today. */
#define LOCK_DUTY 200

static int64_t us_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000000 + (t1.tv_nsec - t0->tv_nsec) / 1000;
}

/* Pauses after holding the lock held_us: least_ms, or longer to keep the duty cycle. */
static void pace(int64_t held_us, int least_ms)
{
    int64_t ms = held_us * LOCK_DUTY / 1000;
    pause_ms((int)(ms > least_ms ? ms : least_ms));
}

/* One step giving freed pages back to the file system (a short write transaction); false when
 * none are left or the file does not do incremental vacuum. */
static bool vacuum_step(sqlite3 *db)
{
    bool null;
    return query_int(db, "SELECT auto_vacuum FROM pragma_auto_vacuum", 0, &null) == 2 &&
           query_int(db, "SELECT freelist_count FROM pragma_freelist_count", 0, &null) > 0 &&
           exec_ok(db, "PRAGMA incremental_vacuum(64)");
}

/* Reads the pages that deleting entries [from, to) will change (the rows and their index
 * entries), without a write lock: a reader does not hold up the service's writer, and the
 * deletion then finds them cached. Old entries' pages are cold: read inside the transaction,
 * they held the write lock for 25 ms per 50 entries, and every reply waited for it. Errors are
 * ignored (the deletion reads what is missing). */
static void prewarm(sqlite3 *db, int64_t from, int64_t to)
{
    static const char *const reads[] = {
        "SELECT count(*) FROM decision INDEXED BY sqlite_autoindex_decision_1 WHERE decision IN"
        " (SELECT decision FROM decision WHERE seq >= ?1 AND seq < ?2)",
        "SELECT count(*) FROM decision INDEXED BY decision_time WHERE time_ms IN"
        " (SELECT time_ms FROM decision WHERE seq >= ?1 AND seq < ?2)",
        "SELECT count(*) FROM card INDEXED BY card_uuid WHERE uuid IN (SELECT uuid FROM card WHERE decision >= ?1 AND decision < ?2)",
        "SELECT count(*) FROM feedback INDEXED BY sqlite_autoindex_feedback_1 WHERE (card, outcome, outcome_time) IN"
        " (SELECT card, outcome, outcome_time FROM feedback WHERE seq >= ?1 AND seq < ?2)",
    };
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, reads[i], -1, &st, NULL) != SQLITE_OK) continue;
        sqlite3_bind_int64(st, 1, from);
        sqlite3_bind_int64(st, 2, to);
        sqlite3_step(st);
        sqlite3_finalize(st);
    }
}

/* Deletes live entries [start, cut) in small transactions, each moving the start record. */
static bool delete_archived(sqlite3 *db, const unsigned char key[32], int64_t start, int64_t cut, const cds_archive_opts *o,
                            cds_error *err)
{
    int batch = o && o->batch > 0 ? o->batch : 20, pause = o && o->pause_ms > 0 ? o->pause_ms : 20;
    static const char *const dels[] = {"DELETE FROM card WHERE decision < ?1", "DELETE FROM decision WHERE seq < ?1",
                                       "DELETE FROM feedback WHERE seq < ?1", "UPDATE meta SET v = ?2 WHERE k = 'start'"};
    long steps = 0;
    for (int64_t b = start; b < cut;) {
        int64_t nb = cut - b > batch ? b + batch : cut;
        unsigned char mac[CDS_MAC_LEN], rec[CDS_CHAIN_POINT_LEN];
        prewarm(db, b, nb);
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        bool ok = exec_ok(db, "BEGIN IMMEDIATE");
        if (ok && !mac_at(db, nb - 1, mac)) {
            cds_error_set(err, CDS_EIO, NULL, "entry %lld is not in the live log", (long long)nb - 1);
            exec_ok(db, "ROLLBACK");
            return false;
        }
        cds_chain_point_pack(key, 'S', nb, mac, rec);
        for (size_t i = 0; ok && i < sizeof dels / sizeof dels[0]; i++) {
            sqlite3_stmt *st;
            ok = sqlite3_prepare_v2(db, dels[i], -1, &st, NULL) == SQLITE_OK;
            if (ok) {
                sqlite3_bind_int64(st, 1, nb);
                if (sqlite3_bind_parameter_count(st) == 2) sqlite3_bind_blob(st, 2, rec, sizeof rec, SQLITE_STATIC);
                ok = sqlite3_step(st) == SQLITE_DONE;
            }
            sqlite3_finalize(st);
        }
        if (!ok || !exec_ok(db, "COMMIT")) {
            cds_error_set(err, CDS_EIO, NULL, "deleting archived entries: %s", sqlite3_errmsg(db));
            exec_ok(db, "ROLLBACK");
            return false;
        }
        vacuum_step(db);   /* the pages this batch freed, a step at a time */
        b = nb;
        if (b < cut && o && o->stop && atomic_load(o->stop)) {
            cds_error_set(err, CDS_EIO, NULL, "stopped at entry %lld of %lld (the next run finishes the move)", (long long)b,
                          (long long)cut - 1);
            return false;
        }
        pace(us_since(&t0), b < cut ? pause : 0);
        if (++steps % 64 == 0) sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    }
    for (;;) {   /* what is still free */
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (!vacuum_step(db) || (o && o->stop && atomic_load(o->stop))) break;
        pace(us_since(&t0), 1);
    }
    sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return true;
}

cds_rc cds_audit_archive(const char *path, int64_t before_ms, const char *out, const cds_archive_opts *o,
                         cds_archive_result *res, FILE *log, cds_error *err)
{
    memset(res, 0, sizeof *res);
    char key_path[1100];
    snprintf(key_path, sizeof key_path, "%s.key", path);
    unsigned char key[32], prev[CDS_MAC_LEN], end_mac[CDS_MAC_LEN];
    if (!cds_chain_key_file(key_path, key, err)) return CDS_EIO;
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        cds_error_set(err, CDS_EIO, NULL, "%s: %s", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return CDS_EIO;
    }
    sqlite3_busy_timeout(db, 10000);
    /* The deletions need no fsync of their own: the archive file holding those entries is
     * already durable, and a deletion lost to a power cut is redone by the next run (an entry
     * still in both is read once). Under synchronous=FULL each small transaction held the write
     * lock through an fsync, and every reply waiting for its audit row waited with it. */
    exec_ok(db, "PRAGMA synchronous=NORMAL");
    /* Nor a checkpoint inside a commit (SQLite's automatic one, every 1000 pages): done below
     * between transactions, passively (it never blocks the service's writer). */
    exec_ok(db, "PRAGMA wal_autocheckpoint=0");
    int64_t start, cut;
    bool null;
    cds_rc rc = CDS_EIO;
    if (cds_audit_layout_of(db) != CDS_AUDIT_LAYOUT || !read_start(db, key, &start, prev)) {
        cds_error_set(err, CDS_EIO, NULL, "%s: not a keyed audit log (layout 2) with a genuine start record", path);
        goto done;
    }
    if (!cds_audit_layout_upgrade(db, "main")) {   /* the archive's columns are the live log's, in order */
        cds_error_set(err, CDS_EIO, NULL, "%s: adding the newer columns: %s", path, sqlite3_errmsg(db));
        goto done;
    }
    if (access(out, F_OK) == 0) {   /* the archive of an interrupted run: finish deleting what it holds */
        cds_audit_span span;
        FILE *quiet = fopen("/dev/null", "w");
        int v = quiet ? cds_audit_verify_file(out, key_path, NULL, &span, quiet) : 2;
        if (quiet) fclose(quiet);
        unsigned char at[CDS_MAC_LEN];
        sqlite3 *adb = v == 0 && span.end_seq >= start && span.start_seq < start ? cds_audit_file_open(out, err) : NULL;
        bool same = adb && mac_at(adb, start - 1, at) && !memcmp(at, prev, CDS_MAC_LEN);
        sqlite3_close(adb);
        if (v != 0 || span.start_seq > start || span.end_seq < start - 1 || (span.start_seq < start && !same)) {
            cds_error_set(err, CDS_EIO, NULL, "%s exists and is not the archive of an interrupted run on this log", out);
            goto done;
        }
        cut = span.end_seq + 1;
        res->first_seq = span.start_seq;
        res->decisions = span.decisions;
        res->feedback = span.feedback;
        if (log && cut > start) fprintf(log, "audit archive: %s exists; finishing the move of entries %lld-%lld\n", out,
                                       (long long)start, (long long)cut - 1);
    } else {
        /* the first entry to stay: entries are in time order, the cut falls at the first one
         * from before_ms on (or past the newest, when all are older) */
        cut = query_int(db, "SELECT min(s) FROM (SELECT min(seq) s FROM decision WHERE time_ms >= ?1"
                            " UNION ALL SELECT min(seq) FROM feedback WHERE received_ms >= ?1)", before_ms, &null);
        if (null) {
            int64_t last = query_int(db, "SELECT max(s) FROM (SELECT max(seq) s FROM decision UNION ALL"
                                         " SELECT max(seq) FROM feedback)", 0, &null);
            cut = null ? start : last + 1;
        }
        if (cut <= start) {
            if (log) fprintf(log, "audit archive: nothing older than the cut-off in %s\n", path);
            res->first_seq = start;
            res->last_seq = start - 1;
            rc = CDS_OK;
            goto done;
        }
        if (!mac_at(db, cut - 1, end_mac)) {
            cds_error_set(err, CDS_EIO, NULL, "%s: entry %lld is missing", path, (long long)cut - 1);
            goto done;
        }
        if (!build_idle(path, key_path, start, cut, key, end_mac, out, err)) goto done;
        res->first_seq = start;
        res->decisions = query_int(db, "SELECT count(*) FROM decision WHERE seq < ?1", cut, &null);
        res->feedback = query_int(db, "SELECT count(*) FROM feedback WHERE seq < ?1", cut, &null);
        if (log) fprintf(log, "audit archive: entries %lld-%lld written to %s; deleting them from the live log\n",
                         (long long)start, (long long)cut - 1, out);
    }
    if (!delete_archived(db, key, start, cut, o, err)) goto done;
    res->last_seq = cut - 1;
    FILE *f = fopen(out, "rb");
    if (f) {
        fseek(f, 0, SEEK_END);
        res->bytes = ftell(f);
        fclose(f);
    }
    rc = CDS_OK;
done:
    sqlite3_close(db);
    return rc;
}
