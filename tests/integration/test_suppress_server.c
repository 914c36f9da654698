/* test_suppress_server.c — repeat suppression through the real server (issue 18 part 1): a card
 * overridden through the feedback op is demoted on the next call for the same patient and not
 * for another; that survives a restart and a SIGKILL right after the feedback reply; a rule
 * shown once per encounter; a critical card is never suppressed; the audit row's card ext
 * records why. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <msgpack.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cdsd_proc.h"
#include "json.h"
#include "loopback.h"
#include "mp.h"
#include "unit/testutil.h"

static const char *cdsd;
static char url[64], dir[64], rules[128], state[128];
static pid_t server;

static const char *MANIFEST =
    "ruleset { name = 'sup', version = '1', source = 'cdsd tests', services = {\n"
    "  { id = 'svc', hook = 'patient-view', title = 'S', description = 'suppression', rules = { 's.*' } } } }\n";
static const char *RULES =
    "rule { id = 's.ddi', version = '1', title = 'Pair', hooks = { 'patient-view' },\n"
    "  suppress = { after_override = '90d', scope = 'patient', action = 'demote' },\n"
    "  evaluate = function(ctx) return card { key = 'a:b', indicator = 'warning', summary = 'pair warning' } end }\n"
    "rule { id = 's.crit', version = '1', title = 'Critical', hooks = { 'patient-view' },\n"
    "  suppress = { after_override = '90d' },\n"
    "  evaluate = function(ctx) return card { key = 'c', indicator = 'critical', summary = 'critical pair' } end }\n"
    "rule { id = 's.enc', version = '1', title = 'Once', hooks = { 'patient-view' }, once_per = 'encounter',\n"
    "  evaluate = function(ctx) return card { key = 'e', indicator = 'warning', summary = 'once per encounter' } end }\n";

static nng_socket req_socket(int timeout_ms)
{
    nng_socket s;
    nng_req0_open(&s);
    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout_ms);
    nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, timeout_ms);
    nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK);
    return s;
}

/* One request/reply; the reply (decoded into u) keeps *buf alive until freed with nng_free. */
static int roundtrip(const char *op, const char *json, msgpack_unpacked *u, char **buf, size_t *n)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, json ? 3 : 1);
    cds_mp_pack_str(&pk, "op");
    cds_mp_pack_str(&pk, op);
    if (json) {
        cds_mp_pack_str(&pk, "service");
        cds_mp_pack_str(&pk, "svc");
        cds_mp_pack_str(&pk, "request");
        cds_error err;
        assert_int_equal(cds_json_to_mp(json, strlen(json), "req", &sb, &err), CDS_OK);
    }
    nng_socket s = req_socket(10000);
    int rv = nng_send(s, sb.data, sb.size, 0);
    if (!rv) rv = nng_recv(s, buf, n, NNG_FLAG_ALLOC);
    nng_close(s);
    msgpack_sbuffer_destroy(&sb);
    if (rv) return rv;
    msgpack_unpacked_init(u);
    size_t off = 0;
    return msgpack_unpack_next(u, *buf, *n, &off) == MSGPACK_UNPACK_SUCCESS ? 0 : -1;
}

static void start(void)
{
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", free_port());
    const char *args[] = {"--listen", url, "--log-level", "warn", "--rules", rules, "--state", state,
                          "--workers", "2", "--fixtures", "none", "--deadline", "20000", NULL};
    server = cdsd_spawn(cdsd, NULL, args);
    for (int i = 0; i < 200; i++) {
        msgpack_unpacked u;
        char *buf;
        size_t n;
        if (roundtrip("health", NULL, &u, &buf, &n) == 0) {
            msgpack_unpacked_destroy(&u);
            nng_free(buf, n);
            return;
        }
        usleep(100000);
    }
    fail_msg("the server did not come up on %s", url);
}

/* What a call answered: each card's summary -> indicator, its uuid and suppression reason. */
typedef struct shown { char indicator[3][16], uuid[3][40], reason[3][200]; } shown;
static const char *const SUMMARIES[3] = {"pair warning", "critical pair", "once per encounter"};

static void call(const char *patient, const char *encounter, int instance, shown *out)
{
    char req[600];
    snprintf(req, sizeof req,
             "{\"hook\":\"patient-view\",\"hookInstance\":\"hi-%d\",\"context\":{\"userId\":\"Practitioner/1\","
             "\"patientId\":\"%s\",\"encounterId\":\"%s\"}}", instance, patient, encounter);
    msgpack_unpacked u;
    char *buf;
    size_t n;
    assert_int_equal(roundtrip("call", req, &u, &buf, &n), 0);
    memset(out, 0, sizeof *out);
    const msgpack_object *cards = cds_mp_get(cds_mp_get(&u.data, "result"), "cards");
    assert_non_null(cards);
    assert_int_equal(cards->via.array.size, 3);
    for (uint32_t i = 0; i < 3; i++) {
        const msgpack_object *c = &cards->via.array.ptr[i];
        for (int k = 0; k < 3; k++) {
            if (!cds_mp_str_eq(cds_mp_get(c, "summary"), SUMMARIES[k])) continue;
            const msgpack_object *ind = cds_mp_get(c, "indicator"), *id = cds_mp_get(c, "uuid");
            snprintf(out->indicator[k], sizeof out->indicator[k], "%.*s", (int)ind->via.str.size, ind->via.str.ptr);
            snprintf(out->uuid[k], sizeof out->uuid[k], "%.*s", (int)id->via.str.size, id->via.str.ptr);
            const msgpack_object *why =
                cds_mp_get(cds_mp_get(cds_mp_get(c, "extension"), "org.cdsd.suppression"), "reason");
            if (why) snprintf(out->reason[k], sizeof out->reason[k], "%.*s", (int)why->via.str.size, why->via.str.ptr);
        }
    }
    msgpack_unpacked_destroy(&u);
    nng_free(buf, n);
}

static void override(const char *card)
{
    char req[300];
    snprintf(req, sizeof req,
             "{\"feedback\":[{\"card\":\"%s\",\"outcome\":\"overridden\",\"outcomeTimestamp\":\"2026-12-01T10:00:00Z\","
             "\"overrideReason\":{\"reason\":{\"code\":\"will-monitor\",\"system\":\"x\"}}}]}", card);
    msgpack_unpacked u;
    char *buf;
    size_t n;
    assert_int_equal(roundtrip("feedback", req, &u, &buf, &n), 0);
    const msgpack_object *ok = cds_mp_get(&u.data, "ok");
    assert_true(ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean);
    msgpack_unpacked_destroy(&u);
    nng_free(buf, n);
}

static int setup(void **s)
{
    (void)s;
    snprintf(dir, sizeof dir, "/tmp/cdsd-sup-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(rules, sizeof rules, "%s/rules", dir);
    snprintf(state, sizeof state, "%s/var", dir);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    if (server) cdsd_stop(server, NULL);
    tu_rmrf(dir);
    return 0;
}

static void overridden_alerts_are_demoted_for_that_patient_across_restart_and_sigkill(void **st)
{
    (void)st;
    tu_write(dir, "rules/manifest.lua", MANIFEST);
    tu_write(dir, "rules/s/pack.lua", "pack { name = 's', version = '1' }\n");
    tu_write(dir, "rules/s/knowledge/ingredients.tsv", "rxcui\tname\n11289\twarfarin\n");
    tu_write(dir, "rules/s/rules.lua", RULES);
    start();

    shown a;
    call("pat-1", "enc-1", 1, &a);
    assert_string_equal(a.indicator[0], "warning");
    assert_string_equal(a.indicator[1], "critical");
    assert_string_equal(a.indicator[2], "warning");
    override(a.uuid[0]);   /* the pair warning */
    override(a.uuid[1]);   /* and the critical card */
    /* the store is private, like the audit log */
    char db[300];
    snprintf(db, sizeof db, "%s/suppress.db", state);
    struct stat sb;
    assert_int_equal(stat(db, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    shown b;
    call("pat-1", "enc-2", 2, &b);
    assert_string_equal(b.indicator[0], "info");   /* demoted */
    char want[200];
    snprintf(want, sizeof want, "(card %s), within 90d", a.uuid[0]);
    if (!strstr(b.reason[0], want) || strncmp(b.reason[0], "overridden 20", 13)) fail_msg("reason: '%s'", b.reason[0]);
    assert_string_equal(b.indicator[1], "critical");   /* never suppressed: the rule does not say critical = "also" */
    assert_string_equal(b.reason[1], "");
    assert_string_equal(b.indicator[2], "warning");   /* a new encounter */
    shown other;
    call("pat-2", "enc-1", 3, &other);   /* another patient: as the rule made it */
    assert_string_equal(other.indicator[0], "warning");
    assert_string_equal(other.reason[0], "");

    /* once per encounter: the first call of enc-2, retried, is not its own repeat; a second
     * call in that encounter is */
    shown retry;
    call("pat-1", "enc-2", 2, &retry);
    assert_string_equal(retry.indicator[2], "warning");
    shown c;
    call("pat-1", "enc-2", 4, &c);
    assert_string_equal(c.indicator[2], "info");
    assert_string_equal(c.reason[2], "already shown in this encounter");

    /* a restart */
    assert_int_equal(cdsd_stop(server, NULL), 0);
    server = 0;
    start();
    shown d;
    call("pat-1", "enc-3", 5, &d);
    assert_string_equal(d.indicator[0], "info");

    /* SIGKILL right after a feedback reply: pat-2's override is kept */
    override(other.uuid[0]);
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
    server = 0;
    start();
    shown e;
    call("pat-2", "enc-9", 6, &e);
    assert_string_equal(e.indicator[0], "info");
    assert_int_equal(cdsd_stop(server, NULL), 0);
    server = 0;

    /* the audit row of the demoted card says why, in its ext */
    char adb[300];
    snprintf(adb, sizeof adb, "%s/audit.db", state);
    sqlite3 *h;
    assert_int_equal(sqlite3_open_v2(adb, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT indicator, ext FROM card WHERE uuid = ?1 ORDER BY decision LIMIT 1", -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(q, 1, b.uuid[0], -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "info");
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&u, sqlite3_column_blob(q, 1), (size_t)sqlite3_column_bytes(q, 1), &off),
                     MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *why = cds_mp_get(&u.data, "suppressed");
    assert_true(cds_mp_is_str(why));
    assert_true(why->via.str.size == strlen(b.reason[0]) && !memcmp(why->via.str.ptr, b.reason[0], why->via.str.size));
    msgpack_unpacked_destroy(&u);
    sqlite3_finalize(q);
    sqlite3_close(h);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_suppress_server PATH/TO/cdsd\n");
        return 2;
    }
    cdsd = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(overridden_alerts_are_demoted_for_that_patient_across_restart_and_sigkill, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("suppress_server", tests, NULL, NULL);
}
