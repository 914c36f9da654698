/* test_audit.c — the audit log: rows committed before the caller returns, idempotent feedback,
 * unknown cards flagged, and the hash chain catching edits, deletions and reordering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "feedback_json.h"
#include "json.h"
#include "mp.h"
#include "strbuf.h"
#include "testutil.h"

static char db_path[256];

static int serial;

static void write_rows(cds_audit *a, int n)
{
    for (int k = 0; k < n; k++) {
        int i = serial++;
        char decision[64], uuid[64];
        snprintf(decision, sizeof decision, "decision-%d", i);
        snprintf(uuid, sizeof uuid, "card-%d", i);
        const char *uuids[] = {uuid}, *rules[] = {"ddi.interaction"}, *inds[] = {"warning"};
        cds_audit_record r = {.decision = decision, .outcome = "ok", .service = "medication-safety", .hook = "order-sign",
                              .hook_instance = "hi", .pack = "p", .pack_version = "1", .pack_digest = "d", .kb_digest = "k",
                              .request_sha256 = "00", .eval_us = 12.5,
                              .card_uuid = uuids, .card_rule = rules, .card_indicator = inds, .ncards = 1};
        assert_int_equal(cds_audit_write(a, &r), CDS_OK);
    }
}

static int count(const char *sql)
{
    sqlite3 *db;
    sqlite3_open(db_path, &db);
    sqlite3_stmt *st;
    int n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void exec(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_open(path, &db);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static int verify(const char *path, char *out, size_t n)
{
    FILE *f = fmemopen(out, n, "w");
    int rc = cds_audit_verify(path, f);
    fclose(f);
    return rc;
}

/* An audit log in a new temporary directory (db_path points at it). */
static cds_audit *fresh_audit(const char **dir)
{
    *dir = tu_tempdir();
    snprintf(db_path, sizeof db_path, "%s/audit.db", *dir);
    cds_error err;
    cds_audit *a = cds_audit_open(db_path, false, &err);
    assert_non_null(a);
    return a;
}


static void rows_are_committed_and_the_chain_verifies(void **s)
{
    (void)s;
    const char *dir;
    cds_audit *a = fresh_audit(&dir);
    serial = 0;
    write_rows(a, 10);
    /* committed before write returned: another connection sees them now */
    assert_int_equal(count("SELECT count(*) FROM decision"), 10);
    cds_audit_close(a);
    cds_error err;
    a = cds_audit_open(db_path, false, &err);   /* reopening continues the chain */
    write_rows(a, 1);
    cds_audit_close(a);
    char out[512];
    exec(db_path, "PRAGMA wal_checkpoint(TRUNCATE)");
    assert_int_equal(verify(db_path, out, sizeof out), 0);
    assert_non_null(strstr(out, "intact: 11"));

    tu_rmrf(dir);
}

/* Timings are kept in tenths of a microsecond (integers: exact, and what the chain MACs); the
 * formatter the report path uses instead of printf agrees with "%.1f". */
static void timings_are_kept_with_one_decimal(void **s)
{
    (void)s;
    static const double v[] = {0.0, 0.04, 0.96, 3.14159, 12.5, 50.96, 99.94, 1234.56, 999999.94, 7.25e9, -2.3};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char got[32], want[32];
        size_t n = cds_fmt_tenths(got, v[i]);
        snprintf(want, sizeof want, "%.1f", v[i]);
        assert_string_equal(got, want);
        assert_int_equal(n, strlen(want));
    }
    const char *dir;
    cds_audit *a = fresh_audit(&dir);
    write_rows(a, 1);   /* eval_us 12.5 */
    cds_audit_close(a);
    assert_int_equal(count("SELECT count(*) FROM decision WHERE eval_us = 125"), 1);
    tu_rmrf(dir);
}

static void feedback_is_idempotent_and_unknown_cards_are_flagged(void **s)
{
    (void)s;
    const char *dir;
    cds_audit *a = fresh_audit(&dir);
    serial = 0;
    write_rows(a, 2);
    const char *fb = "{\"feedback\":[{\"card\":\"card-1\",\"outcome\":\"overridden\",\"outcomeTimestamp\":\"2025-03-01T09:01:00Z\","
                     "\"overrideReason\":{\"reason\":{\"system\":\"s\",\"code\":\"will-monitor\"},\"userComment\":\"ok\"}},"
                     "{\"card\":\"no-such-card\",\"outcome\":\"accepted\",\"outcomeTimestamp\":\"2025-03-01T09:02:00Z\","
                     "\"acceptedSuggestions\":[{\"id\":\"s1\"}]}]}";
    assert_int_equal(feedback_json(a, fb), CDS_OK);
    assert_int_equal(feedback_json(a, fb), CDS_OK);   /* the EHR resends */
    assert_int_equal(count("SELECT count(*) FROM feedback"), 2);
    assert_int_equal(count("SELECT known_card FROM feedback WHERE card='card-1'"), 1);
    assert_int_equal(count("SELECT known_card FROM feedback WHERE card='no-such-card'"), 0);
    /* Looking up a known card once left a statement open, pinning the writer's WAL snapshot:
     * after anyone else wrote, every later row failed with 'database is locked', and the WAL
     * could never be checkpointed. Both must work. */
    const char *fb2 = "{\"feedback\":[{\"card\":\"card-0\",\"outcome\":\"accepted\",\"outcomeTimestamp\":"
                      "\"2025-03-01T09:03:00Z\",\"acceptedSuggestions\":[]}]}";
    assert_int_equal(feedback_json(a, fb2), CDS_OK);   /* a known card, last */
    exec(db_path, "CREATE TABLE someone_else(x);");
    write_rows(a, 1);
    sqlite3 *db;
    sqlite3_open(db_path, &db);
    int log = -1, done = -2;
    assert_int_equal(sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done), SQLITE_OK);
    assert_int_equal(log, done);   /* every frame copied back */
    sqlite3_close(db);
    cds_audit_close(a);
    tu_rmrf(dir);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* The checkpointer's connection once never read the database, so SQLite treated it as not in
 * WAL mode and its checkpoints did nothing: the WAL grew by every row (146 MB in a 3 s
 * benchmark) and the database file stayed empty until the service stopped. */
static void the_wal_is_checkpointed_and_stays_bounded(void **s)
{
    (void)s;
    const char *dir;
    cds_audit *a = fresh_audit(&dir);
    cds_audit_checkpoint_every(a, 100);
    serial = 0;
    /* ~3 pages per single-row commit: past 100 pages, below the 400 at which the writer would
     * checkpoint itself. The background checkpointer copies the rows into the database file. */
    long empty = file_size(db_path);
    write_rows(a, 60);
    for (int i = 0; i < 500 && file_size(db_path) <= empty; i++) usleep(10000);
    assert_true(file_size(db_path) > empty);
    write_rows(a, 2000);   /* ~6000 frames, 24 MB of WAL without checkpoints */
    char wal[300];
    snprintf(wal, sizeof wal, "%s-wal", db_path);
    /* at most 4 x 100 pages before the writer checkpoints itself, plus the last commits */
    assert_true(file_size(wal) <= 500 * (4096 + 24));
    assert_true(file_size(db_path) > 100 * 4096);
    cds_audit_close(a);
    assert_int_equal(count("SELECT count(*) FROM decision"), 2060);
    char out[512];
    assert_int_equal(verify(db_path, out, sizeof out), 0);
    tu_rmrf(dir);
}

static void an_unwritable_database_fails_the_write(void **s)
{
    (void)s;
    const char *dir;
    cds_audit *a = fresh_audit(&dir);
    serial = 0;
    write_rows(a, 1);
    /* another connection holds the write lock past the busy timeout: the write must fail, not hang or lie */
    sqlite3 *db;
    sqlite3_open(db_path, &db);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    const char *uuids[] = {"c"}, *rules[] = {"r"}, *inds[] = {"info"};
    cds_audit_record r = {.decision = "blocked", .outcome = "ok",
                          .card_uuid = uuids, .card_rule = rules, .card_indicator = inds, .ncards = 1};
    assert_int_equal(cds_audit_write(a, &r), CDS_EIO);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    /* and it recovers by itself once writing works again */
    assert_int_equal(cds_audit_write(a, &(cds_audit_record){.decision = "after", .outcome = "ok"}), CDS_OK);
    cds_audit_close(a);
    char out[256];
    assert_int_equal(verify(db_path, out, sizeof out), 0);
    tu_rmrf(dir);
}

typedef struct done_log { pthread_mutex_t mu; int ok, failed; char order[64][24]; int n; } done_log;
typedef struct done_arg { done_log *log; char decision[24]; } done_arg;

static void on_done(void *p, cds_rc rc)
{
    done_arg *d = p;
    pthread_mutex_lock(&d->log->mu);
    if (rc == CDS_OK) d->log->ok++;
    else d->log->failed++;
    /* the row is committed before the callback runs: a fresh connection sees it */
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM decision WHERE decision='%s'", d->decision);
    if (rc == CDS_OK && count(sql) != 1) d->log->failed += 1000;
    if (d->log->n < 64) snprintf(d->log->order[d->log->n++], 24, "%s", d->decision);
    pthread_mutex_unlock(&d->log->mu);
}

static void async_writes_report_after_the_commit_and_copy_the_record(void **s)
{
    (void)s;
    const char *dir;
    cds_audit *a = fresh_audit(&dir);
    done_log log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    done_arg args[20];
    for (int i = 0; i < 20; i++) {
        args[i].log = &log;
        snprintf(args[i].decision, sizeof args[i].decision, "async-%d", i);
        /* the record's strings live on this stack frame only: the writer must have copied them */
        char decision[24], uuid[24], gen[32] = "[[\"ddi.interaction\",\"1\"]]";
        unsigned char runs[3] = {1, 2, 5};   /* rule 1 of the generation, 1 card, 0.5 us */
        snprintf(decision, sizeof decision, "%s", args[i].decision);
        snprintf(uuid, sizeof uuid, "card-a%d", i);
        const char *uuids[] = {uuid}, *rules[] = {"ddi.interaction"}, *inds[] = {"warning"};
        cds_audit_record r = {.decision = decision, .outcome = "ok", .service = "svc", .patient_key = "pk", .card_uuid = uuids,
                              .card_rule = rules, .card_indicator = inds, .ncards = 1, .gen_rules = gen, .runs = runs,
                              .runs_len = sizeof runs};
        assert_int_equal(cds_audit_write_async(a, &r, on_done, &args[i], i % 2 == 0), CDS_OK);
        memset(decision, 'X', sizeof decision - 1);
        memset(uuid, 'X', sizeof uuid - 1);
        memset(gen, 'X', sizeof gen - 1);
        memset(runs, 0xff, sizeof runs);
    }
    cds_audit_flush(a);
    assert_int_equal(log.ok, 20);
    assert_int_equal(log.failed, 0);
    for (int i = 0; i < 20; i++) assert_string_equal(log.order[i], args[i].decision);   /* in submission order */
    assert_int_equal(count("SELECT count(*) FROM card WHERE uuid LIKE 'card-a%'"), 20);
    assert_int_equal(count("SELECT count(*) FROM decision WHERE runs = x'010205'"), 20);
    assert_int_equal(count("SELECT count(*) FROM generation WHERE rules = '[[\"ddi.interaction\",\"1\"]]'"), 1);
    /* a write that fails is reported as such, and the writer goes on */
    exec(db_path, "CREATE TRIGGER no_more BEFORE INSERT ON decision BEGIN SELECT RAISE(ABORT, 'simulated'); END;");
    done_arg bad = {&log, "async-bad"};
    assert_int_equal(cds_audit_write_async(a, &(cds_audit_record){.decision = "async-bad", .outcome = "ok"}, on_done, &bad, true),
                     CDS_OK);
    cds_audit_flush(a);
    assert_int_equal(log.failed, 1);
    exec(db_path, "DROP TRIGGER no_more;");
    assert_int_equal(cds_audit_write(a, &(cds_audit_record){.decision = "sync-after", .outcome = "ok"}), CDS_OK);
    cds_audit_close(a);
    char out[256];
    assert_int_equal(verify(db_path, out, sizeof out), 0);
    tu_rmrf(dir);
}

typedef struct submitter { cds_audit *a; done_log *log; int base; done_arg args[50]; } submitter;

static pthread_t done_on;
static void note_thread(void *p, cds_rc rc)
{
    (void)p;
    (void)rc;
    done_on = pthread_self();
}

/* A lone call's row (alone, writer idle) is committed by the caller: its callback has run when
 * write_async returns, on the caller's thread. A call under load (not alone) goes to the
 * writer thread, whose batches are cheaper per row. */
static void a_lone_row_is_committed_by_its_caller_and_others_by_the_writer(void **s)
{
    (void)s;
    const char *dir;
    cds_audit *a = fresh_audit(&dir);
    done_on = 0;
    assert_int_equal(cds_audit_write_async(a, &(cds_audit_record){.decision = "lone", .outcome = "ok"}, note_thread,
                                           NULL, true),
                     CDS_OK);
    assert_true(done_on == pthread_self());
    done_on = 0;
    assert_int_equal(cds_audit_write_async(a, &(cds_audit_record){.decision = "busy", .outcome = "ok"}, note_thread,
                                           NULL, false),
                     CDS_OK);
    cds_audit_flush(a);
    assert_true(done_on != 0 && done_on != pthread_self());
    assert_int_equal(count("SELECT count(*) FROM decision WHERE decision IN ('lone', 'busy')"), 2);
    cds_audit_close(a);
    tu_rmrf(dir);
}

static void *submit_many(void *p)
{
    submitter *sb = p;
    for (int i = 0; i < 50; i++) {
        sb->args[i].log = sb->log;
        snprintf(sb->args[i].decision, sizeof sb->args[i].decision, "t%d-%d", sb->base, i);
        cds_audit_record r = {.decision = sb->args[i].decision, .outcome = "ok"};
        if (cds_audit_write_async(sb->a, &r, on_done, &sb->args[i], false) != CDS_OK) sb->log->failed += 100;
    }
    return NULL;
}

static void concurrent_async_writes_share_batches_and_keep_the_chain(void **s)
{
    (void)s;
    const char *dir;
    cds_audit *a = fresh_audit(&dir);
    done_log log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    /* four threads at once: some rows are committed inline by their caller, the rest queue
     * behind it and go out in the writer's batches */
    static submitter sbs[4];
    pthread_t th[4];
    for (int t = 0; t < 4; t++) {
        sbs[t] = (submitter){.a = a, .log = &log, .base = t};
        pthread_create(&th[t], NULL, submit_many, &sbs[t]);
    }
    for (int t = 0; t < 4; t++) pthread_join(th[t], NULL);
    cds_audit_flush(a);
    assert_int_equal(log.ok, 200);
    assert_int_equal(log.failed, 0);
    cds_audit_close(a);
    assert_int_equal(count("SELECT count(*) FROM decision"), 200);
    char out[256];
    if (verify(db_path, out, sizeof out) != 0) fail_msg("%s", out);
    tu_rmrf(dir);
}

/* Shadow rows (cds_audit_write_lazy) wait for a batch of their own: a lone live row is still
 * committed at once by its caller, and flush (then close) commits the shadow rows, in the chain. */
static void shadow_rows_are_batched_apart_and_flushed(void **s)
{
    (void)s;
    const char *dir;
    cds_audit *a = fresh_audit(&dir);
    done_log log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    done_arg args[3];
    for (int i = 0; i < 3; i++) {
        args[i].log = &log;
        snprintf(args[i].decision, sizeof args[i].decision, "shadow-%d", i);
        assert_int_equal(cds_audit_write_lazy(a, &(cds_audit_record){.decision = args[i].decision, .outcome = "ok", .shadow = true},
                                              on_done, &args[i]),
                         CDS_OK);
    }
    done_on = 0;
    assert_int_equal(cds_audit_write_async(a, &(cds_audit_record){.decision = "live", .outcome = "ok"}, note_thread, NULL, true),
                     CDS_OK);
    assert_true(pthread_equal(done_on, pthread_self()));   /* not queued behind the shadow rows */
    cds_audit_flush(a);
    assert_int_equal(log.ok, 3);
    assert_int_equal(log.failed, 0);
    assert_int_equal(count("SELECT count(*) FROM decision WHERE shadow = 1"), 3);
    done_arg last = {&log, "shadow-at-close"};
    assert_int_equal(cds_audit_write_lazy(a, &(cds_audit_record){.decision = last.decision, .outcome = "ok", .shadow = true},
                                          on_done, &last),
                     CDS_OK);
    cds_audit_close(a);   /* commits it */
    assert_int_equal(log.ok, 4);
    assert_int_equal(count("SELECT count(*) FROM decision WHERE shadow = 1"), 4);
    char out[256];
    assert_int_equal(verify(db_path, out, sizeof out), 0);
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rows_are_committed_and_the_chain_verifies),
        cmocka_unit_test(timings_are_kept_with_one_decimal),
        cmocka_unit_test(feedback_is_idempotent_and_unknown_cards_are_flagged),
        cmocka_unit_test(the_wal_is_checkpointed_and_stays_bounded),
        cmocka_unit_test(an_unwritable_database_fails_the_write),
        cmocka_unit_test(async_writes_report_after_the_commit_and_copy_the_record),
        cmocka_unit_test(concurrent_async_writes_share_batches_and_keep_the_chain),
        cmocka_unit_test(a_lone_row_is_committed_by_its_caller_and_others_by_the_writer),
        cmocka_unit_test(shadow_rows_are_batched_apart_and_flushed),
    };
    return cmocka_run_group_tests_name("audit", tests, NULL, NULL);
}
