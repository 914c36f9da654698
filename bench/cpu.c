/* cpu.c — per-role CPU time of the server's threads, from /proc/PID/task/TID/stat. */
#include "cpu.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* utime + stime of one thread, in seconds, and its name (comm). */
static bool thread_cpu(const char *path, char *comm, size_t commlen, double *seconds)
{
    char buf[1024];
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *open = strchr(buf, '('), *close = strrchr(buf, ')');   /* comm may hold spaces */
    if (!open || !close || close < open) return false;
    snprintf(comm, commlen, "%.*s", (int)(close - open - 1), open + 1);
    unsigned long ut = 0, st = 0;
    /* after ") ": state(3) ... utime is field 14, stime 15 */
    if (sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return false;
    *seconds = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    return true;
}

bool cpu_sample(pid_t server, cpu_use *out)
{
    memset(out, 0, sizeof *out);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        out->client = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                      ru.ru_stime.tv_usec / 1e6;
    if (server <= 0) return true;
    /* the process's total counts threads that have ended too (an HTTP connection's thread ends
     * when its client closes): "other" is what the named threads do not account for */
    char dir[64], comm[64];
    double total = 0;
    snprintf(dir, sizeof dir, "/proc/%d/stat", (int)server);
    if (!thread_cpu(dir, comm, sizeof comm, &total)) return false;
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)server);
    DIR *d = opendir(dir);
    if (!d) return false;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[128];
        double s;
        if (strlen(e->d_name) > 32) continue;   /* thread ids are short */
        snprintf(path, sizeof path, "%s/%.32s/stat", dir, e->d_name);
        if (!thread_cpu(path, comm, sizeof comm, &s)) continue;
        if (!strncmp(comm, "cdsd-worker", 11)) out->worker += s;
        else if (!strncmp(comm, "cdsd-audit", 10) || !strncmp(comm, "cdsd-checkpoint", 15)) out->audit += s;
        else if (!strncmp(comm, "nng:", 4)) out->nng += s;
    }
    closedir(d);
    out->other = total - out->worker - out->audit - out->nng;
    return true;
}

cpu_use cpu_per_request(const cpu_use *a, const cpu_use *b, size_t n)
{
    double k = n ? 1e6 / (double)n : 0;
    return (cpu_use){(b->worker - a->worker) * k, (b->audit - a->audit) * k, (b->nng - a->nng) * k,
                     (b->other - a->other) * k, (b->client - a->client) * k};
}
