/* testutil.h — small helpers for tests that need files on disk (header-only). */
#ifndef CDS_TESTUTIL_H
#define CDS_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Creates a fresh temporary directory; returns a static path. */
static inline const char *tu_tempdir(void)
{
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/cdsd-test-XXXXXX");
    if (!mkdtemp(dir)) abort();
    return dir;
}

/* Writes text to dir/rel, creating parent directories. */
static inline void tu_write(const char *dir, const char *rel, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    for (char *p = path + strlen(dir) + 1; *p; p++)
        if (*p == '/') { *p = '\0'; mkdir(path, 0755); *p = '/'; }
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
}

static inline void tu_rmrf(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {}
}

#endif
