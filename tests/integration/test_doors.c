/* test_doors.c — the two doors give the same answers: every request fixture (each fixture's
 * service and request under fixtures/, and every request in fixtures/requests sent to the
 * service of its hook) is called over NNG and over HTTP on one server, and the replies (cards,
 * or the error code, message and path) and the audit rows (everything but the caller, the
 * request's hash - the envelopes differ - and the rules' run times) must be the same.
 *   usage: test_doors PATH/TO/cdsd   (from the repository root) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <dirent.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit_runs.h"
#include "cdsd_http.h"
#include "cdsd_proc.h"
#include "client.h"
#include "loopback.h"

static const char *cdsd;
static char dir[64], base[64], log_path[128], nng_url[128], state[128];
static pid_t server;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (b) b[n] = '\0';
    fclose(f);
    return b;
}

/* One call to make through both doors. */
typedef struct call {
    char name[160];           /* the fixture or request file, for messages */
    char service[64];
    char *request;            /* JSON text */
} call;

static call calls[512];
static size_t ncalls;

static void add_call(const char *name, const char *service, char *request)
{
    assert_true(ncalls < sizeof calls / sizeof calls[0]);
    call *c = &calls[ncalls++];
    snprintf(c->name, sizeof c->name, "%.150s", name);
    snprintf(c->service, sizeof c->service, "%s", service);
    c->request = request;
}

/* The service of each hook, as the shipped rule set names them. */
static const char *service_of_hook(const char *hook)
{
    if (!strcmp(hook, "order-sign")) return "medication-safety";
    if (!strcmp(hook, "order-select")) return "medication-safety-select";
    if (!strcmp(hook, "patient-view")) return "medication-review";
    return "medication-safety";   /* another hook: the mismatch must read the same too */
}

/* Every fixture file under d (recursively), except the request files themselves. */
static void collect_fixtures(const char *d)
{
    DIR *dd = opendir(d);
    assert_non_null(dd);
    struct dirent *e;
    while ((e = readdir(dd))) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", d, e->d_name);
        if (e->d_type == DT_DIR) {
            if (strcmp(path, "fixtures/requests")) collect_fixtures(path);
            continue;
        }
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 5, ".json")) continue;
        char *text = slurp(path);
        cJSON *fx = cJSON_Parse(text);
        free(text);
        assert_non_null(fx);
        const char *service = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(fx, "service"));
        const char *file = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(fx, "request_file"));
        cJSON *inline_request = cJSON_GetObjectItemCaseSensitive(fx, "request");
        char *request = NULL;
        if (file) {
            char rel[1024];
            snprintf(rel, sizeof rel, "%s/%s", d, file);
            request = slurp(rel);
        } else if (inline_request) {
            request = cJSON_PrintUnformatted(inline_request);
        }
        if (service && request) add_call(path, service, request);
        else free(request);
        cJSON_Delete(fx);
    }
    closedir(dd);
}

static void collect_requests(void)
{
    DIR *dd = opendir("fixtures/requests");
    assert_non_null(dd);
    struct dirent *e;
    while ((e = readdir(dd))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 5, ".json")) continue;
        char path[512];
        snprintf(path, sizeof path, "fixtures/requests/%s", e->d_name);
        char *text = slurp(path);
        cJSON *rq = cJSON_Parse(text);
        assert_non_null(rq);
        const char *hook = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rq, "hook"));
        add_call(path, service_of_hook(hook ? hook : ""), text);
        cJSON_Delete(rq);
    }
    closedir(dd);
}

static size_t gather(void *p, size_t sz, size_t n, void *ud)
{
    char **buf = ud;
    size_t have = *buf ? strlen(*buf) : 0, add = sz * n;
    char *b = realloc(*buf, have + add + 1);
    if (!b) return 0;
    memcpy(b + have, p, add);
    b[have + add] = '\0';
    *buf = b;
    return add;
}

/* POSTs the request; returns the status, the body in *body. */
static long http_call(const call *c, char **body)
{
    char url[256];
    snprintf(url, sizeof url, "%s/cds-services/%s", base, c->service);
    *body = NULL;
    CURL *h = curl_easy_init();
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->request);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, gather);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return status;
}

/* What the gateway answers for an error code (rpc/service/protocol.c). */
static long status_of(const char *code)
{
    static const struct { const char *code; long status; } map[] = {
        {"bad_request", 400}, {"unknown_op", 400}, {"unknown_service", 404}, {"hook_mismatch", 400},
        {"too_large", 413}, {"prefetch_missing", 412}, {"overloaded", 503}, {"timeout", 503}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(map[i].code, code)) return map[i].status;
    return 500;
}

static int setup(void **s)
{
    (void)s;
    snprintf(dir, sizeof dir, "/tmp/cdsd-doors-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int port = free_port();
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    snprintf(log_path, sizeof log_path, "%s/server.log", dir);
    snprintf(nng_url, sizeof nng_url, "ipc://%s/cdsd.sock", dir);
    snprintf(state, sizeof state, "%s/var", dir);
    char http[64];
    snprintf(http, sizeof http, "127.0.0.1:%d", port);
    const char *args[] = {"--listen", nng_url, "--state", state, "--fixtures", "none", "--http", http, "--deadline", "5000",
                          "--log-level", "error", NULL};
    server = cdsd_spawn(cdsd, log_path, args);
    return cdsd_http_wait(base) ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    if (server > 0) cdsd_stop(server, log_path);
    curl_global_cleanup();
    for (size_t i = 0; i < ncalls; i++) free(calls[i].request);
    bool clean = cdsd_log_clean(log_path);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (clean && system(cmd) != 0) return -1;
    return clean ? 0 : -1;
}

/* The reply of each door to the same call: 200 with the same CDS Hooks response, or the status
 * of the NNG error code with its message and path in the OperationOutcome. */
static void compare_replies(const call *c, const char *nng_json, long status, const char *http_body)
{
    cJSON *n = cJSON_Parse(nng_json), *h = cJSON_Parse(http_body ? http_body : "");
    assert_non_null(n);
    if (!h) fail_msg("%s: the HTTP body is not JSON (status %ld)", c->name, status);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(n, "ok"))) {
        if (status != 200) fail_msg("%s: NNG ok, HTTP %ld", c->name, status);
        if (!cJSON_Compare(cJSON_GetObjectItemCaseSensitive(n, "result"), h, true))
            fail_msg("%s: the cards differ\nNNG  %s\nHTTP %s", c->name, nng_json, http_body);
    } else {
        cJSON *e = cJSON_GetObjectItemCaseSensitive(n, "error");
        const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "code"));
        const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "message"));
        const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "path"));
        assert_non_null(code);
        if (status != status_of(code)) fail_msg("%s: NNG %s, HTTP %ld", c->name, code, status);
        cJSON *issue = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(h, "issue"), 0);
        const char *diag = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(issue, "diagnostics"));
        const char *expr = cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(issue, "expression"), 0));
        if (!diag || !msg || strcmp(diag, msg)) fail_msg("%s: NNG says '%s', HTTP '%s'", c->name, msg, diag);
        if ((path && *path) != (expr != NULL) || (expr && strcmp(expr, path)))
            fail_msg("%s: NNG path '%s', HTTP '%s'", c->name, path ? path : "", expr ? expr : "");
    }
    cJSON_Delete(n);
    cJSON_Delete(h);
}

/* The rules a decision ran (its runs blob read against its generation's rule list): rule,
 * version, cards and error of each, without its run time. */
static char *runs_untimed(const void *blob, int len, const char *gen_rules)
{
    cds_audit_gen gen = {0};
    cds_strbuf b;
    cds_strbuf_init(&b);
    if (!cds_audit_gen_parse(gen_rules ? gen_rules : "[]", &gen)) cds_strbuf_puts(&b, "(no generation)");
    cds_audit_runs_iter it = {.p = blob, .end = (const unsigned char *)blob + (len > 0 ? len : 0), .gen = &gen};
    cds_audit_run r;
    int rc;
    while ((rc = cds_audit_runs_next(&it, &r)) == 1)
        cds_strbuf_printf(&b, "%.*s %.*s cards=%ld %.*s;", (int)r.rule_len, r.rule, (int)r.version_len,
                          r.version ? r.version : "", r.cards, (int)(r.error ? r.error_len : 0), r.error ? r.error : "");
    if (rc < 0) cds_strbuf_puts(&b, "(malformed runs)");
    cds_audit_gen_free(&gen);
    char *out = strdup(b.data ? b.data : "");
    cds_strbuf_free(&b);
    return out;
}

/* The columns (and joined rows: generation, cards) that must match; the runs and caller after. */
static const char *const SAME[] = {"outcome", "service", "hook", "hook_instance", "pack", "pack_version", "pack_digest",
                                   "kb_digest", "cards", "error", "patient_key"};
#define NSAME (sizeof SAME / sizeof SAME[0])

/* Rows 2i (NNG) and 2i+1 (HTTP) are the same call's (the calls are made in turn, and one that
 * reaches evaluation is audited through either door): the same in every column of SAME and the
 * rules that ran, and each names its own caller. */
static void compare_audit_rows(void)
{
    sqlite3 *db;
    char path[256];
    snprintf(path, sizeof path, "%s/audit.db", state);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT d.outcome, d.service, d.hook, d.hook_instance, g.pack, g.pack_version, "
                                        "g.pack_digest, g.kb_digest, (SELECT group_concat(uuid || ' ' || ifnull(rule, '') "
                                        "|| ' ' || ifnull(indicator, ''), ';') FROM (SELECT * FROM card c WHERE "
                                        "c.decision = d.seq ORDER BY ord)), d.error, hex(d.patient_key), d.runs, g.rules, "
                                        "d.caller FROM decision d LEFT JOIN generation g ON g.id = d.gen ORDER BY d.seq",
                                        -1, &st, NULL),
                     SQLITE_OK);
    char *prev[NSAME + 2] = {0};
    size_t rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char *cur[NSAME + 2];
        for (size_t k = 0; k < NSAME; k++) {
            const char *v = (const char *)sqlite3_column_text(st, (int)k);
            cur[k] = strdup(v ? v : "(null)");
        }
        cur[NSAME] = runs_untimed(sqlite3_column_blob(st, (int)NSAME), sqlite3_column_bytes(st, (int)NSAME),
                                  (const char *)sqlite3_column_text(st, (int)NSAME + 1));
        const char *caller = (const char *)sqlite3_column_text(st, (int)NSAME + 2);
        cur[NSAME + 1] = strdup(caller ? caller : "");
        if (rows % 2 == 0) {
            if (strcmp(cur[NSAME + 1], "ipc")) fail_msg("row %zu (%s): NNG row's caller is '%s'", rows, cur[3], cur[NSAME + 1]);
            memcpy(prev, cur, sizeof cur);
        } else {
            if (strncmp(cur[NSAME + 1], "http 127.0.0.1:", 15))
                fail_msg("row %zu (%s): HTTP row's caller is '%s'", rows, cur[3], cur[NSAME + 1]);
            for (size_t k = 0; k < NSAME + 1; k++)
                if (strcmp(prev[k], cur[k]))
                    fail_msg("rows %zu/%zu (%s): audit column %s differs\nNNG  %s\nHTTP %s", rows - 1, rows, cur[3],
                             k < NSAME ? SAME[k] : "runs", prev[k], cur[k]);
            for (size_t k = 0; k < NSAME + 2; k++) {
                free(prev[k]);
                free(cur[k]);
            }
        }
        rows++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_int_equal(rows % 2, 0);
    assert_true(rows > 0);
    print_message("%zu audit rows compared in pairs\n", rows);
}

static void every_fixture_gets_the_same_reply_and_audit_row_through_both_doors(void **s)
{
    (void)s;
    collect_fixtures("fixtures");
    collect_requests();
    assert_true(ncalls > 100);
    cds_client *cl;
    assert_int_equal(cds_client_open(&cl, nng_url, 10000), 0);
    for (size_t i = 0; i < ncalls; i++) {
        const call *c = &calls[i];
        char *nng_json = NULL, *http_body = NULL;
        size_t n;
        assert_int_equal(cds_client_call_json(cl, "call", c->service, c->request, &nng_json, &n), 0);
        long status = http_call(c, &http_body);
        compare_replies(c, nng_json, status, http_body);
        free(nng_json);
        free(http_body);
    }
    cds_client_close(cl);
    print_message("%zu calls through both doors\n", ncalls);
    /* the rows are committed before each reply; stopping flushes the rest */
    assert_int_equal(cdsd_stop(server, log_path), 0);
    server = 0;
    compare_audit_rows();
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH/TO/cdsd\n", argv[0]);
        return 2;
    }
    cdsd = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_fixture_gets_the_same_reply_and_audit_row_through_both_doors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
