/* json_lines.h — where each value of a JSON text sits: its path ("expect[0].severity"), the line
 * of its key (or of the value, for array elements and the root) and its byte span. cJSON keeps no
 * positions; fixture errors need file:line and `cdsd test --update` rewrites one span in place. */
#ifndef CDS_JSON_LINES_H
#define CDS_JSON_LINES_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cds_json_pos {
    char *path;           /* "" for the root, "a.b", "a[2].c" */
    int line;             /* 1-based line of the member's key, or of the value */
    size_t key_start;     /* offset of the key's opening quote (the value's start when no key) */
    size_t start, end;    /* the value: [start, end) */
} cds_json_pos;

typedef struct cds_json_lines {
    cds_json_pos *pos;
    size_t n, cap;
} cds_json_lines;

/* Indexes every value of a JSON text. false if the text is not JSON (entries found so far stay). */
bool cds_json_lines_scan(const char *text, size_t len, cds_json_lines *out);
/* The entry for a path, or NULL. */
const cds_json_pos *cds_json_lines_find(const cds_json_lines *jl, const char *path);
/* Line of a path; falls back to its parents' lines, then 1. */
int cds_json_lines_line(const cds_json_lines *jl, const char *path);
void cds_json_lines_free(cds_json_lines *jl);

#endif
