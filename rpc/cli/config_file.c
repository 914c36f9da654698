/* config_file.c — the `key = value` reader behind `cdsd serve --config` (see config_file.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_file.h"

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = '\0';
    return s;
}

static int add(cds_config_file *f, const char *key, const char *value, int line)
{
    cds_config_entry *e = realloc(f->entries, (f->n + 1) * sizeof *e);
    if (!e) return 0;
    f->entries = e;
    e[f->n] = (cds_config_entry){strdup(key), strdup(value), line};
    if (!e[f->n].key || !e[f->n].value) {
        free(e[f->n].key);
        free(e[f->n].value);
        return 0;
    }
    f->n++;
    return 1;
}

/* One line, modified in place: 1 with *key (NULL for a blank or comment line) and *value, or 0
 * with the reason in err. */
static int parse_line(char *s, char **key, char **value, char *err, size_t errlen)
{
    *key = *value = NULL;
    s = trim(s);
    if (*s == '\0' || *s == '#') return 1;
    char *eq = strchr(s, '=');
    char *v = "";
    if (eq) {
        *eq = '\0';
        v = trim(eq + 1);
    }
    char *k = trim(s);
    if (*k == '\0') return snprintf(err, errlen, "a value without a key (expected 'key = value')"), 0;
    for (const char *p = k; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '-')
            return snprintf(err, errlen, "'%s' is not a key (expected 'key = value'; keys are lower-case words "
                                         "joined by '-')", k), 0;
    if (*v == '"') {
        char *close = strchr(v + 1, '"');
        if (!close) return snprintf(err, errlen, "%s: the value's closing '\"' is missing", k), 0;
        char *rest = trim(close + 1);
        if (*rest && *rest != '#') return snprintf(err, errlen, "%s: text after the quoted value", k), 0;
        *close = '\0';
        v++;
    } else {
        for (char *p = v; *p; p++)
            if (*p == '#' && (p == v || p[-1] == ' ' || p[-1] == '\t')) {
                *p = '\0';
                v = trim(v);
                break;
            }
    }
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\t')
            return snprintf(err, errlen, "%s: a control character in the value", k), 0;
    *key = k;
    *value = v;
    return 1;
}

int cds_config_file_read(const char *path, cds_config_file *out, char *err, size_t errlen)
{
    *out = (cds_config_file){0};
    FILE *fp = fopen(path, "r");
    if (!fp) return snprintf(err, errlen, "%s: %s", path, strerror(errno)), 0;
    out->path = strdup(path);
    char *buf = NULL;
    size_t cap = 0;
    int line = 0, ok = out->path != NULL;
    if (!ok) snprintf(err, errlen, "%s: out of memory", path);
    while (ok && getline(&buf, &cap, fp) != -1) {
        line++;
        char *key, *value, why[300];
        if (!parse_line(buf, &key, &value, why, sizeof why)) {
            snprintf(err, errlen, "%s:%d: %s", path, line, why);
            ok = 0;
        } else if (key && !add(out, key, value, line)) {
            snprintf(err, errlen, "%s:%d: out of memory", path, line);
            ok = 0;
        }
    }
    if (ok && ferror(fp)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        ok = 0;
    }
    free(buf);
    fclose(fp);
    if (!ok) cds_config_file_free(out);
    return ok;
}

void cds_config_file_free(cds_config_file *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->entries[i].key);
        free(f->entries[i].value);
    }
    free(f->entries);
    free(f->path);
    *f = (cds_config_file){0};
}
