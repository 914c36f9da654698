/* pair_index.h — a C index of a pack's ingredient-pair tables (the interactions pack's public
 * lists, tables/ddi_*.tsv), so that a rule file's top level does not walk 100,000 pairs in Lua
 * under its load budget and a request asks C for the pairs among its ingredients. The prelude
 * exposes __pair_index as pair_index(spec) (rules/interactions/ddi.lua says how it is used);
 * bad rows are load errors at file:line, like knowledge_table's. */
#ifndef CDS_PAIR_INDEX_H
#define CDS_PAIR_INDEX_H

typedef struct lua_State lua_State;

/* __pair_index(spec) -> index (see pair_index.c) */
int cds_pair_index_build(lua_State *L);
/* index:lookup(a_name, b_name) -> best rank, the pair's rows | nothing */
int cds_pair_index_lookup(lua_State *L);
/* index:among(names, screened, order_hook) -> {{i, j, rank, rows, first}...} | nothing */
int cds_pair_index_among(lua_State *L);
/* index:count() -> pairs, ingredient names */
int cds_pair_index_count(lua_State *L);

#endif
