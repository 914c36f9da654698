/* tsv.h — reader for the knowledge tables: tab-separated, a header row naming the columns,
 * '#' comment lines and blank lines ignored. Fields are addressed by column name, so authors
 * may reorder columns. Every row knows its file:line for error messages. */
#ifndef CDS_TSV_H
#define CDS_TSV_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define CDS_TSV_MAX_COLS 32

typedef struct cds_tsv {
    const char *path;
    char *buf;            /* whole file, modified in place */
    size_t len, pos;
    int line;             /* line number of the current row */
    int ncols;
    char *cols[CDS_TSV_MAX_COLS];   /* header names */
    int nfields;
    char *fields[CDS_TSV_MAX_COLS]; /* current row */
} cds_tsv;

/* Opens the file and reads the header. Fails if any of `required` (NULL-terminated) is missing. */
cds_rc cds_tsv_open(cds_tsv *t, const char *path, const char *const *required, cds_error *err);
/* CDS_OK, or CDS_ELOAD naming path:line:column of the first byte that is not UTF-8 or is NUL. */
cds_rc cds_tsv_check_text(const char *path, const char *text, size_t n, cds_error *err);
/* 3 when the text starts with a UTF-8 byte-order mark (which the readers skip), else 0. */
size_t cds_tsv_bom_len(const char *text, size_t n);
/* Refuses, as "path:line: ..." naming the header line, a header column that is not in `known`
 * (NULL-terminated: the columns the import reads), and a column named twice. Call after open. */
cds_rc cds_tsv_check_columns(const cds_tsv *t, const char *const *known, cds_error *err);
/* The 1-based column of the current row's first non-empty value beyond the header, or 0: a
 * value there would never be read. */
int cds_tsv_overflow(const cds_tsv *t);
/* Advances to the next data row; false at end of file. */
bool cds_tsv_next(cds_tsv *t);
/* Field by column name ("" when the column is absent or the row is short). */
const char *cds_tsv_get(const cds_tsv *t, const char *col);
void cds_tsv_close(cds_tsv *t);

#endif
