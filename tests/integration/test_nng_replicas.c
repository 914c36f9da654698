/* test_nng_replicas.c — the NNG door with replicas (issue 19): the C client (rpc/net/client.h)
 * dials three `cdsd serve` replicas; calls are spread over them; one is SIGKILLed while four
 * clients call without pause, and no call fails: a request whose connection dropped is sent
 * again on another replica (the client's retry). `cdsd call` takes several --connect URLs.
 * usage: test_nng_replicas PATH/TO/cdsd   (from the repository root) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cdsd_proc.h"
#include "client.h"
#include "json.h"
#include "loopback.h"

#define REPLICAS 3
#define CLIENTS 4
static const char *cdsd;
static char dir[64], urls[512], url[REPLICAS][64], logs[REPLICAS][128];
static pid_t replica[REPLICAS];
static char *request;

static bool healthy(const char *u)
{
    cds_client *c;
    if (cds_client_open(&c, u, 1000)) return false;
    char *reply = NULL;
    size_t n;
    bool ok = cds_client_call_json(c, "health", NULL, NULL, &reply, &n) == 0 && strstr(reply, "\"ok\": true");
    free(reply);
    cds_client_close(c);
    return ok;
}

static int setup(void **s)
{
    (void)s;
    snprintf(dir, sizeof dir, "/tmp/cdsd-replicas-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    cds_error err;
    if (!(request = cds_read_file("fixtures/requests/spec-90-composed-order-sign-ddi.json", NULL, 1u << 20, &err))) return -1;
    for (int i = 0; i < REPLICAS; i++) {
        char state[128];
        snprintf(state, sizeof state, "%s/r%d", dir, i + 1);
        snprintf(url[i], sizeof url[i], "tcp://127.0.0.1:%d", free_port());
        snprintf(logs[i], sizeof logs[i], "%s/r%d.log", dir, i + 1);
        /* a deadline far above the default 250 ms: under sanitizers or on a busy machine a 'timeout'
         * answer is not what this test is about */
        const char *args[] = {"--listen", url[i], "--state", state, "--fixtures", "none", "--workers", "2",
                              "--deadline", "5000", NULL};
        replica[i] = cdsd_spawn(cdsd, logs[i], args);
        size_t l = strlen(urls);
        snprintf(urls + l, sizeof urls - l, "%s%s", i ? "," : "", url[i]);
    }
    for (int i = 0; i < REPLICAS; i++) {
        int tries = 0;
        while (!healthy(url[i]) && ++tries < 100) usleep(100000);
        if (tries == 100) return -1;
    }
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    for (int i = 0; i < REPLICAS; i++)
        if (replica[i] > 0) cdsd_stop(replica[i], logs[i]);
    free(request);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Lines of a replica's log that record an answered call. */
static int calls_logged(int i)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "grep -c 'event=request .*op=call .*outcome=ok' '%s'", logs[i]);
    FILE *p = popen(cmd, "r");
    int n = 0;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = 0;
        pclose(p);
    }
    return n;
}

static atomic_bool stop;
static atomic_int calls, failed, after_kill;
static atomic_bool killed;

static void *client_main(void *arg)
{
    (void)arg;
    cds_client *c;
    if (cds_client_open(&c, urls, 5000)) {
        atomic_fetch_add(&failed, 1);
        return NULL;
    }
    while (!atomic_load(&stop)) {
        char *reply = NULL;
        size_t n;
        int rv = cds_client_call_json(c, "call", "medication-safety", request, &reply, &n);
        atomic_fetch_add(&calls, 1);
        if (rv || !strstr(reply, "\"ok\": true")) {
            atomic_fetch_add(&failed, 1);
            print_message("call failed: %s\n", rv ? cds_client_strerror(rv) : reply);
        } else if (atomic_load(&killed)) {
            atomic_fetch_add(&after_kill, 1);
        }
        free(reply);
    }
    cds_client_close(c);
    return NULL;
}

static void calls_are_spread_and_continue_when_a_replica_is_killed(void **s)
{
    (void)s;
    pthread_t t[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) pthread_create(&t[i], NULL, client_main, NULL);
    sleep(2);
    int before[REPLICAS];
    for (int i = 0; i < REPLICAS; i++) before[i] = calls_logged(i);
    kill(replica[0], SIGKILL);
    waitpid(replica[0], NULL, 0);
    replica[0] = -1;
    atomic_store(&killed, true);
    sleep(2);
    atomic_store(&stop, true);
    for (int i = 0; i < CLIENTS; i++) pthread_join(t[i], NULL);
    print_message("%d calls from %d clients over %d replicas (before the kill: %d / %d / %d logged), %d after "
                  "r1 was killed, %d failed\n", atomic_load(&calls), CLIENTS, REPLICAS, before[0], before[1], before[2],
                  atomic_load(&after_kill), atomic_load(&failed));
    for (int i = 0; i < REPLICAS; i++) assert_true(before[i] > 0);   /* spread over every replica */
    assert_true(atomic_load(&after_kill) > 0);
    assert_int_equal(atomic_load(&failed), 0);
    assert_true(calls_logged(1) > before[1] && calls_logged(2) > before[2]);
}

static void cdsd_call_takes_several_connect_urls(void **s)
{
    (void)s;
    char cmd[1024];
    /* r1 is dead now: the call goes to a live replica */
    snprintf(cmd, sizeof cmd, "'%s' call --connect '%s' --connect '%s,%s' health >/dev/null", cdsd, url[0], url[1], url[2]);
    assert_int_equal(system(cmd), 0);
}

int main(int argc, char **argv)
{
    if (argc < 2) return 2;
    cdsd = argv[1];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(calls_are_spread_and_continue_when_a_replica_is_killed),
        cmocka_unit_test(cdsd_call_takes_several_connect_urls),
    };
    return cmocka_run_group_tests_name("nng_replicas", tests, setup, teardown);
}
