/* test_audit_faults.c — the audit log under injected failures (RELIABILITY S3, S4): the Nth
 * file write/sync fails (a failing disk, a full one), or the Nth SQLite allocation fails. For
 * N = 1, 2, ... until a write gets through untouched, in single and persistent modes, every
 * write ends as either (OK and the row is there) or (CDS_EIO and no row) - never a decision
 * without its row - and the next write after the fault clears succeeds on the same writer, with
 * the hash chain intact and the database passing integrity_check. And damaged files (S6): the
 * verifier never calls a database it could not read through "intact", and neither it nor the
 * writer crashes on randomly damaged copies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "feedback_json.h"
#include "json.h"
#include "mp.h"
#include "shim_vfs.h"
#include "testutil.h"

/* ---- the fault switch: the Nth counted operation fails (and, persistent, every later one) ---- */

typedef enum { FAULT_WRITE, FAULT_SYNC, FAULT_FULL, FAULT_MALLOC } fault_kind;

static atomic_int fault_armed;        /* counting only while armed */
static atomic_int fault_countdown;    /* operations left before the first failure */
static atomic_int fault_fired;        /* failures injected since armed */
static int fault_persistent;
static fault_kind fault_what;

static void arm(fault_kind what, int nth, int persistent)
{
    fault_what = what;
    fault_persistent = persistent;
    atomic_store(&fault_fired, 0);
    atomic_store(&fault_countdown, nth);
    atomic_store(&fault_armed, 1);
}

static void disarm(void) { atomic_store(&fault_armed, 0); }

/* Whether this operation of kind `what` fails. */
static int should_fail(fault_kind what)
{
    if (!atomic_load(&fault_armed) || fault_what != what) return 0;
    if (atomic_load(&fault_fired) && fault_persistent) {
        atomic_fetch_add(&fault_fired, 1);
        return 1;
    }
    if (atomic_fetch_sub(&fault_countdown, 1) == 1) {
        atomic_fetch_add(&fault_fired, 1);
        return 1;
    }
    return 0;
}

/* ---- writes and syncs fail through shim_vfs.h (files forward every other call) ---- */

static int write_fails(void)
{
    if (should_fail(FAULT_WRITE)) return SQLITE_IOERR_WRITE;
    return should_fail(FAULT_FULL) ? SQLITE_FULL : 0;
}

static int sync_fails(void) { return should_fail(FAULT_SYNC) ? SQLITE_IOERR_FSYNC : 0; }

static void install_shim_vfs(void)
{
    shim_fail_write = write_fails;
    shim_fail_sync = sync_fails;
    shim_vfs_install("faulty", 3, 1);   /* the default for every connection from here on */
}

/* ---- SQLite's allocator, wrapped: the Nth allocation may fail ---- */

static sqlite3_mem_methods real_mem;

static void *m_malloc(int n) { return should_fail(FAULT_MALLOC) ? NULL : real_mem.xMalloc(n); }
static void *m_realloc(void *p, int n) { return should_fail(FAULT_MALLOC) ? NULL : real_mem.xRealloc(p, n); }

static void install_failing_malloc(void)
{
    sqlite3_config(SQLITE_CONFIG_GETMALLOC, &real_mem);
    sqlite3_mem_methods m = real_mem;
    m.xMalloc = m_malloc;
    m.xRealloc = m_realloc;
    sqlite3_config(SQLITE_CONFIG_MALLOC, &m);
}

/* ---- the checks ---- */

static char db_path[256];

/* Rows of `sql` (one parameter) for key. */
static int count(const char *sql, const char *key)
{
    sqlite3 *db;
    sqlite3_open(db_path, &db);
    sqlite3_stmt *st;
    int n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static int count_decision(const char *decision) { return count("SELECT count(*) FROM decision WHERE decision = ?", decision); }

/* Feedback rows for the card, and whether they were stored as for a known card. */
static int count_feedback(const char *card) { return count("SELECT count(*) FROM feedback WHERE card = ?", card); }
static int count_known(const char *card) { return count("SELECT count(*) FROM feedback WHERE card = ? AND known_card = 1", card); }

/* One feedback entry (overridden, with a reason and comment) for the card. */
static cds_rc write_feedback(cds_audit *a, const char *card)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"feedback\":[{\"card\":\"%s\",\"outcome\":\"overridden\",\"outcomeTimestamp\":\"2025-03-01T09:01:00Z\","
             "\"overrideReason\":{\"reason\":{\"system\":\"s\",\"code\":\"will-monitor\"},\"userComment\":\"ok\"}}]}",
             card);
    return feedback_json(a, json);
}

static cds_rc write_row(cds_audit *a, const char *decision)
{
    const char *uuids[] = {decision}, *rules[] = {"ddi.interaction"}, *inds[] = {"warning"};
    cds_audit_record r = {.decision = decision, .outcome = "ok", .service = "medication-safety", .hook = "order-sign",
                          .hook_instance = "hi", .pack = "p", .pack_version = "1", .pack_digest = "d", .kb_digest = "k",
                          .request_sha256 = "00", .eval_us = 1.5,
                          .card_uuid = uuids, .card_rule = rules, .card_indicator = inds, .ncards = 1};
    return cds_audit_write(a, &r);
}

/* Runs the loop for one kind of fault and mode; returns how many writes were failed. */
static int fault_loop(fault_kind what, int persistent, int *rows)
{
    const char *dir = tu_tempdir();
    snprintf(db_path, sizeof db_path, "%s/audit.db", dir);
    cds_error err;
    cds_audit *a = cds_audit_open(db_path, what == FAULT_SYNC, &err);   /* FULL: commits sync */
    assert_non_null(a);
    int failed = 0;
    for (int n = 1; n < 2000; n++) {
        char d[64], after[80];
        snprintf(d, sizeof d, "k%d-p%d-n%d", (int)what, persistent, n);
        snprintf(after, sizeof after, "%s-after", d);
        arm(what, n, persistent);
        cds_rc rc = write_row(a, d);
        int fired = atomic_load(&fault_fired);
        disarm();
        int present = count_decision(d);
        if (rc == CDS_OK) {
            if (present != 1) fail_msg("%s: write said OK, %d rows", d, present);
            (*rows)++;
        } else {
            assert_int_equal(rc, CDS_EIO);
            /* a sync that failed after the frames were written may still have committed; what
             * must never happen is a decision reported without its row, checked above */
            if (what != FAULT_SYNC && present != 0) fail_msg("%s: write failed, yet %d rows", d, present);
            if (present == 1) (*rows)++;
            failed++;
        }
        /* the fault cleared: the same writer works again, with no restart */
        if (write_row(a, after) != CDS_OK) fail_msg("%s: the writer did not recover", d);
        assert_int_equal(count_decision(after), 1);
        (*rows)++;

        /* feedback on that card, under the same fault: stored (as a known card) or refused */
        arm(what, n, persistent);
        rc = write_feedback(a, after);
        fired += atomic_load(&fault_fired);
        disarm();
        int stored = count_feedback(after);
        if (rc == CDS_OK && (stored != 1 || count_known(after) != 1))
            fail_msg("%s: feedback said OK, %d rows (%d known)", after, stored, count_known(after));
        if (rc != CDS_OK) {
            if (what != FAULT_SYNC && stored != 0) fail_msg("%s: feedback failed, yet stored", after);
            failed++;
        }
        assert_int_equal(write_feedback(a, after), CDS_OK);   /* resent by the EHR: once, known */
        assert_int_equal(count_feedback(after), 1);
        assert_int_equal(count_known(after), 1);
        if (!fired) break;   /* the Nth operation was never reached: every case is covered */
    }
    cds_audit_close(a);

    sqlite3 *db;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(db);
    char out[512];
    FILE *f = fmemopen(out, sizeof out, "w");
    int vrc = cds_audit_verify(db_path, f);
    fclose(f);
    if (vrc != 0) fail_msg("chain after faults: %s", out);
    tu_rmrf(dir);
    return failed;
}

static void run_kind(fault_kind what, const char *name)
{
    for (int persistent = 0; persistent <= 1; persistent++) {
        int rows = 0;
        int failed = fault_loop(what, persistent, &rows);
        print_message("%s, %s: %d writes failed, %d decision rows committed\n", name, persistent ? "persistent" : "single",
                      failed, rows);
        assert_true(failed > 0);   /* the injection reached the writer */
    }
}

static void failing_writes_never_lose_a_reported_row(void **s) { (void)s; run_kind(FAULT_WRITE, "write error"); }
static void a_full_disk_never_loses_a_reported_row(void **s) { (void)s; run_kind(FAULT_FULL, "disk full"); }
static void failing_syncs_never_lose_a_reported_row(void **s) { (void)s; run_kind(FAULT_SYNC, "fsync error"); }
static void failing_allocations_never_lose_a_reported_row(void **s) { (void)s; run_kind(FAULT_MALLOC, "out of memory"); }

/* ---- damaged files ---- */

/* A fresh audit log with n rows, closed (WAL folded back); returns its directory. */
static const char *log_with_rows(int n)
{
    const char *dir = tu_tempdir();
    snprintf(db_path, sizeof db_path, "%s/audit.db", dir);
    cds_error err;
    cds_audit *a = cds_audit_open(db_path, false, &err);
    assert_non_null(a);
    for (int i = 0; i < n; i++) {
        char d[32];
        snprintf(d, sizeof d, "row-%d", i);
        assert_int_equal(write_row(a, d), CDS_OK);
    }
    cds_audit_close(a);
    return dir;
}

static int verify_file(const char *path, char *out, size_t n)
{
    FILE *f = fmemopen(out, n, "w");
    int rc = cds_audit_verify(path, f);
    fclose(f);
    return rc;
}

static void copy_file(const char *from, const char *to)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    assert_int_equal(system(cmd), 0);
}

/* The scan stopped at a damaged page (SQLITE_CORRUPT) and the verifier once printed "audit
 * chain intact" for the rows before it. */
static void a_damaged_page_is_not_reported_intact(void **s)
{
    (void)s;
    const char *dir = log_with_rows(300);
    struct stat st;
    assert_int_equal(stat(db_path, &st), 0);
    long pages = (long)st.st_size / 4096;
    assert_true(pages > 20);
    FILE *f = fopen(db_path, "r+b");
    assert_non_null(f);
    unsigned char junk[4096];
    memset(junk, 0xff, sizeof junk);
    for (long p = pages / 2; p < pages; p++) {   /* the tables' roots (pages 2-5) stay readable */
        fseek(f, p * 4096, SEEK_SET);
        fwrite(junk, 1, sizeof junk, f);
    }
    fclose(f);
    char out[512];
    int rc = verify_file(db_path, out, sizeof out);
    if (rc != 2) fail_msg("verify returned %d: %s", rc, out);
    assert_null(strstr(out, "intact"));
    assert_non_null(strstr(out, "cannot read past row"));
    tu_rmrf(dir);
}

/* 100 copies with 1-8 random bytes changed: the verifier answers (intact with no more rows than
 * were written, broken, or unreadable) and the writer opens or refuses, writes or fails - never a
 * crash or a hang. */
static void randomly_damaged_copies_never_crash(void **s)
{
    (void)s;
    const char *dir = log_with_rows(300);
    char pristine[300], copy[300];
    snprintf(pristine, sizeof pristine, "%s", db_path);
    snprintf(copy, sizeof copy, "%s/damaged.db", dir);
    struct stat st;
    assert_int_equal(stat(pristine, &st), 0);
    int verdicts[3] = {0, 0, 0}, opened = 0, written = 0;
    srand(42);
    for (int seed = 0; seed < 100; seed++) {
        char aux[320];
        snprintf(aux, sizeof aux, "%s-wal", copy);
        unlink(aux);
        snprintf(aux, sizeof aux, "%s-shm", copy);
        unlink(aux);
        snprintf(aux, sizeof aux, "%s.anchor", copy);   /* the last round's writer moved it on */
        unlink(aux);
        copy_file(pristine, copy);
        char key_from[320], key_to[320];   /* the installation's key goes with its log */
        snprintf(key_from, sizeof key_from, "%s.key", pristine);
        snprintf(key_to, sizeof key_to, "%s.key", copy);
        copy_file(key_from, key_to);
        FILE *f = fopen(copy, "r+b");
        assert_non_null(f);
        int flips = 1 + rand() % 8;
        for (int k = 0; k < flips; k++) {
            fseek(f, rand() % st.st_size, SEEK_SET);
            fputc(rand() & 0xff, f);
        }
        fclose(f);
        char out[512];
        int rc = verify_file(copy, out, sizeof out);
        assert_true(rc >= 0 && rc <= 2);
        verdicts[rc]++;
        long n;
        if (rc == 0) {
            const char *at = strstr(out, "intact: ");
            assert_non_null(at);
            n = atol(at + 8);
            assert_true(n <= 300);
        }
        cds_error err;
        cds_audit *a = cds_audit_open(copy, false, &err);
        if (a) {
            opened++;
            if (write_row(a, "after-damage") == CDS_OK) written++;
            cds_audit_close(a);
        }
    }
    print_message("100 damaged copies: verify intact %d, broken %d, unreadable %d; writer opened %d, wrote %d\n",
                  verdicts[0], verdicts[1], verdicts[2], opened, written);
    assert_true(verdicts[1] + verdicts[2] > 0);   /* the damage was seen */
    tu_rmrf(dir);
}

int main(void)
{
    install_failing_malloc();   /* before SQLite initialises */
    install_shim_vfs();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(failing_writes_never_lose_a_reported_row),
        cmocka_unit_test(a_full_disk_never_loses_a_reported_row),
        cmocka_unit_test(failing_syncs_never_lose_a_reported_row),
        cmocka_unit_test(failing_allocations_never_lose_a_reported_row),
        cmocka_unit_test(a_damaged_page_is_not_reported_intact),
        cmocka_unit_test(randomly_damaged_copies_never_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
