/* test_audit_archive.c — archiving (issue 23): the archive holds exactly the entries older than
 * the cut-off, archive + live verify as one history and report from either file; the live file
 * shrinks; a run killed (SIGKILL) at any point loses nothing and duplicates nothing once run
 * again, and in between every entry is in the archive, the live log or both (identical). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "audit_archive.h"
#include "audit_retention.h"
#include "feedback_json.h"
#include "report.h"
#include "testutil.h"

#define OLD 300
#define NEW 60

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void decision(cds_audit *a, int i)
{
    char id[32], uuid[32];
    snprintf(id, sizeof id, "dec-%d", i);
    snprintf(uuid, sizeof uuid, "card-%d", i);
    const char *uuids[] = {uuid}, *rules[] = {"ddi.interaction"}, *inds[] = {"warning"};
    unsigned char runs[] = {1, 2, 40};
    cds_audit_record r = {.decision = id, .outcome = "ok", .service = "medication-safety", .hook = "order-sign",
                          .pack = "shipped", .gen_rules = "[[\"ddi.interaction\",\"1\"]]", .runs = runs, .runs_len = sizeof runs,
                          .card_uuid = uuids, .card_rule = rules, .card_indicator = inds, .ncards = 1, .eval_us = 4};
    assert_int_equal(cds_audit_write(a, &r), CDS_OK);
}

/* OLD decisions (every 10th with feedback), a cut-off, NEW decisions: into dir/audit.db. */
static int64_t build_log(const char *dir)
{
    char db[300];
    snprintf(db, sizeof db, "%s/audit.db", dir);
    cds_error err;
    cds_audit *a = cds_audit_open(db, false, &err);
    assert_non_null(a);
    for (int i = 0; i < OLD; i++) {
        decision(a, i);
        if (i % 10 == 0) {
            char fb[256];
            snprintf(fb, sizeof fb, "{\"feedback\":[{\"card\":\"card-%d\",\"outcome\":\"overridden\","
                                    "\"outcomeTimestamp\":\"2026-01-01T00:00:00Z\"}]}", i);
            assert_int_equal(feedback_json(a, fb), CDS_OK);
        }
    }
    usleep(20000);
    int64_t cut = now_ms();
    usleep(20000);
    for (int i = OLD; i < OLD + NEW; i++) decision(a, i);
    cds_audit_close(a);
    return cut;
}

/* Verifies archive (if present) then live as one history; returns the distinct decisions. */
static long verified_decisions(const char *dir, const char *archive)
{
    char db[300], key[320], anchor[320];
    snprintf(db, sizeof db, "%s/audit.db", dir);
    snprintf(key, sizeof key, "%s.key", db);
    snprintf(anchor, sizeof anchor, "%s.anchor", db);
    char out[2048];
    FILE *f = fmemopen(out, sizeof out, "w");
    cds_audit_span as = {0}, ls;
    bool have = access(archive, F_OK) == 0;
    if (have && cds_audit_verify_file(archive, key, NULL, &as, f) != 0) fail_msg("archive: %s", (fflush(f), out));
    if (cds_audit_verify_file(db, key, anchor, &ls, f) != 0) fail_msg("live: %s", (fflush(f), out));
    fclose(f);
    if (!have) return ls.decisions;
    assert_true(ls.start_seq <= as.end_seq + 1);   /* nothing missing between them */
    assert_true(ls.start_seq >= as.start_seq);
    /* the live entries that the archive also holds (an interrupted run) count once */
    sqlite3 *h;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT count(*) FROM decision WHERE seq <= ?", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, as.end_seq);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long both = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return as.decisions + ls.decisions - both;
}

static void an_archive_round_trips(void **s)
{
    (void)s;
    const char *dir = tu_tempdir();
    int64_t cut = build_log(dir);
    char db[300], archive[300];
    snprintf(db, sizeof db, "%s/audit.db", dir);
    snprintf(archive, sizeof archive, "%s/old.db.gz", dir);
    struct stat before, after;
    assert_int_equal(stat(db, &before), 0);
    cds_archive_result r;
    cds_error err;
    cds_archive_opts o = {.batch = 25, .pause_ms = 1};
    assert_int_equal(cds_audit_archive(db, cut, archive, &o, &r, NULL, &err), CDS_OK);
    assert_int_equal(r.decisions, OLD);
    assert_int_equal(r.feedback, OLD / 10);
    assert_int_equal(r.first_seq, 1);
    assert_int_equal(r.last_seq, OLD + OLD / 10);
    assert_int_equal(verified_decisions(dir, archive), OLD + NEW);
    assert_int_equal(stat(db, &after), 0);
    if (after.st_size >= before.st_size) fail_msg("the live log did not shrink: %lld -> %lld", (long long)before.st_size,
                                                  (long long)after.st_size);
    /* the report reads the compressed archive directly, and the live log holds the rest */
    cds_report rep;
    assert_int_equal(cds_report_build(archive, 0, INT64_MAX, &rep, &err), CDS_OK);
    assert_int_equal(rep.decisions, OLD);
    assert_int_equal(rep.nrules, 1);
    assert_int_equal(rep.rules[0].runs, OLD);
    assert_int_equal(rep.rules[0].overridden, OLD / 10);
    cds_report_free(&rep);
    assert_int_equal(cds_report_build(db, 0, INT64_MAX, &rep, &err), CDS_OK);
    assert_int_equal(rep.decisions, NEW);
    cds_report_free(&rep);
    /* nothing older left: a second run archives nothing and leaves the archive alone */
    char again[300];
    snprintf(again, sizeof again, "%s/again.db.gz", dir);
    assert_int_equal(cds_audit_archive(db, cut, again, &o, &r, NULL, &err), CDS_OK);
    assert_true(r.last_seq < r.first_seq);
    assert_int_not_equal(access(again, F_OK), 0);
    /* the service continues the chain after archiving */
    cds_audit *a = cds_audit_open(db, false, &err);
    decision(a, 9999);
    cds_audit_close(a);
    assert_int_equal(verified_decisions(dir, archive), OLD + NEW + 1);
    tu_rmrf(dir);
}

/* SIGKILL at several points of an archive run (while building, compressing, deleting): every
 * decision is still in the history, once; running it again finishes with none in both. */
static void a_killed_archive_run_loses_and_duplicates_nothing(void **s)
{
    (void)s;
    char pristine[64];
    snprintf(pristine, sizeof pristine, "%s", tu_tempdir());
    int64_t cut = build_log(pristine);
    static const int kill_after_us[] = {0, 300, 1000, 3000, 6000, 10000, 20000, 40000, 50000, 60000, 80000, 120000};
    int finished_before_kill = 0;
    for (size_t k = 0; k < sizeof kill_after_us / sizeof kill_after_us[0]; k++) {
        char dir[64], cmd[300], db[300], archive[300];
        snprintf(dir, sizeof dir, "%s", tu_tempdir());
        snprintf(cmd, sizeof cmd, "cp -a '%s/.' '%s/'", pristine, dir);
        assert_int_equal(system(cmd), 0);
        snprintf(db, sizeof db, "%s/audit.db", dir);
        snprintf(archive, sizeof archive, "%s/old.db.gz", dir);
        cds_archive_opts o = {.batch = 10, .pause_ms = 2};
        pid_t pid = fork();
        if (pid == 0) {
            cds_archive_result r;
            cds_error err;
            _exit(cds_audit_archive(db, cut, archive, &o, &r, NULL, &err) == CDS_OK ? 0 : 1);
        }
        usleep((useconds_t)kill_after_us[k]);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        bool finished = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        if (finished) finished_before_kill++;
        char building[320];
        snprintf(building, sizeof building, "%s.building", archive);
        long n = verified_decisions(dir, archive);   /* nothing lost, whatever the point */
        print_message("killed after %d us: archive %s, build file %s\n", kill_after_us[k],
                      access(archive, F_OK) ? "absent" : "written", access(building, F_OK) ? "absent" : "left");
        assert_int_equal(n, OLD + NEW);
        cds_archive_result r;
        cds_error err;
        /* an interrupted run is completed by running it again; a run whose work was all done
         * before its kill (a quick machine: it may be killed on its way out) is not repeated:
         * its archive is rightly refused as the target of a new run */
        char key0[320];
        snprintf(key0, sizeof key0, "%s.key", db);
        cds_audit_span live0;
        FILE *q0 = fopen("/dev/null", "w");
        bool done = finished || (cds_audit_verify_file(db, key0, NULL, &live0, q0) == 0 && live0.decisions == NEW);
        fclose(q0);
        if (!done && cds_audit_archive(db, cut, archive, &o, &r, NULL, &err) != CDS_OK)
            fail_msg("re-run after a kill at %d us: %s", kill_after_us[k], err.message);
        assert_int_equal(verified_decisions(dir, archive), OLD + NEW);
        cds_audit_span as, ls;
        FILE *q = fopen("/dev/null", "w");
        char key[320];
        snprintf(key, sizeof key, "%s.key", db);
        assert_int_equal(cds_audit_verify_file(archive, key, NULL, &as, q), 0);
        assert_int_equal(cds_audit_verify_file(db, key, NULL, &ls, q), 0);
        fclose(q);
        assert_int_equal(as.decisions, OLD);   /* after the second run: none in both */
        assert_int_equal(ls.decisions, NEW);
        assert_int_equal(ls.start_seq, as.end_seq + 1);
        tu_rmrf(dir);
    }
    print_message("%d of %zu runs finished before their kill\n", finished_before_kill,
                  sizeof kill_after_us / sizeof kill_after_us[0]);
    tu_rmrf(pristine);
}

static int64_t days_ago_3(void *arg)
{
    (void)arg;
    return now_ms() - 3 * 86400000LL;
}

/* serve --audit-retain 1: the service's retention thread archives what is older than a day into
 * the archive directory, named by the cut-off day, a few seconds after the start. */
static void retention_archives_entries_older_than_the_setting(void **s)
{
    (void)s;
    const char *dir = tu_tempdir();
    char db[300], adir[300];
    snprintf(db, sizeof db, "%s/audit.db", dir);
    snprintf(adir, sizeof adir, "%s/archives", dir);
    cds_error err;
    cds_audit *a = cds_audit_open(db, false, &err);
    cds_audit_set_clock(a, days_ago_3, NULL);
    for (int i = 0; i < 50; i++) decision(a, i);
    cds_audit_close(a);
    a = cds_audit_open(db, false, &err);   /* now on the real clock */
    for (int i = 50; i < 60; i++) decision(a, i);
    cds_audit_retention *r = cds_audit_retention_start(db, adir, 1, &err);
    assert_non_null(r);
    time_t cut = time(NULL) - 86400;
    cut -= cut % 86400;
    struct tm tm;
    char day[16], archive[400];
    gmtime_r(&cut, &tm);
    strftime(day, sizeof day, "%Y-%m-%d", &tm);
    snprintf(archive, sizeof archive, "%s/audit-until-%s.db.gz", adir, day);
    long n = 0;
    for (int i = 0; i < 300 && n != 10; i++) {   /* first run after 5 s; up to 30 s on a busy machine */
        usleep(100000);
        if (access(archive, F_OK) != 0) continue;
        cds_audit_span ls;
        FILE *q = fopen("/dev/null", "w");
        if (cds_audit_verify_file(db, NULL, NULL, &ls, q) == 0) n = ls.decisions;
        fclose(q);
    }
    decision(a, 60);   /* the service kept writing meanwhile */
    cds_audit_retention_stop(r);
    cds_audit_close(a);
    assert_int_equal(n, 10);
    assert_int_equal(verified_decisions(dir, archive), 61);
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_archive_round_trips),
        cmocka_unit_test(a_killed_archive_run_loses_and_duplicates_nothing),
        cmocka_unit_test(retention_archives_entries_older_than_the_setting),
    };
    return cmocka_run_group_tests_name("audit_archive", tests, NULL, NULL);
}
