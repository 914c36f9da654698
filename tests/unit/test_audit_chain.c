/* test_audit_chain.c — the keyed chain (issue 22 item 5): every edit an adversarial campaign made
 * to the audit database without the key is caught (feedback edited or deleted, cards edited,
 * timing columns, the stored request, NULL -> '', a row rebuilt with the chain recomputed under
 * another key, the newest entries deleted), and logs in the first layout still verify and are
 * continued by the keyed chain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <unistd.h>

#include "audit.h"
#include "audit_chain.h"
#include "audit_layout.h"
#include "digest.h"
#include "feedback_json.h"
#include "testutil.h"

static char dir[64], db_path[300];

static void exec(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
}

static void copy(const char *from, const char *to)
{
    char cmd[800];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    assert_int_equal(system(cmd), 0);
}

/* Verifies path with the log's key and the given anchor; the output in out. */
static int verify(const char *path, const char *anchor, char *out, size_t n)
{
    char key[320];
    snprintf(key, sizeof key, "%s.key", db_path);
    FILE *f = fmemopen(out, n, "w");
    int rc = cds_audit_verify_file(path, key, anchor, NULL, f);
    fclose(f);
    return rc;
}

static void decision(cds_audit *a, int i, size_t ncards, const char *request)
{
    char id[32], u0[32], u1[32];
    snprintf(id, sizeof id, "dec-%d", i);
    snprintf(u0, sizeof u0, "card-%d-0", i);
    snprintf(u1, sizeof u1, "card-%d-1", i);
    const char *uuids[] = {u0, u1}, *rules[] = {"ddi.interaction", "allergy.drug"}, *inds[] = {"warning", "critical"};
    unsigned char runs[] = {1, 2, 40, 2, 0, 7};
    cds_audit_record r = {.decision = id, .outcome = "ok", .service = "medication-safety", .hook = "order-sign",
                          .hook_instance = "hi", .caller = "127.0.0.1", .pack = "shipped", .pack_version = "1",
                          .pack_digest = "pd", .kb_digest = "kd", .gen_rules = "[[\"ddi.interaction\",\"1\"],[\"allergy.drug\",\"1\"]]",
                          .runs = runs, .runs_len = sizeof runs,
                          .request_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                          .patient_key = "pk", .decode_us = 1.5, .eval_us = 12.5, .total_us = 20.25,
                          .request_blob = request, .request_len = request ? strlen(request) : 0, .card_uuid = uuids,
                          .card_rule = rules, .card_indicator = inds, .ncards = ncards,
                          .shadow = i == 7};
    /* decision 2's first card carries an ext map (key and explanation), its second none */
    static const unsigned char ext0[] = {0x81, 0xa3, 'k', 'e', 'y', 0xa1, 'x'};
    cds_audit_blob ext[2] = {{ext0, sizeof ext0}, {NULL, 0}};
    if (i == 2) r.card_ext = ext;
    assert_int_equal(cds_audit_write(a, &r), CDS_OK);
}

/* Entries: 1-3 decisions, 4-5 feedback, 6-8 decisions, 9 feedback. */
static void build_log(void)
{
    snprintf(dir, sizeof dir, "%s", tu_tempdir());
    snprintf(db_path, sizeof db_path, "%s/audit.db", dir);
    cds_error err;
    cds_audit *a = cds_audit_open(db_path, false, &err);
    assert_non_null(a);
    decision(a, 1, 1, "request-1");
    decision(a, 2, 2, NULL);
    decision(a, 3, 0, NULL);
    assert_int_equal(feedback_json(a, "{\"feedback\":[{\"card\":\"card-1-0\",\"outcome\":\"overridden\","
                                      "\"outcomeTimestamp\":\"2026-01-01T00:00:00Z\"},{\"card\":\"card-2-1\","
                                      "\"outcome\":\"accepted\",\"outcomeTimestamp\":\"2026-01-01T00:00:00Z\"}]}"),
                     CDS_OK);
    for (int i = 6; i <= 8; i++) decision(a, i, 1, NULL);
    assert_int_equal(feedback_json(a, "{\"feedback\":[{\"card\":\"card-6-0\",\"outcome\":\"overridden\","
                                      "\"outcomeTimestamp\":\"2026-01-02T00:00:00Z\"}]}"), CDS_OK);
    /* a repeat is stored once and makes no chain entry */
    assert_int_equal(feedback_json(a, "{\"feedback\":[{\"card\":\"card-6-0\",\"outcome\":\"overridden\","
                                      "\"outcomeTimestamp\":\"2026-01-02T00:00:00Z\"}]}"), CDS_OK);
    cds_audit_close(a);
}

static void every_edit_without_the_key_is_caught(void **s)
{
    (void)s;
    build_log();
    char anchor[320], out[1024];
    snprintf(anchor, sizeof anchor, "%s.anchor", db_path);
    assert_int_equal(verify(db_path, anchor, out, sizeof out), 0);
    assert_non_null(strstr(out, "intact: 6 decisions, 3 feedback entries (entries 1-9"));
    static const struct { const char *sql, *want; } cases[] = {
        {"UPDATE feedback SET outcome='accepted' WHERE seq=4", "entry 4 (feedback"},
        {"UPDATE feedback SET comment='' WHERE seq=5", "entry 5 (feedback"},            /* NULL -> '' */
        {"DELETE FROM feedback WHERE seq=5", "entry 5: it is missing"},
        {"DELETE FROM feedback WHERE seq=9", "anchor records entry 9"},                 /* the newest entry */
        {"DELETE FROM decision WHERE seq=8; DELETE FROM card WHERE decision=8; DELETE FROM feedback WHERE seq=9",
         "anchor records entry 9"},
        {"UPDATE card SET indicator='info' WHERE decision=2 AND ord=0", "entry 2 (decision dec-2)"},
        {"DELETE FROM card WHERE decision=2 AND ord=1", "entry 2 (decision dec-2)"},
        {"INSERT INTO card VALUES(7, 1, 'extra', 'ddi.interaction', 'info', NULL)", "entry 7 (decision dec-7)"},
        {"INSERT INTO card VALUES(4, 0, 'stray', 'ddi.interaction', 'info', NULL)", "belongs to no decision"},
        {"UPDATE card SET ext = NULL WHERE decision=2 AND ord=0", "entry 2 (decision dec-2)"},
        {"UPDATE card SET ext = x'81a36b6579a179' WHERE decision=2 AND ord=1", "entry 2 (decision dec-2)"},
        {"UPDATE card SET ext = x'81a36b6579a17a' WHERE decision=2 AND ord=0", "entry 2 (decision dec-2)"},
        {"UPDATE decision SET shadow = NULL WHERE seq=7", "entry 7 (decision dec-7)"},       /* shadow passed as live */
        {"UPDATE decision SET shadow = 1 WHERE seq=6", "entry 6 (decision dec-6)"},          /* live hidden as shadow */
        {"UPDATE decision SET total_us = total_us + 1 WHERE seq=3", "entry 3 (decision dec-3)"},
        {"UPDATE decision SET decode_us = NULL WHERE seq=3", "entry 3 (decision dec-3)"},
        {"UPDATE decision SET request = CAST('request-X' AS BLOB) WHERE seq=1", "entry 1 (decision dec-1)"},
        {"UPDATE decision SET error = '' WHERE seq=6", "entry 6 (decision dec-6)"},    /* NULL -> '' */
        {"UPDATE decision SET runs = x'010200020007' WHERE seq=6", "entry 6 (decision dec-6)"},
        {"UPDATE decision SET seq=100 WHERE seq=6; UPDATE decision SET seq=6 WHERE seq=7; UPDATE decision SET seq=7 WHERE seq=100",
         "entry 6"},
        {"UPDATE generation SET kb_digest='other'", "generation 1"},
        {"UPDATE meta SET v = zeroblob(80) WHERE k='start'", "start (or end) record"},
        {"PRAGMA user_version=0", "not an audit log"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char c[320], ca[340];
        snprintf(c, sizeof c, "%s/tampered-%zu.db", dir, i);
        snprintf(ca, sizeof ca, "%s.anchor", c);
        copy(db_path, c);
        copy(anchor, ca);
        exec(c, cases[i].sql);
        int rc = verify(c, ca, out, sizeof out);
        if (rc == 0 || !strstr(out, cases[i].want)) fail_msg("%s -> %d: %s", cases[i].sql, rc, out);
    }
    tu_rmrf(dir);
}

/* A log written before card.ext and decision.shadow existed verifies as it was, and once a
 * newer writer opened it (adding the columns), old and new entries verify as one chain. */
static void a_log_from_before_the_added_columns_verifies_and_continues(void **s)
{
    (void)s;
    build_log();
    exec(db_path, "UPDATE card SET ext = NULL; ALTER TABLE card DROP COLUMN ext; ALTER TABLE decision DROP COLUMN shadow");
    char anchor[320], out[1024];
    snprintf(anchor, sizeof anchor, "%s.anchor", db_path);
    /* the ext map of decision 2 and the shadow mark of 7 are gone, so those two no longer verify;
     * the old shape itself is read */
    int rc = verify(db_path, anchor, out, sizeof out);
    if (rc != 1 || !strstr(out, "entry 2 (decision dec-2)")) fail_msg("%d: %s", rc, out);
    tu_rmrf(dir);

    /* a log with no ext and no shadow entries, in the old shape */
    snprintf(dir, sizeof dir, "%s", tu_tempdir());
    snprintf(db_path, sizeof db_path, "%s/audit.db", dir);
    snprintf(anchor, sizeof anchor, "%s.anchor", db_path);
    cds_error err;
    cds_audit *a = cds_audit_open(db_path, false, &err);
    assert_non_null(a);
    decision(a, 1, 2, NULL);
    decision(a, 3, 1, NULL);
    cds_audit_close(a);
    exec(db_path, "ALTER TABLE card DROP COLUMN ext; ALTER TABLE decision DROP COLUMN shadow");
    rc = verify(db_path, anchor, out, sizeof out);
    if (rc != 0) fail_msg("old shape: %d: %s", rc, out);
    a = cds_audit_open(db_path, false, &err);   /* adds the columns back, empty */
    assert_non_null(a);
    decision(a, 2, 2, NULL);   /* with an ext map */
    decision(a, 7, 1, NULL);   /* a shadow decision */
    cds_audit_close(a);
    rc = verify(db_path, anchor, out, sizeof out);
    if (rc != 0 || !strstr(out, "intact: 4 decisions")) fail_msg("upgraded: %d: %s", rc, out);
    tu_rmrf(dir);
}

/* An editor without the key changes feedback and recomputes the chain from there on (with any
 * key but the installation's): the first recomputed entry is caught. */
static void a_chain_recomputed_without_the_key_is_caught(void **s)
{
    (void)s;
    build_log();
    char c[320], out[1024];
    snprintf(c, sizeof c, "%s/recomputed.db", dir);
    copy(db_path, c);
    exec(c, "UPDATE feedback SET outcome='accepted' WHERE seq=4");
    sqlite3 *db;
    assert_int_equal(sqlite3_open(c, &db), SQLITE_OK);
    unsigned char guess[32] = {0}, prev[CDS_MAC_LEN], mac[CDS_MAC_LEN];
    cds_chain_key(guess, guess);
    sqlite3_stmt *st, *cards, *upd;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT mac FROM decision WHERE seq=3", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    memcpy(prev, sqlite3_column_blob(st, 0), CDS_MAC_LEN);   /* entry 3's MAC is readable by anyone */
    sqlite3_finalize(st);
    cds_strbuf buf;
    cds_strbuf_init(&buf);
    for (int64_t seq = 4; seq <= 9; seq++) {
        bool is_f = seq == 4 || seq == 5 || seq == 9;
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT * FROM %s WHERE seq=%lld", is_f ? "feedback" : "decision", (long long)seq);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        int n = is_f ? CDS_FEEDBACK_COLS : CDS_DECISION_COLS;
        cds_audit_val v[CDS_DECISION_COLS];
        for (int i = 0; i < n; i++) v[i] = cds_audit_column(st, i);
        cds_chain_begin(&buf, prev, is_f ? 'F' : 'D');
        cds_chain_add(&buf, is_f ? 'F' : 'D', v, (size_t)n);
        snprintf(sql, sizeof sql, "SELECT * FROM card WHERE decision=%lld ORDER BY ord", (long long)seq);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &cards, NULL), SQLITE_OK);
        while (!is_f && sqlite3_step(cards) == SQLITE_ROW) {
            cds_audit_val cv[CDS_CARD_COLS];
            for (int i = 0; i < CDS_CARD_COLS; i++) cv[i] = cds_audit_column(cards, i);
            cds_chain_add(&buf, 'C', cv, CDS_CARD_COLS);
        }
        sqlite3_finalize(cards);
        assert_true(cds_chain_end(&buf, guess, mac));
        sqlite3_finalize(st);
        snprintf(sql, sizeof sql, "UPDATE %s SET mac=? WHERE seq=%lld", is_f ? "feedback" : "decision", (long long)seq);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &upd, NULL), SQLITE_OK);
        sqlite3_bind_blob(upd, 1, mac, sizeof mac, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(upd), SQLITE_DONE);
        sqlite3_finalize(upd);
        memcpy(prev, mac, sizeof mac);
    }
    cds_strbuf_free(&buf);
    sqlite3_close(db);
    /* caught under the installation's key at the first entry recomputed */
    assert_int_equal(verify(c, NULL, out, sizeof out), 1);
    assert_non_null(strstr(out, "entry 4 (feedback on card card-1-0)"));
    tu_rmrf(dir);
}

/* A log in the first layout (plain SHA-256 over 17 text columns): still verified as before, kept
 * as audit-v1.db by the server, which continues its chain under the key. */
static void first_layout_logs_still_verify_and_are_continued(void **s)
{
    (void)s;
    snprintf(dir, sizeof dir, "%s", tu_tempdir());
    snprintf(db_path, sizeof db_path, "%s/audit.db", dir);
    exec(db_path, "CREATE TABLE decision(seq INTEGER PRIMARY KEY, decision TEXT NOT NULL UNIQUE, time_ms INTEGER NOT NULL,"
                  " outcome TEXT NOT NULL, service TEXT, hook TEXT, hook_instance TEXT, caller TEXT, pack TEXT, pack_version TEXT,"
                  " pack_digest TEXT, kb_digest TEXT, rules TEXT, cards TEXT, error TEXT, request_sha256 TEXT, patient_key TEXT,"
                  " eval_us TEXT, total_us REAL, decode_us REAL, request BLOB, prev_hash TEXT NOT NULL, row_hash TEXT NOT NULL);"
                  "CREATE TABLE card(uuid TEXT NOT NULL, decision TEXT NOT NULL, rule TEXT, indicator TEXT,"
                  " PRIMARY KEY(uuid, decision)) WITHOUT ROWID;"
                  "CREATE TABLE feedback(id INTEGER PRIMARY KEY, service TEXT, card TEXT NOT NULL, outcome TEXT NOT NULL,"
                  " outcome_time TEXT NOT NULL, accepted TEXT, reason_system TEXT, reason_code TEXT, reason_display TEXT,"
                  " comment TEXT, received_ms INTEGER NOT NULL, known_card INTEGER NOT NULL);");
    char prev[65], hash[65];
    snprintf(prev, sizeof prev, "%064d", 0);
    for (int i = 1; i <= 3; i++) {   /* the first layout's rows, hashed as its writer did */
        char id[16], t[16];
        snprintf(id, sizeof id, "old-%d", i);
        snprintf(t, sizeof t, "%d", 1000 * i);
        const char *f[17] = {id, t, "ok", "medication-safety", "order-sign", "hi", "", "p", "1", "pd", "kd",
                             "[{\"rule\":\"ddi.interaction\",\"version\":\"1\",\"cards\":0,\"us\":1.0}]", "[]", "", "00", "", "1.0"};
        cds_digest *d = cds_digest_new();
        cds_digest_update(d, prev, 64);
        for (int k = 0; k < 17; k++) {
            cds_digest_update(d, "\x1f", 1);
            cds_digest_update(d, f[k], strlen(f[k]));
        }
        cds_digest_final(d, hash);
        char sql[1024];
        snprintf(sql, sizeof sql, "INSERT INTO decision VALUES(%d,'%s',%s,'ok','medication-safety','order-sign','hi','',"
                                  "'p','1','pd','kd','%s','[]','','00','','1.0',2.0,0.5,NULL,'%s','%s')",
                 i, id, t, f[11], prev, hash);
        exec(db_path, sql);
        memcpy(prev, hash, 65);
    }
    char out[1024], anchor[320];
    snprintf(anchor, sizeof anchor, "%s.anchor", db_path);
    cds_audit_span old;
    FILE *fo = fmemopen(out, sizeof out, "w");
    assert_int_equal(cds_audit_verify_file(db_path, NULL, anchor, &old, fo), 0);
    fclose(fo);
    assert_non_null(strstr(out, "intact: 3 decisions"));

    cds_error err;
    cds_audit *a = cds_audit_open(db_path, false, &err);
    assert_non_null(a);
    decision(a, 4, 1, NULL);
    cds_audit_close(a);
    char v1[320];
    snprintf(v1, sizeof v1, "%s/audit-v1.db", dir);
    assert_int_equal(access(v1, F_OK), 0);
    cds_audit_span kept, now;
    fo = fmemopen(out, sizeof out, "w");
    assert_int_equal(cds_audit_verify_file(v1, NULL, NULL, &kept, fo), 0);
    assert_int_equal(cds_audit_verify_file(db_path, NULL, anchor, &now, fo), 0);
    fclose(fo);
    /* one history: the keyed chain starts where the first layout's ended */
    assert_int_equal(now.start_seq, 4);
    assert_int_equal(kept.end_seq, 3);
    assert_memory_equal(now.start_prev, kept.end_mac, 32);
    assert_memory_equal(kept.end_mac, old.end_mac, 32);

    /* the first layout's tamper check still works */
    exec(v1, "UPDATE decision SET outcome='bad_request' WHERE seq=2");
    fo = fmemopen(out, sizeof out, "w");
    assert_int_equal(cds_audit_verify_file(v1, NULL, NULL, NULL, fo), 1);
    fclose(fo);
    assert_non_null(strstr(out, "row 2"));
    /* and a keyed log rebuilt in the first, unkeyed layout is not taken for one */
    copy(v1, db_path);
    fo = fmemopen(out, sizeof out, "w");
    assert_int_equal(cds_audit_verify_file(db_path, NULL, anchor, NULL, fo), 1);
    fclose(fo);
    assert_non_null(strstr(out, "the log was replaced"));
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_edit_without_the_key_is_caught),
        cmocka_unit_test(a_chain_recomputed_without_the_key_is_caught),
        cmocka_unit_test(a_log_from_before_the_added_columns_verifies_and_continues),
        cmocka_unit_test(first_layout_logs_still_verify_and_are_continued),
    };
    return cmocka_run_group_tests_name("audit_chain", tests, NULL, NULL);
}
