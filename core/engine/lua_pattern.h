/* lua_pattern.h — string.find, match, gmatch and gsub for rules: Lua 5.4 pattern matching
 * (reference manual §6.4.1), re-implemented so that the matching is metered. Lua's own functions
 * match inside one C call where the sandbox's count hook never fires: a backtracking pattern
 * over a long medication text (`(.-)%s+(%d+)%s*mg` over 60 KB) ran for tens of seconds. Here
 * every step of the matcher (an attempt at a position, a character taken by a repetition, a
 * character scanned by %b) is counted and charged to the running call's budgets through
 * cds_sandbox_charge, every CDS_PATTERN_CHARGE_EVERY steps, which raises the same "budget
 * exceeded" errors as the hook. Results, errors for malformed patterns, and 5.4's rules for
 * init, anchors and empty matches (gsub and gmatch never match empty right after a match) are
 * those of the real library; tests/unit/test_lua_pattern.c compares the two. */
#ifndef CDS_LUA_PATTERN_H
#define CDS_LUA_PATTERN_H

typedef struct lua_State lua_State;

#define CDS_PATTERN_CHARGE_EVERY 1024

/* Replaces find, match, gmatch and gsub in the string library table at index lib. */
void cds_lua_pattern_install(lua_State *L, int lib);

#endif
