/* test_prefetch_fetch.c — prefetch the client did not send (CDS Hooks §2), against a stub FHIR server
 * this test runs on loopback: absent keys are fetched with the client's bearer token, searchset
 * pages are followed, OperationOutcomes are kept (for a required key: a "did not run" warning card,
 * or 412 from the strict service), next links outside fhirServer and slow servers are refused in
 * time, and without FHIR access a missing required key is a "did not run" card by default and
 * 412 (HTTP) / prefetch_missing (NNG) from the strict service. The token never reaches the log
 * or the audit log. Calls waiting on a slow FHIR server hold no evaluation worker, and at most
 * --fetch-max-calls are fetched for at once.   usage: test_prefetch_fetch PATH/TO/cdsd   (from the repository root) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cdsd_http.h"
#include "cdsd_proc.h"
#include "loopback.h"

static const char *cdsd;
static char dir[64], base[64], fhir[64], log_path[128], nng_url[128];
static int fhir_port;
static pid_t server;
static struct MHD_Daemon *stub;
static const char *TOKEN = "tok-Zq7-fetch-secret";
/* what a 412 says of a fetch the FHIR server failed (rpc/net/prefetch_fetch.c) */
#define UNTOLD "the FHIR server did not provide it (the service's log has the reason)"

/* What the stub saw. */
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static int seen_requests, seen_without_token, seen_page2;
static int slow_now, slow_most;   /* slow searches the stub is answering at once, and the most at once */
/* While the gate is shut, slow searches are held until a test opens it (or 60 s pass), so a test
 * can count them at the stub however slow the machine is; while open, they take 2 s. */
static pthread_cond_t slow_cv = PTHREAD_COND_INITIALIZER;
static bool slow_gate_shut;
static char seen_paths[4096];

/* ---- the stub FHIR server ---- */

static const char *MED = "{\"resource\":{\"resourceType\":\"MedicationRequest\",\"id\":\"%s\",\"status\":\"active\","
                         "\"intent\":\"order\",\"medicationCodeableConcept\":{\"text\":\"%s\"}}}";

static char *searchset(const char *entries, const char *next)
{
    char *out = malloc(8192);
    snprintf(out, 8192, "{\"resourceType\":\"Bundle\",\"type\":\"searchset\",\"link\":[{\"relation\":\"self\",\"url\":\"x\"}%s%s%s],"
             "\"entry\":[%s]}", next ? ",{\"relation\":\"next\",\"url\":\"" : "", next ? next : "", next ? "\"}" : "",
             entries ? entries : "");
    return out;
}

static char *outcome(const char *code)
{
    char *out = malloc(512);
    snprintf(out, 512, "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\",\"code\":\"%s\","
             "\"diagnostics\":\"stub says no\"}]}", code);
    return out;
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, char *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/fhir+json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result stub_handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                   const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)cls, (void)method, (void)version, (void)upload, (void)upload_size, (void)con_cls;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *patient = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "patient");
    const char *page = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "page");
    char want[128];
    snprintf(want, sizeof want, "Bearer %s", TOKEN);
    pthread_mutex_lock(&seen_mu);
    seen_requests++;
    if (!auth || strcmp(auth, want)) seen_without_token++;
    if (page && !strcmp(page, "2")) seen_page2++;
    size_t l = strlen(seen_paths);
    snprintf(seen_paths + l, sizeof seen_paths - l, "%s?patient=%s ", url, patient ? patient : "-");
    pthread_mutex_unlock(&seen_mu);
    if (!patient) patient = "";
    char e[1024], next[256];
    if (!strncmp(url, "/fhir/Patient/", 14)) {
        char *b = malloc(256);
        snprintf(b, 256, "{\"resourceType\":\"Patient\",\"id\":\"%s\",\"birthDate\":\"1950-01-01\"}", url + 14);
        return answer(c, 200, b);
    }
    if (!strcmp(url, "/fhir/MedicationRequest")) {
        if (!strcmp(patient, "slow")) {
            pthread_mutex_lock(&seen_mu);
            if (++slow_now > slow_most) slow_most = slow_now;
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += slow_gate_shut ? 60 : 2;
            int r = 0;
            if (slow_gate_shut)
                while (slow_gate_shut && r == 0) r = pthread_cond_timedwait(&slow_cv, &seen_mu, &until);
            else
                while (r == 0) r = pthread_cond_timedwait(&slow_cv, &seen_mu, &until);   /* 2 s */
            slow_now--;
            pthread_mutex_unlock(&seen_mu);
        }
        if (!strcmp(patient, "1288992") && page && !strcmp(page, "2")) {
            snprintf(e, sizeof e, MED, "rx-2", "Aspirin 81 mg tablet");
            return answer(c, 200, searchset(e, NULL));
        }
        if (!strncmp(patient, "dots", 4)) {   /* next links that leave fhirServer's path by dot segments */
            static const char *const ways[] = {"/../redir/p2", "/%2e%2e/redir/p2", "/./%2E%2e/redir/p2", "/..%2fredir/p2",
                                               "/MedicationRequest/%2e%2e/%2E%2E/redir/p2"};
            int i = atoi(patient + 4);
            snprintf(e, sizeof e, MED, "rx-1", "Warfarin 5 mg tablet");
            snprintf(next, sizeof next, "%s%s?patient=%s", fhir, ways[i % 5], patient);
            return answer(c, 200, searchset(e, next));
        }
        if (!strcmp(patient, "1288992") || !strcmp(patient, "evil")) {
            snprintf(e, sizeof e, MED, "rx-1", "Warfarin 5 mg tablet");
            if (!strcmp(patient, "evil"))   /* another origin: the token must not follow it */
                snprintf(next, sizeof next, "http://127.0.0.2:%d/fhir/MedicationRequest?patient=evil&page=2", fhir_port);
            else
                snprintf(next, sizeof next, "%s/MedicationRequest?patient=1288992&status=active&page=2", fhir);
            return answer(c, 200, searchset(e, next));
        }
        return answer(c, 200, searchset(NULL, NULL));
    }
    if (!strcmp(url, "/fhir/AllergyIntolerance")) {
        if (!strcmp(patient, "oo")) return answer(c, 403, outcome("forbidden"));
        if (!strcmp(patient, "1288992"))
            return answer(c, 200, searchset("{\"resource\":{\"resourceType\":\"AllergyIntolerance\",\"id\":\"a1\","
                                             "\"clinicalStatus\":{\"coding\":[{\"code\":\"active\"}]},\"code\":{\"coding\":"
                                             "[{\"system\":\"http://snomed.info/sct\",\"code\":\"373270004\"}],"
                                             "\"text\":\"Penicillin class\"},\"criticality\":\"high\"}}", NULL));
        return answer(c, 200, searchset(NULL, NULL));
    }
    if (!strcmp(url, "/fhir/Condition")) return answer(c, 500, outcome("exception"));   /* optional key fails */
    return answer(c, 200, searchset(NULL, NULL));
}

/* ---- the client side ---- */

typedef struct reply { char *body; size_t len; } reply;

static size_t collect(char *p, size_t s, size_t n, void *u)
{
    reply *r = u;
    r->body = realloc(r->body, r->len + s * n + 1);
    memcpy(r->body + r->len, p, s * n);
    r->len += s * n;
    r->body[r->len] = '\0';
    return s * n;
}

/* POSTs a request to the service of the server at `at` (NULL: the suite's own); returns the
 * status, body in *out (caller frees). A GET when json is NULL (service is then the path). */
static long post_at(const char *at, const char *service, const char *json, char **out)
{
    char url[256];
    if (json) snprintf(url, sizeof url, "%s/cds-services/%s", at ? at : base, service);
    else snprintf(url, sizeof url, "%s/%s", at ? at : base, service);
    CURL *h = curl_easy_init();
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    reply r = {calloc(1, 1), 0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    if (json) curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");   /* a proxy in the environment must not change the test */
    long status = -1;
    if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    *out = r.body;
    return status;
}

static long post(const char *service, const char *json, char **out) { return post_at(NULL, service, json, out); }

static cJSON *load(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    return j;
}

/* A request pointed at the stub with the test's token (and patient id). */
static char *with_fhir_access(cJSON *req, const char *patient)
{
    cJSON_DeleteItemFromObject(req, "fhirServer");
    cJSON_DeleteItemFromObject(req, "fhirAuthorization");
    cJSON_AddStringToObject(req, "fhirServer", fhir);
    cJSON *a = cJSON_AddObjectToObject(req, "fhirAuthorization");
    cJSON_AddStringToObject(a, "access_token", TOKEN);
    cJSON_AddStringToObject(a, "token_type", "Bearer");
    cJSON_AddNumberToObject(a, "expires_in", 300);
    cJSON_AddStringToObject(a, "scope", "patient/*.read");
    cJSON_AddStringToObject(a, "subject", "cdsd");
    if (patient) cJSON_ReplaceItemInObject(cJSON_GetObjectItemCaseSensitive(req, "context"), "patientId", cJSON_CreateString(patient));
    char *s = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    return s;
}

static void reset_seen(void)
{
    pthread_mutex_lock(&seen_mu);
    seen_requests = seen_without_token = seen_page2 = 0;
    seen_paths[0] = '\0';
    pthread_mutex_unlock(&seen_mu);
}

static int setup(void **s)
{
    (void)s;
    snprintf(dir, sizeof dir, "/tmp/cdsd-pf-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fhir_port = free_port();
    snprintf(fhir, sizeof fhir, "http://127.0.0.1:%d/fhir", fhir_port);
    stub = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, (uint16_t)fhir_port, NULL,
                            NULL, stub_handle, NULL, MHD_OPTION_END);
    if (!stub) return -1;
    int port = free_port();
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    snprintf(log_path, sizeof log_path, "%s/server.log", dir);
    snprintf(nng_url, sizeof nng_url, "ipc://%s/cdsd.sock", dir);
    char http[64], state[128];
    snprintf(http, sizeof http, "127.0.0.1:%d", port);
    snprintf(state, sizeof state, "%s/var", dir);
    const char *args[] = {"--listen", nng_url, "--state", state, "--fixtures", "none", "--http", http, "--deadline", "3000",
                          "--fetch-timeout", "600", "--fetch-pages", "3", "--log-level", "debug", NULL};
    server = cdsd_spawn(cdsd, log_path, args);
    return cdsd_http_wait(base) ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    cdsd_stop(server, log_path);
    MHD_stop_daemon(stub);
    curl_global_cleanup();
    bool clean = cdsd_log_clean(log_path);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (clean && system(cmd) != 0) return -1;
    return clean ? 0 : -1;
}

/* ---- the tests ---- */

/* Without FHIR access the strict service (missing_prefetch = "reject") answers 412 naming the
 * keys; the default services answer 200 with a warning card per required list, giving the
 * reason, and stay silent for an order with no medication (issue 21, point 1). */
static void spec_examples_without_fhir_access_are_412_naming_the_keys(void **s)
{
    (void)s;
    static const struct { const char *file, *service, *why; long status; } ex[] = {
        {"fixtures/requests/spec-03-request-order-sign-paginated-prefetch.json", "medication-safety-strict", "send it, or fhirServer", 412},
        {"fixtures/requests/spec-03-request-order-sign-paginated-prefetch.json", "medication-safety", "did not send the allergy list", 200},
        /* 02 has a token, but its fhirServer is plain http to another host: the token stays home */
        {"fixtures/requests/spec-02-request-patient-view.json", "medication-review", "must use https", 200},
        {"fixtures/requests/spec-04-request-order-select-radiology.json", "medication-safety-select", "{\"cards\":[]}", 200},
    };
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        cJSON *req = load(ex[i].file);
        char *json = cJSON_PrintUnformatted(req), *body;
        cJSON_Delete(req);
        long st = post(ex[i].service, json, &body);
        if (st != ex[i].status) fail_msg("%s %s: status %ld: %s", ex[i].file, ex[i].service, st, body);
        if (st == 412 && (!strstr(body, "\"resourceType\":\"OperationOutcome\"") ||
            !strstr(body, "\"code\":\"processing\"") || !strstr(body, "\"expression\":[\"request.prefetch.allergies\"]") ||
            !strstr(body, "'medications'")))
            fail_msg("%s: %s", ex[i].file, body);
        if (st == 200 && i < 3 && !strstr(body, "\"summary\":\"Allergy screening did not run: the allergy list could not be retrieved\","
                                               "\"indicator\":\"warning\""))
            fail_msg("%s: %s", ex[i].file, body);
        if (!strstr(body, ex[i].why)) fail_msg("%s: %s", ex[i].file, body);
        free(json);
        free(body);
    }
}

static void absent_prefetch_is_fetched_with_the_token_and_pages_are_followed(void **s)
{
    (void)s;
    reset_seen();
    /* the spec's patient-view example, given a FHIR server it can reach: medications come in two
     * pages (warfarin, then aspirin), so the interaction card proves page 2 was read */
    char *json = with_fhir_access(load("fixtures/requests/spec-02-request-patient-view.json"), NULL), *body;
    long st = post("medication-review", json, &body);
    if (st != 200) fail_msg("status %ld: %s", st, body);
    assert_non_null(strstr(body, "warfarin"));
    assert_non_null(strstr(body, "aspirin"));
    assert_int_equal(seen_page2, 1);
    assert_int_equal(seen_without_token, 0);
    assert_non_null(strstr(seen_paths, "/fhir/AllergyIntolerance?patient=1288992"));
    /* the example's own key is patientToGreet, not ours: our 'patient' key is fetched as well */
    assert_non_null(strstr(seen_paths, "/fhir/Patient/1288992"));
    free(json);
    free(body);
}

static void fetched_allergies_reach_the_allergy_rules(void **s)
{
    (void)s;
    reset_seen();
    /* order-sign example 03: draft amoxicillin; the stub's allergy list has a penicillin allergy */
    char *json = with_fhir_access(load("fixtures/requests/spec-03-request-order-sign-paginated-prefetch.json"), NULL), *body;
    long st = post("medication-safety", json, &body);
    if (st != 200) fail_msg("status %ld: %s", st, body);
    assert_non_null(strstr(body, "\"indicator\":\"critical\""));
    assert_non_null(strstr(body, "enicillin"));
    /* the optional Condition search failed with an OperationOutcome: the call still answers, and
     * says on a card that a list could not be retrieved */
    assert_non_null(strstr(seen_paths, "/fhir/Condition?patient=1288992"));
    assert_non_null(strstr(body, "Patient data not retrieved"));
    assert_int_equal(seen_without_token, 0);
    free(json);
    free(body);
}

static void a_required_key_the_server_refuses_is_412(void **s)
{
    (void)s;
    char *json = with_fhir_access(load("fixtures/requests/spec-03-request-order-sign-paginated-prefetch.json"), "oo"), *body;
    long st = post("medication-safety-strict", json, &body);
    if (st != 412) fail_msg("status %ld: %s", st, body);
    /* what the server did is in the log only (issue 22 item 13) */
    assert_non_null(strstr(body, "'allergies' (" UNTOLD ")"));
    assert_null(strstr(body, "403"));
    char cmd[512];
    snprintf(cmd, sizeof cmd, "grep -q \"prefetch 'allergies' (required) not fetched: the FHIR server answered HTTP 403\" '%s'",
             log_path);
    assert_int_equal(system(cmd), 0);
    assert_non_null(strstr(body, "\"expression\":[\"request.prefetch.allergies\"]"));
    free(body);
    /* the default service: 200, the allergy screening said not to have run, with the server's reason */
    st = post("medication-safety", json, &body);
    if (st != 200) fail_msg("status %ld: %s", st, body);
    assert_non_null(strstr(body, "Allergy screening did not run"));
    assert_non_null(strstr(body, "The request for the allergy list failed"));
    assert_non_null(strstr(body, "Reason given: "));
    /* said once, on its own card: the could-not-screen card counts only the optional Condition
     * search the stub always fails */
    assert_non_null(strstr(body, "Patient data not retrieved:** 1 of the requested lists"));
    free(json);
    free(body);
}

/* Plain http is for loopback only, judged by address: a host name that starts with "127." can
 * resolve anywhere, so the token is not sent to it. */
static void a_name_that_looks_like_loopback_gets_no_token_over_http(void **s)
{
    (void)s;
    reset_seen();
    char *ours = with_fhir_access(load("fixtures/requests/spec-03-request-order-sign-paginated-prefetch.json"), NULL);
    cJSON *req = cJSON_Parse(ours);
    free(ours);
    cJSON_ReplaceItemInObject(req, "fhirServer", cJSON_CreateString("http://127.0.0.1.example.org/fhir"));
    char *json = cJSON_PrintUnformatted(req), *body;
    cJSON_Delete(req);
    long st = post("medication-safety-strict", json, &body);
    if (st != 412) fail_msg("status %ld: %s", st, body);
    assert_non_null(strstr(body, "must use https"));
    assert_int_equal(seen_paths[0], '\0');
    free(json);
    free(body);
}

static void a_next_link_to_another_host_is_not_followed(void **s)
{
    (void)s;
    reset_seen();
    char *json = with_fhir_access(load("fixtures/requests/spec-03-request-order-sign-paginated-prefetch.json"), "evil"), *body;
    long st = post("medication-safety-strict", json, &body);
    if (st != 412) fail_msg("status %ld: %s", st, body);
    assert_non_null(strstr(body, "'medications' (" UNTOLD ")"));
    char cmd[512];
    snprintf(cmd, sizeof cmd, "grep -q 'next link points outside fhirServer' '%s'", log_path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(seen_page2, 0);
    free(json);
    free(body);
}

static void a_slow_fhir_server_is_cut_off_inside_the_deadline(void **s)
{
    (void)s;
    char *json = with_fhir_access(load("fixtures/requests/spec-03-request-order-sign-paginated-prefetch.json"), "slow"), *body;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long st = post("medication-safety-strict", json, &body);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (st != 412) fail_msg("status %ld: %s", st, body);
    assert_non_null(strstr(body, UNTOLD));
    char cmd[512];
    snprintf(cmd, sizeof cmd, "grep -q \"prefetch 'medications' (required) not fetched: the FHIR server did not answer in time\" '%s'",
             log_path);
    assert_int_equal(system(cmd), 0);
    /* the log has the timeout's own message: that is what is asserted; the time is printed only
     * (a busy CI machine must not turn a working cut-off into a failure) */
    print_message("slow FHIR server: 412 after %.0f ms (fetch timeout 600 ms, stub sleeps 2000 ms)\n", ms);
    free(json);
    free(body);
}

static void pages_the_client_sent_are_continued(void **s)
{
    (void)s;
    reset_seen();
    /* the client sent page 1 of medications (warfarin) with a next link; page 2 has aspirin */
    cJSON *req = load("fixtures/requests/spec-02-request-patient-view.json");
    cJSON *pre = cJSON_GetObjectItemCaseSensitive(req, "prefetch");
    char page1[1024], next[256];
    snprintf(page1, sizeof page1, MED, "rx-1", "Warfarin 5 mg tablet");
    snprintf(next, sizeof next, "%s/MedicationRequest?patient=1288992&status=active&page=2", fhir);
    char *b = searchset(page1, next);
    cJSON_AddItemToObject(pre, "medications", cJSON_Parse(b));
    cJSON_AddItemToObject(pre, "allergies", cJSON_CreateNull());
    free(b);
    char *json = with_fhir_access(req, NULL), *body;
    long st = post("medication-review", json, &body);
    if (st != 200) fail_msg("status %ld: %s", st, body);
    assert_non_null(strstr(body, "aspirin"));
    assert_int_equal(seen_page2, 1);
    assert_null(strstr(seen_paths, "/fhir/AllergyIntolerance"));   /* null = the client has no data: not fetched */
    free(json);
    free(body);
}

static void the_nng_side_answers_prefetch_missing_and_the_token_stays_out_of_logs(void **s)
{
    (void)s;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' call --connect '%s' call medication-safety-strict "
             "fixtures/requests/spec-03-request-order-sign-paginated-prefetch.json > '%s/nng.out' 2>&1", cdsd, nng_url, dir);
    assert_int_not_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "grep -q prefetch_missing '%s/nng.out'", dir);
    assert_int_equal(system(cmd), 0);
    /* the token was sent to the stub many times above; it is in no file the service wrote */
    snprintf(cmd, sizeof cmd, "grep -rqa '%s' '%s/var' '%s'", TOKEN, dir, log_path);
    assert_int_not_equal(system(cmd), 0);
    /* every request line carries the same fields: service, hook and status (issue 21, point 10) */
    snprintf(cmd, sizeof cmd, "grep -q 'op=call service=medication-safety-strict hook=order-sign status=412 "
             "outcome=prefetch_missing' '%s'", log_path);
    assert_int_equal(system(cmd), 0);
    /* and a call answered with a did-not-run card is logged with the keys */
    snprintf(cmd, sizeof cmd, "grep -q 'event=prefetch_unavailable .*service=medication-safety hook=order-sign status=200 outcome=ok decision=.* "
             "msg=.required list(s) allergies could not be had' '%s'", log_path);
    assert_int_equal(system(cmd), 0);
    /* fetch failures are logged by key and reason (the Condition search failed with HTTP 500) */
    snprintf(cmd, sizeof cmd, "grep -q \"prefetch 'conditions' (optional) not fetched: the FHIR server answered HTTP 500\" '%s'",
             log_path);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "grep -q 'patient=1288992' '%s'", log_path);   /* no URLs (they carry patient ids) */
    assert_int_not_equal(system(cmd), 0);
}


/* A request with fhirServer set to server (and the stub's token). */
static char *pointed_at(const char *server_url, const char *patient)
{
    char *ours = with_fhir_access(load("fixtures/requests/spec-03-request-order-sign-paginated-prefetch.json"), patient);
    cJSON *req = cJSON_Parse(ours);
    free(ours);
    cJSON_ReplaceItemInObject(req, "fhirServer", cJSON_CreateString(server_url));
    char *json = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    return json;
}

/* Issue 22 item 13: over the unauthenticated NNG door the 412 text told "couldn't connect" from
 * "answered HTTP 404" from a TLS failure: a port scanner. Every such failure now reads the same
 * (the key and a generic reason); the log keeps the detail. */
static void fetch_failures_read_the_same_whatever_the_server_did(void **s)
{
    (void)s;
    char closed[96], tls[96];
    snprintf(closed, sizeof closed, "http://127.0.0.1:%d/fhir", free_port());
    snprintf(tls, sizeof tls, "https://127.0.0.1:%d/fhir", fhir_port);   /* TLS to a plain HTTP server */
    struct { const char *server, *patient, *detail; } cases[] = {
        {closed, NULL, "Couldn't connect to server"},
        {fhir, "oo", "the FHIR server answered HTTP 403"},
        /* the handshake fails, or (a slow build) the stub waits for a request line until the timeout */
        {tls, NULL, "\\(SSL\\|did not answer in time\\)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *json = pointed_at(cases[i].server, cases[i].patient), *body;
        long st = post("medication-safety-strict", json, &body);
        free(json);
        if (st != 412) fail_msg("%s: status %ld: %s", cases[i].server, st, body);
        if (!strstr(body, "'allergies' (" UNTOLD ")") || strstr(body, "onnect") || strstr(body, "403") ||
            strstr(body, "SSL") || strstr(body, "TLS") || strstr(body, "answered"))
            fail_msg("%s: the reply tells what the server did: %s", cases[i].server, body);
        free(body);
        char cmd[512];
        snprintf(cmd, sizeof cmd, "grep -q \"prefetch 'allergies' (required) not fetched: .*%s\" '%s'", cases[i].detail, log_path);
        if (system(cmd) != 0) fail_msg("the log lacks '%s'", cases[i].detail);
    }
}

/* Issue 22 item 13: ".../fhir/../redir/p2" passed the prefix check and was fetched (with the
 * token). Next links are normalised (dot segments, %2e) before the check; an encoded slash in
 * the path is refused. */
static void next_links_with_dot_segments_stay_under_fhir_server(void **s)
{
    (void)s;
    for (int i = 0; i < 5; i++) {
        reset_seen();
        char patient[16];
        snprintf(patient, sizeof patient, "dots%d", i);
        char *json = pointed_at(fhir, patient), *body;
        long st = post("medication-safety-strict", json, &body);
        free(json);
        pthread_mutex_lock(&seen_mu);
        bool left = strstr(seen_paths, "redir") != NULL;
        pthread_mutex_unlock(&seen_mu);
        if (left) fail_msg("way %d: fetched %s", i, seen_paths);
        if (st != 412) fail_msg("way %d: status %ld: %s", i, st, body);
        free(body);
    }
}

/* ---- slow FHIR servers and the workers (issue 20) ---- */

/* A second server, `cdsd serve ARGS` on its own port, for tests that need their own limits. */
typedef struct server2 { pid_t pid; char base[64], log[160]; } server2;

static void server2_start(server2 *v, const char *name, const char *const *extra)
{
    int port = free_port();
    snprintf(v->base, sizeof v->base, "http://127.0.0.1:%d", port);
    snprintf(v->log, sizeof v->log, "%s/%s.log", dir, name);
    char http[64], state[128], listen[128];
    snprintf(http, sizeof http, "127.0.0.1:%d", port);
    snprintf(state, sizeof state, "%s/var-%s", dir, name);
    snprintf(listen, sizeof listen, "ipc://%s/%s.sock", dir, name);
    const char *args[40] = {"--listen", listen, "--state", state, "--fixtures", "none", "--http", http, "--log-level", "debug"};
    int n = 10;
    for (; *extra && n < 38; extra++) args[n++] = *extra;
    args[n] = NULL;
    v->pid = cdsd_spawn(cdsd, v->log, args);
    if (!cdsd_http_wait(v->base)) fail_msg("%s did not start (see %s)", name, v->log);
}

static void server2_stop(server2 *v)
{
    cdsd_stop(v->pid, v->log);
    if (!cdsd_log_clean(v->log)) fail_msg("%s: the log has errors", v->log);
}

typedef struct slow_call {
    const char *at, *service;
    char *json, *body;
    long status;
    atomic_int *answered;     /* calls of this batch answered so far */
} slow_call;

static void *slow_call_main(void *arg)
{
    slow_call *c = arg;
    c->status = post_at(c->at, c->service, c->json, &c->body);
    atomic_fetch_add(c->answered, 1);
    return NULL;
}

/* n calls of `service` whose medications must be fetched from the stub, which holds each search
 * until slow_gate_open() (the stub's slow_now and slow_most start again from 0). */
static void slow_calls_start(slow_call *cs, pthread_t *ts, int n, const char *at, const char *service, atomic_int *answered)
{
    pthread_mutex_lock(&seen_mu);
    slow_now = slow_most = 0;
    slow_gate_shut = true;
    pthread_mutex_unlock(&seen_mu);
    for (int i = 0; i < n; i++) {
        cs[i] = (slow_call){.at = at, .service = service, .json = pointed_at(fhir, "slow"), .answered = answered};
        assert_int_equal(pthread_create(&ts[i], NULL, slow_call_main, &cs[i]), 0);
    }
}

static void slow_gate_open(void)
{
    pthread_mutex_lock(&seen_mu);
    slow_gate_shut = false;
    pthread_cond_broadcast(&slow_cv);
    pthread_mutex_unlock(&seen_mu);
}

/* Waits (up to 60 s) until n calls of a batch are answered. */
static bool answered_reach(atomic_int *answered, int n)
{
    for (int i = 0; i < 6000 && atomic_load(answered) < n; i++) usleep(10000);
    return atomic_load(answered) >= n;
}

/* Waits (up to 60 s) until the stub answers at least n slow searches at once. The stub holds each
 * for up to 60 s, the servers these tests start wait 40 s for a fetch and 45 s for a call, and the
 * client 60 s: under ASan beside other suites on a busy CI machine, sixteen calls once took more
 * than 20 s to all reach the stub. */
static bool stub_busy_with(int n)
{
    for (int i = 0; i < 6000; i++) {
        pthread_mutex_lock(&seen_mu);
        bool yes = slow_now >= n;
        pthread_mutex_unlock(&seen_mu);
        if (yes) return true;
        usleep(10000);
    }
    return false;
}

/* With two workers and sixteen calls waiting on a FHIR server that answers after 2 s, a call that
 * brought its prefetch is answered before any of them: the waiting calls are parked on the fetch
 * thread, not on the workers (before, it queued behind them for seconds, or timed out). And the
 * sixteen are fetched at once, by the one fetch thread. */
static void a_call_with_its_prefetch_is_not_held_up_by_slow_fetches(void **s)
{
    (void)s;
    server2 v;
    const char *extra[] = {"--workers", "2", "--deadline", "45000", "--fetch-timeout", "40000", NULL};
    server2_start(&v, "two-workers", extra);
    enum { N = 16 };
    slow_call cs[N];
    pthread_t ts[N];
    atomic_int answered = 0;
    slow_calls_start(cs, ts, N, v.base, "medication-safety", &answered);
    /* all sixteen are held at the stub at once: more than the two workers, so the waits are
     * parked on the fetch thread */
    assert_true(stub_busy_with(N));
    /* amoxicillin for a patient with a penicillin allergy, every list sent: a critical card */
    cJSON *req = load("fixtures/requests/allergy-penicillin-patient.json");
    cJSON *draft = cJSON_Parse("{\"resource\":{\"resourceType\":\"MedicationRequest\",\"id\":\"draft-1\",\"status\":\"draft\","
                               "\"intent\":\"order\",\"medicationCodeableConcept\":{\"text\":\"amoxicillin 500 MG Oral Capsule\","
                               "\"coding\":[{\"system\":\"http://www.nlm.nih.gov/research/umls/rxnorm\",\"code\":\"308191\"}]}}}");
    cJSON *drafts = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(req, "context"), "draftOrders");
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(drafts, "entry"), draft);
    char *json = cJSON_PrintUnformatted(req), *body;
    cJSON_Delete(req);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long st = post_at(v.base, "medication-safety", json, &body);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int slow_done = atomic_load(&answered);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    print_message("a call with its prefetch: HTTP %ld after %.0f ms, %d of %d slow calls answered by then\n", st, ms,
                  slow_done, N);
    if (st != 200 || !strstr(body, "\"indicator\":\"critical\"")) fail_msg("status %ld: %s", st, body);
    free(body);
    free(json);
    /* the slow calls are held at the stub until the gate opens: a call answered in the meantime
     * was not queued behind them */
    assert_int_equal(slow_done, 0);
    slow_gate_open();
    for (int i = 0; i < N; i++) {
        pthread_join(ts[i], NULL);
        if (cs[i].status != 200 || !strstr(cs[i].body, "\"cards\":[")) fail_msg("slow call %d: %ld: %s", i, cs[i].status, cs[i].body);
        free(cs[i].json);
        free(cs[i].body);
    }
    pthread_mutex_lock(&seen_mu);
    int most = slow_most;
    pthread_mutex_unlock(&seen_mu);
    print_message("the stub answered up to %d slow searches at once\n", most);
    assert_int_equal(most, N);
    server2_stop(&v);
}

/* --fetch-max-calls: calls beyond it are not fetched for: answered at once as when the prefetch
 * cannot be had (412 from the strict service, naming the reason), and counted in /metrics. */
static void calls_beyond_fetch_max_calls_are_answered_without_fetching(void **s)
{
    (void)s;
    server2 v;
    const char *extra[] = {"--workers", "2", "--deadline", "45000", "--fetch-timeout", "40000", "--fetch-max-calls", "4", NULL};
    server2_start(&v, "max-calls", extra);
    enum { N = 8 };
    slow_call cs[N];
    pthread_t ts[N];
    atomic_int answered = 0;
    slow_calls_start(cs, ts, N, v.base, "medication-safety-strict", &answered);
    /* four are held at the stub; the four over the bound are answered without waiting for them */
    assert_true(stub_busy_with(4));
    assert_true(answered_reach(&answered, N - 4));
    slow_gate_open();
    int refused = 0, fetched = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(ts[i], NULL);
        if (cs[i].status == 412 && strstr(cs[i].body, "already fetching for 4 calls (--fetch-max-calls)")) refused++;
        else if (cs[i].status == 200) fetched++;
        else fail_msg("call %d: %ld: %s", i, cs[i].status, cs[i].body);
        free(cs[i].json);
        free(cs[i].body);
    }
    /* four are fetched, four are over the bound */
    assert_int_equal(refused, 4);
    assert_int_equal(fetched, 4);
    pthread_mutex_lock(&seen_mu);
    int most = slow_most;
    pthread_mutex_unlock(&seen_mu);
    assert_true(most <= 4);
    char *metrics;
    assert_int_equal(post_at(v.base, "metrics", NULL, &metrics), 200);
    if (!strstr(metrics, "\ncdsd_prefetch_fetch_refused_total 4\n") || !strstr(metrics, "\ncdsd_prefetch_fetches_inflight 0\n"))
        fail_msg("metrics: %s", metrics);
    free(metrics);
    server2_stop(&v);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_prefetch_fetch PATH/TO/cdsd\n");
        return 2;
    }
    cdsd = argv[1];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spec_examples_without_fhir_access_are_412_naming_the_keys),
        cmocka_unit_test(absent_prefetch_is_fetched_with_the_token_and_pages_are_followed),
        cmocka_unit_test(fetched_allergies_reach_the_allergy_rules),
        cmocka_unit_test(a_required_key_the_server_refuses_is_412),
        cmocka_unit_test(a_name_that_looks_like_loopback_gets_no_token_over_http),
        cmocka_unit_test(a_next_link_to_another_host_is_not_followed),
        cmocka_unit_test(a_slow_fhir_server_is_cut_off_inside_the_deadline),
        cmocka_unit_test(pages_the_client_sent_are_continued),
        cmocka_unit_test(fetch_failures_read_the_same_whatever_the_server_did),
        cmocka_unit_test(next_links_with_dot_segments_stay_under_fhir_server),
        cmocka_unit_test(the_nng_side_answers_prefetch_missing_and_the_token_stays_out_of_logs),
        cmocka_unit_test(a_call_with_its_prefetch_is_not_held_up_by_slow_fetches),
        cmocka_unit_test(calls_beyond_fetch_max_calls_are_answered_without_fetching),
    };
    return cmocka_run_group_tests_name("prefetch", tests, setup, teardown);
}
