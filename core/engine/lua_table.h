/* lua_table.h — reading declarative Lua tables (manifests, rule definitions) into C with
 * pharmacist-readable errors: "where: what: unknown field 'severty'". */
#ifndef CDS_LUA_TABLE_H
#define CDS_LUA_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

typedef struct lua_State lua_State;

typedef struct cds_ltab {
    lua_State *L;
    int idx;                  /* absolute index of the table */
    const char *where;        /* "file:line" */
    const char *what;         /* "rule 'ddi.x'", "service 'medication-safety'" */
    cds_strbuf *diag;
    int errors;
    const char *src;          /* optional: the file's text, to point at the line of a bad field */
} cds_ltab;

/* Reports fields of the table not in `allowed` (NULL-terminated). */
void cds_ltab_allow(cds_ltab *t, const char *const *allowed);
/* String field; NULL (and an error when required) if absent or not a string. Caller frees. */
char *cds_ltab_str(cds_ltab *t, const char *key, bool required);
/* List of strings; returns count, *out malloc'd array of malloc'd strings. */
size_t cds_ltab_strlist(cds_ltab *t, const char *key, bool required, char ***out);
/* Map of string -> string (prefetch templates). */
size_t cds_ltab_strmap(cds_ltab *t, const char *key, char ***keys, char ***vals);
void cds_ltab_error(cds_ltab *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "file:line:" of the line where `key = ` starts (at or after t->where), else t->where. */
const char *cds_ltab_field_where(const cds_ltab *t, const char *key, char *buf, size_t len);
/* As cds_ltab_error, at the line where `key = ` starts (else t->where). */
void cds_ltab_error_at(cds_ltab *t, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void cds_free_strlist(char **list, size_t n);
/* The name in `allowed` (NULL-terminated) within two edits of k, for "did you mean"; NULL if none. */
const char *cds_ltab_closest(const char *k, const char *const *allowed);

#endif
