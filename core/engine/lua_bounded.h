/* lua_bounded.h — the library functions a rule may call whose work inside one C call is not
 * bounded by its arguments' sizes, wrapped so that it is: string.rep (a result-size cap counting
 * repetitions, so rep("", 1e15) fails at once) and table.concat (a result-size cap); and the
 * ones whose work is set by a number or a table's length (string.byte, table.concat/unpack/move
 * ranges, table.insert/remove shifting, table.sort, utf8 scans) charge that work to the running
 * call's budgets before they start (cds_sandbox_charge), so table.move({}, 1, 1e15, 1) fails at
 * once instead of looping. Work that produces a large block (upper, sub, format, `..`) is charged
 * by the sandbox's allocator; pattern matching by lua_pattern.c. */
#ifndef CDS_LUA_BOUNDED_H
#define CDS_LUA_BOUNDED_H

typedef struct lua_State lua_State;

#define CDS_MAX_STRING_RESULT (4u << 20)   /* string.rep / table.concat results */
#define CDS_BYTES_PER_STEP 64   /* bytes copied by a library function or the allocator count as one instruction */

/* Wraps the functions above in the string, table and utf8 library tables of L's globals. */
void cds_lua_bounded_install(lua_State *L);

#endif
