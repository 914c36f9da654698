/* test_sd_notify.c — `cdsd serve` under a Type=notify supervisor: the test plays systemd's part
 * with a unix datagram socket of its own (NOTIFY_SOCKET), as systemd does.
 * usage: test_sd_notify PATH/TO/cdsd   (run from the repository root) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cdsd_proc.h"

static const char *cdsd;
static char dir[64], sock_path[96], listen_url[160], state[128];
static int notify_fd = -1;
static char last[1024];   /* the datagram wait_for found */

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static int setup(void **st)
{
    (void)st;
    snprintf(dir, sizeof dir, "/tmp/cdsd-notify-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(sock_path, sizeof sock_path, "%s/notify", dir);
    snprintf(listen_url, sizeof listen_url, "ipc://%s/cdsd.sock", dir);
    snprintf(state, sizeof state, "%s/var", dir);
    notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
    if (notify_fd < 0 || bind(notify_fd, (struct sockaddr *)&sa, sizeof sa) != 0) return -1;
    setenv("NOTIFY_SOCKET", sock_path, 1);   /* inherited by the servers started below */
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    close(notify_fd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) {}
    return 0;
}

/* Waits up to timeout_ms for a datagram holding the line `want` (e.g. "READY=1"); every other
 * datagram's WATCHDOG=1 is counted in *pings when given. True when it arrived. */
static bool wait_for(const char *want, int timeout_ms, int *pings)
{
    long end = now_ms() + timeout_ms;
    for (long left; (left = end - now_ms()) > 0;) {
        struct pollfd p = {.fd = notify_fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0) continue;
        char buf[1024];
        ssize_t n = recv(notify_fd, buf, sizeof buf - 1, 0);
        if (n <= 0) continue;
        buf[n] = '\0';
        memcpy(last, buf, (size_t)n + 1);
        bool found = false;
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
            if (want && strcmp(line, want) == 0) found = true;
            if (pings && strcmp(line, "WATCHDOG=1") == 0) (*pings)++;
        }
        if (found) return true;
    }
    return false;
}

static pid_t start(const char *rules)
{
    const char *args[] = {"--listen", listen_url, "--state", state, "--rules", rules, "--fixtures", "none",
                          "--workers", "1", "--log-level", "warn", NULL};
    return cdsd_spawn(cdsd, NULL, args);
}

static int health(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' call --connect '%s' --timeout 2000 health >/dev/null 2>&1", cdsd, listen_url);
    return system(cmd);
}

static void ready_after_load_then_watchdog_reload_and_stopping(void **st)
{
    (void)st;
    setenv("WATCHDOG_USEC", "400000", 1);   /* WatchdogSec=0.4: a ping every 200 ms */
    pid_t pid = start("rules");
    unsetenv("WATCHDOG_USEC");
    assert_true(wait_for("READY=1", 60000, NULL));
    /* READY=1 means the rules are loaded and the socket listens: a call answers at once. */
    assert_int_equal(health(), 0);
    int pings = 0;
    wait_for(NULL, 3000, &pings);
    /* ~15 expected in 3 s; at least 3 leaves a 5x margin for a busy machine. */
    assert_true(pings >= 3);
    kill(pid, SIGHUP);
    /* The reload runs on the main loop: the watchdog is widened for it, then set back. */
    assert_true(wait_for("RELOADING=1", 30000, NULL));
    assert_non_null(strstr(last, "WATCHDOG_USEC=300000000"));
    assert_true(wait_for("READY=1", 60000, NULL));
    assert_non_null(strstr(last, "WATCHDOG_USEC=400000"));
    kill(pid, SIGTERM);
    assert_true(wait_for("STOPPING=1", 30000, NULL));
    assert_int_equal(cdsd_stop(pid, NULL), 0);
}

static void no_watchdog_pings_without_a_watchdog(void **st)
{
    (void)st;
    pid_t pid = start("rules");
    assert_true(wait_for("READY=1", 60000, NULL));
    int pings = 0;
    wait_for(NULL, 2500, &pings);
    assert_int_equal(pings, 0);
    assert_int_equal(cdsd_stop(pid, NULL), 0);
}

static void no_ready_when_the_rules_do_not_load(void **st)
{
    (void)st;
    char missing[160];
    snprintf(missing, sizeof missing, "%s/no-such-rules", dir);
    pid_t pid = start(missing);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    assert_false(wait_for("READY=1", 500, NULL));
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_sd_notify PATH/TO/cdsd\n");
        return 2;
    }
    cdsd = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ready_after_load_then_watchdog_reload_and_stopping),
        cmocka_unit_test(no_watchdog_pings_without_a_watchdog),
        cmocka_unit_test(no_ready_when_the_rules_do_not_load),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
