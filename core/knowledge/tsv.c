/* tsv.c — in-place tab-separated reader, with checks that every column and value is one the import reads. */
#include "tsv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "utf8.h"

/* Splits the next non-comment line into fields; returns false at EOF. */
static bool next_line(cds_tsv *t, char **fields, int *n)
{
    while (t->pos < t->len) {
        char *s = t->buf + t->pos;
        char *nl = memchr(s, '\n', t->len - t->pos);
        size_t l = nl ? (size_t)(nl - s) : t->len - t->pos;
        t->pos += l + (nl ? 1 : 0);
        t->line++;
        s[l] = '\0';
        if (l && s[l - 1] == '\r') s[--l] = '\0';
        if (l == 0 || s[0] == '#') continue;
        int k = 0;
        fields[k++] = s;
        for (char *p = s; *p; p++) {
            if (*p == '\t') {
                *p = '\0';
                if (k < CDS_TSV_MAX_COLS) fields[k++] = p + 1;
            }
        }
        *n = k;
        return true;
    }
    return false;
}

/* A NUL byte would end the field it is in for every reader after this one (strcmp, the
 * SQLite import): "clear indication\0 -- AND NEVER IN PREGNANCY" lost its tail. Refused with
 * path:line:column (columns in characters, as for malformed UTF-8). */
static cds_rc refuse_nul(const char *path, const char *text, size_t n, cds_error *err)
{
    const char *nul = memchr(text, '\0', n);
    if (!nul) return CDS_OK;
    int line = 1, col = 1;
    for (const char *p = text; p < nul; p++) {
        if (*p == '\n') { line++; col = 1; }
        else if (((unsigned char)*p & 0xc0) != 0x80) col++;
    }
    return cds_error_set(err, CDS_ELOAD, NULL, "%s:%d:%d: a NUL byte (a field would be cut there); remove it", path,
                         line, col);
}

cds_rc cds_tsv_check_text(const char *path, const char *text, size_t n, cds_error *err)
{
    if (cds_utf8_check_text(path, text, n, err) != CDS_OK) return CDS_ELOAD;
    return refuse_nul(path, text, n, err);
}

size_t cds_tsv_bom_len(const char *text, size_t n)
{
    return n >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
}

cds_rc cds_tsv_open(cds_tsv *t, const char *path, const char *const *required, cds_error *err)
{
    memset(t, 0, sizeof *t);
    t->path = path;
    t->buf = cds_read_file(path, &t->len, 256u << 20, err);
    if (!t->buf) return err ? err->code : CDS_EIO;
    if (cds_tsv_check_text(path, t->buf, t->len, err) != CDS_OK) {
        cds_tsv_close(t);
        return CDS_ELOAD;
    }
    /* Spreadsheet programs save "UTF-8" with a byte-order mark: skip it, or the first column's
     * name would carry it ("header has no column 'id'"). */
    t->pos = cds_tsv_bom_len(t->buf, t->len);
    if (!next_line(t, t->cols, &t->ncols)) {
        cds_tsv_close(t);
        return cds_error_set(err, CDS_ELOAD, NULL, "%s:1: empty table: a header row is required", path);
    }
    for (const char *const *r = required; r && *r; r++) {
        bool found = false;
        for (int i = 0; i < t->ncols; i++) found |= strcmp(t->cols[i], *r) == 0;
        if (!found) {
            int line = t->line;
            cds_tsv_close(t);
            return cds_error_set(err, CDS_ELOAD, NULL, "%s:%d: header has no column '%s'", path, line, *r);
        }
    }
    return CDS_OK;
}

/* Edit distance of short names, for "did you mean". */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64];
    if (la > 63 || lb > 63) return 64;
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

cds_rc cds_tsv_check_columns(const cds_tsv *t, const char *const *known, cds_error *err)
{
    for (int i = 0; i < t->ncols; i++) {
        for (int k = 0; k < i; k++)
            if (strcmp(t->cols[k], t->cols[i]) == 0)
                return cds_error_set(err, CDS_ELOAD, NULL, "%s:%d: column '%s' appears twice", t->path, t->line,
                                     t->cols[i]);
        bool ok = false;
        for (const char *const *c = known; *c && !ok; c++) ok = strcmp(*c, t->cols[i]) == 0;
        if (ok) continue;
        const char *near = NULL;
        size_t best = 3;
        char list[512] = "";
        for (const char *const *c = known; *c; c++) {
            size_t d = distance(t->cols[i], *c);
            if (d < best) best = d, near = *c;
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%s", l ? ", " : "", *c);
        }
        char hint[128] = "";
        if (near) snprintf(hint, sizeof hint, "did you mean '%s'? ", near);
        return cds_error_set(err, CDS_ELOAD, NULL, "%s:%d: unknown column '%s' (%sthis table's columns: %s)", t->path,
                             t->line, t->cols[i], hint, list);
    }
    return CDS_OK;
}

int cds_tsv_overflow(const cds_tsv *t)
{
    for (int i = t->ncols; i < t->nfields; i++)
        if (t->fields[i][0]) return i + 1;
    return 0;
}

bool cds_tsv_next(cds_tsv *t) { return next_line(t, t->fields, &t->nfields); }

const char *cds_tsv_get(const cds_tsv *t, const char *col)
{
    for (int i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i], col) == 0) return i < t->nfields ? t->fields[i] : "";
    return "";
}

void cds_tsv_close(cds_tsv *t)
{
    free(t->buf);
    t->buf = NULL;
}
