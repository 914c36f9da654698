/* sandbox.h — one sandboxed Lua 5.4 state: the only place (with lua_*.c) that includes lua.h.
 *
 * What a rule can reach is an allow-list (base functions without load/dofile/rawset/
 * collectgarbage/print, and string/table/math/utf8 without string.dump or math.random), all of
 * it read-only. Reading an undeclared global or writing any global is an error naming the
 * variable; io/os/debug/package/require and friends raise "blocked: ...". Chunks load as text
 * only. Each call runs under an instruction budget and a time budget (CPU time of the calling
 * thread, with a wall-clock backstop at ten times it) enforced by a count hook that, once
 * tripped, fires on every instruction so a rule's own pcall cannot swallow it; library work
 * inside one C call (pattern matching, long copies and scans) is charged to the same budgets
 * (lua_pattern.h, lua_bounded.h, cds_sandbox_charge), and budget errors name the rule file's
 * line; the state's allocator refuses allocations past a memory ceiling (LUA_ERRMEM). */
#ifndef CDS_SANDBOX_H
#define CDS_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct lua_State lua_State;
typedef struct cds_sandbox cds_sandbox;

typedef enum cds_sb_fail { CDS_SB_OK, CDS_SB_ERROR, CDS_SB_BUDGET, CDS_SB_TIME, CDS_SB_MEMORY } cds_sb_fail;

typedef struct cds_sb_limits {
    size_t memory;            /* bytes for the whole state; default 64 MiB */
    uint64_t instructions;    /* per call; default 10 million */
    double milliseconds;      /* per call CPU time of the calling thread; default 100 */
} cds_sb_limits;

cds_sandbox *cds_sandbox_new(const cds_sb_limits *limits, cds_error *err);
/* Sets the time budget (ms of CPU time) of the calls that follow; returns the previous one. */
double cds_sandbox_set_time_budget(cds_sandbox *sb, double milliseconds);
void cds_sandbox_free(cds_sandbox *sb);
lua_State *cds_sandbox_L(cds_sandbox *sb);

/* Loads text (never bytecode) as a chunk whose globals are a fresh environment over the
 * read-only globals; pushes the function. `name` is the file name shown in errors. */
cds_rc cds_sandbox_load(cds_sandbox *sb, const char *src, size_t len, const char *name, cds_error *err);

/* lua_pcall under the budgets. On failure the message ("file:line: ...") is in err and
 * *why says what stopped it. The stack is left with nresults values on success, none on error. */
cds_rc cds_sandbox_call(cds_sandbox *sb, int nargs, int nresults, cds_sb_fail *why, cds_error *err);

/* Charges n instructions' worth of work done in C for the running budgeted call (pattern
 * matching, copying) and checks its time budget: raises the call's "budget exceeded" error, as
 * the count hook does, when either is used up. Outside a budgeted call it does nothing. */
void cds_sandbox_charge(lua_State *L, uint64_t n);

/* Defines a host function in the protected globals (only before cds_sandbox_lock). */
void cds_sandbox_set_global(cds_sandbox *sb, const char *name);   /* pops the value */
/* Runs privileged Lua (the prelude) with write access to the globals, then nothing else may. */
cds_rc cds_sandbox_run_privileged(cds_sandbox *sb, const char *src, const char *name, cds_error *err);
void cds_sandbox_lock(cds_sandbox *sb);

size_t cds_sandbox_memory(const cds_sandbox *sb);

/* Pushes a read-only proxy for the table at idx (which stays reachable through the proxy). */
void cds_sandbox_push_readonly(lua_State *L, int idx);
/* Pops a function and makes it the lazy filler of the (real, not yet sealed) table at idx: it
 * is called once with the real table, at the first lookup of a missing field or the first
 * iteration through the proxy, and adds the fields built late. */
void cds_sandbox_set_lazy(lua_State *L, int idx);
/* Pushes the real table behind a proxy, or the value itself when it is not a proxy. */
void cds_sandbox_push_real(lua_State *L, int idx);
/* The real table behind the read-only proxy at idx, without running its lazy filler (for C code
 * that reads a field it set itself); pushes nil and returns LUA_TNIL when idx is no proxy. */
int cds_sandbox_push_real_raw(lua_State *L, int idx);
/* NULL when the value at idx reaches no table that a rule gave a metatable and no string that
 * is not UTF-8; else what is wrong, with the path to it in path (e.g. "[1].links[2]"). The engine
 * reads a rule's result after the protected call, where a metamethod would run unbudgeted and an
 * error in one would abort the process; and its strings go out as JSON. */
const char *cds_sandbox_result_plain(lua_State *L, int idx, char *path, size_t cap);
/* The same check for a declaration (rule { }, pack { }, ... named `name` in the message) that
 * the loader reads after the file ran, made under a protected call: 1 plain, 0 not (what and
 * where in `at`), -1 the check failed. */
int cds_sandbox_declaration_plain(cds_sandbox *sb, int idx, const char *name, char *at, size_t cap);

#endif
