/* rule_tables.h — the data tables a pack's rules read (<pack>/tables/NAME.tsv: drug-disease
 * pairs, age cautions, lab thresholds ...). Read once with the rule set, so every worker parses
 * the very bytes the rule set digest covers; handed to Lua as raw rows by __table_raw(name); the
 * prelude's knowledge_table(name, schema) checks each cell against the rule's schema and raises
 * "file:line: ..." for a bad one, so a typo is a load error (lint, test, serve, reload).
 * Knowledge the C core reads (ingredients, classes, interactions ...) stays in knowledge/. */
#ifndef CDS_RULE_TABLES_H
#define CDS_RULE_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rule_decl.h"
#include "sandbox.h"

typedef struct lua_State lua_State;

/* The tables files in sb may read (NAME = file name without .tsv); they must outlive the runs. */
void cds_rule_state_set_tables(cds_sandbox *sb, const cds_source_file *tables, size_t n);

/* The next line of a table's text [*p, end) that is neither blank nor a comment (# first), as
 * [*start, *stop) without its newline; *p moves past it and *line counts every line passed.
 * false at the end. */
bool cds_table_next_line(const char **p, const char *end, const char **start, const char **stop, uint32_t *line);

/* The file of table NAME in the state's rule set, or NULL. */
const cds_source_file *cds_rule_table_find(lua_State *L, const char *name);

/* __table_raw(name) -> {path =, header = {names}, header_line =, rows = {{line =, cells = {...}}}},
 * or nil and a message when there is no such table. Comment lines (#) and blank lines are
 * skipped; the first other line is the header. */
int cds_rule_table_raw(lua_State *L);

#endif
