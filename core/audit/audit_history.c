/* audit_history.c — listing a state directory's audit files in history order (audit_history.h). */
#include "audit_history.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool add(cds_audit_history *h, const char *a, const char *b)
{
    char **p = realloc(h->files, (h->n + 1) * sizeof *p);
    if (!p) return false;
    h->files = p;
    size_t n = strlen(a) + strlen(b) + 2;
    if (!(h->files[h->n] = malloc(n))) return false;
    snprintf(h->files[h->n++], n, "%s/%s", a, b);
    return true;
}

static int by_name(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

bool cds_audit_history_list(const char *state, const char *archive_dir, cds_audit_history *h)
{
    memset(h, 0, sizeof *h);
    char dir[1100], v1[1100];
    if (archive_dir) snprintf(dir, sizeof dir, "%s", archive_dir);
    else snprintf(dir, sizeof dir, "%s/%s", state, CDS_AUDIT_ARCHIVE_DIR);
    snprintf(v1, sizeof v1, "%s/audit-v1.db", state);
    bool ok = access(v1, F_OK) != 0 || add(h, state, "audit-v1.db");
    size_t first = h->n;
    DIR *d = opendir(dir);
    for (struct dirent *e; ok && d && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (!strncmp(e->d_name, "audit-", 6) && n > 6 + 6 && !strcmp(e->d_name + n - 6, ".db.gz")) ok = add(h, dir, e->d_name);
    }
    if (d) closedir(d);
    if (ok && h->n > first) qsort(h->files + first, h->n - first, sizeof *h->files, by_name);   /* no archives: files may be NULL */
    h->live = h->n;
    ok = ok && add(h, state, "audit.db");
    if (!ok) cds_audit_history_free(h);
    return ok;
}

void cds_audit_history_free(cds_audit_history *h)
{
    for (size_t i = 0; i < h->n; i++) free(h->files[i]);
    free(h->files);
    memset(h, 0, sizeof *h);
}
