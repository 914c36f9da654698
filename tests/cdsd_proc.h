/* cdsd_proc.h — starting and stopping `cdsd serve` from integration tests (header-only). */
#ifndef CDS_TEST_CDSD_PROC_H
#define CDS_TEST_CDSD_PROC_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs `cdsd serve ARGS...` (args NULL-terminated); with log, its stderr goes to that file.
 * The server dies with the test, so a failed test never leaves one holding ctest's pipe. */
static inline pid_t cdsd_spawn(const char *cdsd, const char *log, const char *const *args)
{
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (log && !freopen(log, "w", stderr)) _exit(126);
        setenv("ASAN_OPTIONS", "quarantine_size_mb=4", 0);
        unsetenv("LSAN_OPTIONS");   /* the test's suppressions are for its own NNG clients, never the server */
        const char *argv[48] = {cdsd, "serve"};
        int n = 2;
        for (; args && *args && n < 46; args++) argv[n++] = *args;
        argv[n] = NULL;
        execv(cdsd, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* SIGTERM and wait; with CDSD_KEEP_LOG set, the server's log is copied to stderr. Returns the
 * exit status (128 + signal when killed). A server still running 30 s after SIGTERM is a bug:
 * its threads' stacks go to stderr (gdb, when installed) and it is killed, so the suite reports
 * where it hung instead of hanging. */
/* A number field of /proc/PID/status ("VmRSS:" in kB, "Threads:"), or -1. */
static inline long cdsd_status_field(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0) {
            v = strtol(line + n, NULL, 10);
            break;
        }
    if (f) fclose(f);
    return v;
}

static inline int cdsd_stop(pid_t pid, const char *log)
{
    kill(pid, SIGTERM);
    int st = 0;
    pid_t got = 0;
    for (int i = 0; i < 300 && (got = waitpid(pid, &st, WNOHANG)) == 0; i++) usleep(100000);
    if (got == 0) {
        fprintf(stderr, "cdsd_stop: pid %d still running 30 s after SIGTERM; its threads:\n", (int)pid);
        char cmd[160];
        snprintf(cmd, sizeof cmd, "timeout 60 gdb -p %d -batch -ex 'thread apply all bt 20' >&2 2>/dev/null", (int)pid);
        if (system(cmd)) {}
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    if (log && getenv("CDSD_KEEP_LOG")) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "cat '%s' >&2", log);
        if (system(cmd)) {}
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#endif
