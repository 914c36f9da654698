/* sandbox.c — allow-listed, read-only, budgeted Lua state (see sandbox.h). */
#include "sandbox.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "lua_bounded.h"
#include "lua_pattern.h"
#include "utf8.h"

#define HOOK_EVERY 1000
/* Once a call has allocated a block this large, its instructions can each touch megabytes
 * (comparing, hashing or copying long strings) and the hook checks every HOOK_EVERY_BIG. */
#define BIG_BLOCK (256u << 10)
#define HOOK_EVERY_BIG 16
#define WALL_BACKSTOP 10   /* a rule held up (not running) this many time budgets is stopped too */
#define FIRST_LOOK_MS 1.0  /* the thread's CPU clock is first read this far into a call */

/* Small blocks are recycled through per-state free lists: building ctx makes and drops a few
 * hundred small tables and strings per request, and glibc's malloc/free (with the fastbin
 * consolidation the frees trigger) was ~7% of an evaluation. Sizes round up to 16-byte classes
 * up to 256 bytes; each list keeps at most SMALL_KEEP blocks, so a rule that allocated a lot
 * once does not keep that memory for good. Under AddressSanitizer every block goes to malloc,
 * so use-after-free in Lua-facing C code is still caught. */
#define SMALL_MAX 256
#define SMALL_CLASSES (SMALL_MAX / 16)
#define SMALL_KEEP 1024   /* per class: at most ~2 MiB held per Lua state */
#if defined(__SANITIZE_ADDRESS__)
#define SMALL_LISTS 0
#else
#define SMALL_LISTS 1
#endif

typedef struct small_block { struct small_block *next; } small_block;

struct cds_sandbox {
    lua_State *L;
    cds_sb_limits lim;
    size_t used;
    small_block *small[SMALL_CLASSES];
    unsigned nsmall[SMALL_CLASSES];
    bool locked;
    bool privileged;          /* cds_sandbox_run_privileged is running: a missing global reads nil */
    /* per call */
    bool metered;                   /* a budgeted call is running */
    int hook_every;                 /* instructions between hook calls */
    uint64_t count;
    struct timespec started;        /* monotonic */
    double look_ms;                 /* wall ms into the call before which the time budget cannot be used up */
    bool cpu_known;                 /* cpu_deadline is set */
    struct timespec cpu_deadline;   /* the time budget, on this thread's CPU clock */
    cds_sb_fail tripped;
    int globals_ref;          /* the protected globals table */
};

static const char SB_KEY = 'S';   /* registry key: lightuserdata(&SB_KEY) -> cds_sandbox* */
static const char RULE_META_KEY = 'M';  /* registry: weak-keyed set of tables a rule gave a metatable */

static cds_sandbox *get_sb(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &SB_KEY);
    cds_sandbox *sb = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return sb;
}

static size_t small_class(size_t n) { return (n - 1) / 16; }   /* n in 1..SMALL_MAX */

static void block_free(cds_sandbox *sb, void *p, size_t size)
{
    if (SMALL_LISTS && size && size <= SMALL_MAX) {
        size_t c = small_class(size);
        if (sb->nsmall[c] < SMALL_KEEP) {
            small_block *b = p;
            b->next = sb->small[c];
            sb->small[c] = b;
            sb->nsmall[c]++;
            return;
        }
    }
    free(p);
}

/* A block of at least n bytes; a small one always has its class's full size, so any block of
 * the class can serve any request of the class. */
static void *block_new(cds_sandbox *sb, size_t n)
{
    if (!SMALL_LISTS || n > SMALL_MAX) return malloc(n);
    size_t c = small_class(n);
    small_block *b = sb->small[c];
    if (!b) return malloc((c + 1) * 16);
    sb->small[c] = b->next;
    sb->nsmall[c]--;
    return b;
}

static void big_block(cds_sandbox *sb, size_t grown);

static void *alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    cds_sandbox *sb = ud;
    size_t old = ptr ? osize : 0;   /* with ptr NULL, osize is a type tag */
    if (nsize == 0) {
        if (ptr) block_free(sb, ptr, old);
        sb->used -= old;
        return NULL;
    }
    if (nsize > old && sb->used - old + nsize > sb->lim.memory) {
        if (sb->tripped == CDS_SB_OK) sb->tripped = CDS_SB_MEMORY;
        return NULL;
    }
    void *p;
    if (ptr && (!SMALL_LISTS || (old > SMALL_MAX && nsize > SMALL_MAX))) {
        p = realloc(ptr, nsize);   /* neither side is a recycled small block */
    } else if (ptr && old <= SMALL_MAX && nsize <= SMALL_MAX && small_class(old) == small_class(nsize)) {
        p = ptr;   /* same class: the block already has room */
    } else {
        p = block_new(sb, nsize);
        if (p && ptr) {
            memcpy(p, ptr, old < nsize ? old : nsize);
            block_free(sb, ptr, old);
        }
    }
    if (p) sb->used = sb->used - old + nsize;
    if (p && nsize >= BIG_BLOCK && nsize > old && sb->metered) big_block(sb, nsize - old);
    return p;
}

/* --- budgets --------------------------------------------------------------------------------- */

/* The time budget is CPU time of the evaluating thread: a busy host delays a rule but does not
 * fail it. The hook reads the monotonic clock (user space, tens of ns); the thread's CPU clock is
 * a system call, so it is read only from FIRST_LOOK_MS into a call (most calls end sooner; that
 * first stretch counts as CPU time), and then only when the wall clock says the budget could be
 * used up, since a thread's CPU time never runs ahead of the wall clock. Returns 1 over the
 * budget, 2 held up past the wall-clock backstop. */
static int over_time(cds_sandbox *sb)
{
    double wall = cds_us_since(&sb->started) / 1e3, budget = sb->lim.milliseconds, left;
    if (wall < sb->look_ms) return 0;
    if (wall >= budget * WALL_BACKSTOP) return 2;
    if (!sb->cpu_known) {
        left = budget - sb->look_ms;
        cds_cpu_deadline_in(&sb->cpu_deadline, left);
        sb->cpu_known = true;
    } else {
        left = cds_cpu_ms_until(&sb->cpu_deadline);
    }
    if (left <= 0) return 1;
    sb->look_ms = wall + (left < budget * WALL_BACKSTOP - wall ? left : budget * WALL_BACKSTOP - wall);
    return 0;
}

static void hook(lua_State *L, lua_Debug *ar);

/* Pushes "file:line: " of the innermost frame running a rule file's own code (chunks named
 * "@path": the prelude and C functions are skipped), or "". Lua's own position for an error
 * raised in a hook or a library function is the caller's, empty at a file's top level. */
static void push_rule_where(lua_State *L)
{
    lua_Debug ar;
    for (int level = 0; lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.source[0] == '@' && ar.currentline > 0) {
            lua_pushfstring(L, "%s:%d: ", ar.source + 1, ar.currentline);   /* the whole path */
            return;
        }
    }
    lua_pushliteral(L, "");
}

static int raise_budget(lua_State *L, cds_sandbox *sb, bool held_up)
{
    push_rule_where(L);
    if (sb->tripped == CDS_SB_BUDGET)
        lua_pushfstring(L, "instruction budget exceeded (%I instructions)", (lua_Integer)sb->lim.instructions);
    else if (held_up)
        lua_pushfstring(L, "time budget exceeded (%d ms; held up for %d ms by the wall clock)", (int)sb->lim.milliseconds,
                        (int)(sb->lim.milliseconds * WALL_BACKSTOP));
    else
        lua_pushfstring(L, "time budget exceeded (%d ms of CPU time)", (int)sb->lim.milliseconds);
    lua_concat(L, 2);
    return lua_error(L);
}

/* Counts n instructions (or their equivalent in library work) and checks both budgets; past
 * either, raises, and keeps raising at every instruction so no pcall can swallow it. */
static void spend(lua_State *L, cds_sandbox *sb, uint64_t n)
{
    if (sb->tripped == CDS_SB_BUDGET || sb->tripped == CDS_SB_TIME) raise_budget(L, sb, false);
    sb->count += n;
    bool over_i = sb->count > sb->lim.instructions;
    int over_t = over_i ? 0 : over_time(sb);
    if (!over_i && !over_t) return;
    sb->tripped = over_i ? CDS_SB_BUDGET : CDS_SB_TIME;
    lua_sethook(L, hook, LUA_MASKCOUNT, 1);
    raise_budget(L, sb, over_t == 2);
}

static void hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    cds_sandbox *sb = get_sb(L);
    spend(L, sb, (uint64_t)sb->hook_every);
}

void cds_sandbox_charge(lua_State *L, uint64_t n)
{
    cds_sandbox *sb = get_sb(L);
    if (sb && sb->metered) spend(L, sb, n);
}

/* A large block was allocated during a call (a long string built by `..`, rep, gsub, upper, a
 * grown stack): the copy is charged, and from now on the hook looks every HOOK_EVERY_BIG
 * instructions, since one instruction can now compare or hash megabytes. The allocator cannot
 * raise; when a budget is already used up, the hook is set to fire at the next instruction. */
static void big_block(cds_sandbox *sb, size_t grown)
{
    sb->count += grown / CDS_BYTES_PER_STEP;
    bool over = sb->count > sb->lim.instructions || over_time(sb);
    if (over || sb->hook_every > HOOK_EVERY_BIG) {
        sb->hook_every = over ? 1 : HOOK_EVERY_BIG;
        lua_sethook(sb->L, hook, LUA_MASKCOUNT, sb->hook_every);
    }
}

/* --- blocked and capped functions ------------------------------------------------------------- */

static int blocked_fn(lua_State *L)
{
    return luaL_error(L, "blocked: %s is not available to rules", lua_tostring(L, lua_upvalueindex(1)));
}

static int blocked_lib_index(lua_State *L)
{
    const char *lib = lua_tostring(L, lua_upvalueindex(1));
    const char *key = lua_tostring(L, 2);
    return luaL_error(L, "blocked: %s.%s is not available to rules", lib, key ? key : "?");
}

static int readonly_newindex(lua_State *L)
{
    const char *key = lua_tostring(L, 2);
    return luaL_error(L, "attempt to modify read-only table (field '%s')", key ? key : "?");
}

/* setmetatable without __gc: Lua marks a table for finalisation when it gets a metatable with
 * a __gc field, and runs the finaliser later from whatever allocation triggers a collection -
 * another rule, the engine's own C code, or lua_close at a reload - outside this rule's budget.
 * An endless finaliser hung `cdsd eval` at exit. Adding __gc to the metatable afterwards does not
 * mark the table (Lua 5.4), so refusing it here is enough. */
static int safe_setmetatable(lua_State *L)
{
    lua_settop(L, 2);
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)   /* raw, as Lua's own check */
            return luaL_error(L, "setmetatable: __gc finalisers are not allowed in rules (they would run "
                                 "outside the rule's budget)");
        lua_pop(L, 1);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    /* remembered, so a result holding it is refused (cds_sandbox_result_plain) */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &RULE_META_KEY);
    lua_pushvalue(L, 1);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    return 1;
}

/* The walk behind cds_sandbox_result_plain: NULL, or what is wrong, with the path to it - a
 * table a rule gave a metatable, or a string that is not UTF-8 (a rule cutting a name with
 * string.sub can split a character; it would reach the JSON the HTTP gateway writes). Tables
 * with other metatables are the engine's (proxies of ctx, read-only and holding no rule
 * tables): not entered. `seen` keeps shared and cyclic tables to one visit. */
/* Puts seg in front of path (the walk names the bad value's path from the leaf up, on the way
 * out: a valid result, the common case, formats nothing). */
static void prepend(char *path, size_t cap, const char *seg)
{
    size_t sl = strlen(seg), pl = strlen(path);
    if (sl >= cap) return;
    if (sl + pl >= cap) pl = cap - 1 - sl;
    memmove(path + sl, path, pl);
    memcpy(path, seg, sl);
    path[sl + pl] = '\0';
}

/* The key on top-1 of the stack as a path segment: ".name", "[3]" or "[?]". */
static void key_segment(lua_State *L, char *seg, size_t cap)
{
    if (lua_type(L, -2) == LUA_TSTRING) snprintf(seg, cap, ".%s", lua_tostring(L, -2));
    else if (lua_isinteger(L, -2)) snprintf(seg, cap, "[%lld]", (long long)lua_tointeger(L, -2));
    else snprintf(seg, cap, "[?]");
}

/* What a bad string in a result is called: a key, a value in a table, the result itself. */
typedef enum { TEXT_KEY, TEXT_VALUE, TEXT_RESULT } text_role;

/* NULL when the n bytes at str are text a reply can carry, else what is wrong: a NUL byte (JSON
 * writers and C clients cut the string there; issue 22 item 9), or not UTF-8. */
static const char *text_fault(const char *str, size_t n, text_role role)
{
    if (memchr(str, '\0', n)) return role == TEXT_KEY ? "a key with a NUL byte" : "a string with a NUL byte";
    if (cds_utf8_valid((const unsigned char *)str, n)) return NULL;
    return role == TEXT_KEY     ? "a key that is not valid UTF-8"
           : role == TEXT_VALUE ? "a string that is not valid UTF-8 (a character cut in two?)"
                                : "a string that is not valid UTF-8";
}

/* A result of at most this many tables (a card has a dozen) is walked without the `seen` table;
 * one with more (shared or cyclic tables, or just many) is walked again with it. */
#define PLAIN_WALK_VISITS 256
static const char WALK_AGAIN[] = "walk again with seen";

static const char *plain_walk(lua_State *L, int t, int marked, int seen, char *path, size_t cap, int depth,
                              unsigned *visits)
{
    if (lua_getmetatable(L, t)) {
        lua_pop(L, 1);
        lua_pushvalue(L, t);
        bool rule_made = lua_rawget(L, marked) != LUA_TNIL;
        lua_pop(L, 1);
        return rule_made ? "a table with a metatable set by the rule" : NULL;
    }
    if (!seen) {
        if (++*visits > PLAIN_WALK_VISITS) return WALK_AGAIN;
        if (depth > 32) return NULL;
    } else {
        lua_pushvalue(L, t);
        if (lua_rawget(L, seen) != LUA_TNIL || depth > 32) {
            lua_pop(L, 1);
            return NULL;
        }
        lua_pop(L, 1);
        lua_pushvalue(L, t);
        lua_pushboolean(L, 1);
        lua_rawset(L, seen);
    }
    luaL_checkstack(L, 4, "result check");
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int vt = lua_type(L, -1);
        const char *why = NULL;
        if (lua_type(L, -2) == LUA_TSTRING) {   /* keys are packed too */
            size_t n;
            const char *k = lua_tolstring(L, -2, &n);
            const char *bad = text_fault(k, n, TEXT_KEY);
            if (bad) {
                prepend(path, cap, "[?]");
                lua_pop(L, 2);
                return bad;
            }
        }
        if (vt == LUA_TTABLE) {
            why = plain_walk(L, lua_gettop(L), marked, seen, path, cap, depth + 1, visits);
            if (why == WALK_AGAIN) {
                lua_pop(L, 2);
                return why;
            }
        } else if (vt == LUA_TSTRING) {
            size_t n;
            const char *str = lua_tolstring(L, -1, &n);
            why = text_fault(str, n, TEXT_VALUE);
        }
        if (why) {
            char seg[96];
            key_segment(L, seg, sizeof seg);
            prepend(path, cap, seg);
            lua_pop(L, 2);
            return why;
        }
        lua_pop(L, 1);
    }
    return NULL;
}

static int plain_fn(lua_State *L)
{
    char path[160];
    const char *why = cds_sandbox_result_plain(L, 1, path, sizeof path);
    if (why) lua_pushfstring(L, "%s at %s%s", why, lua_tostring(L, 2), path);
    else lua_pushnil(L);
    return 1;
}

int cds_sandbox_declaration_plain(cds_sandbox *sb, int idx, const char *name, char *at, size_t cap)
{
    lua_State *L = sb->L;
    idx = lua_absindex(L, idx);
    lua_pushcfunction(L, plain_fn);
    lua_pushvalue(L, idx);
    lua_pushstring(L, name);
    int rc = lua_pcall(L, 2, 1, 0);   /* the walk allocates: an out-of-memory error must be caught */
    int plain = rc != LUA_OK ? -1 : lua_isnil(L, -1);
    snprintf(at, cap, "%s", rc == LUA_OK && !plain ? lua_tostring(L, -1) : "");
    lua_pop(L, 1);
    return plain;
}

const char *cds_sandbox_result_plain(lua_State *L, int idx, char *path, size_t cap)
{
    path[0] = '\0';
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t n;
        const char *str = lua_tolstring(L, idx, &n);
        return text_fault(str, n, TEXT_RESULT);
    }
    if (lua_type(L, idx) != LUA_TTABLE) return NULL;
    idx = lua_absindex(L, idx);
    /* Most rules find nothing and return {}: no walk. */
    if (!lua_getmetatable(L, idx)) {
        lua_pushnil(L);
        if (!lua_next(L, idx)) return NULL;
        lua_pop(L, 2);
    } else {
        lua_pop(L, 1);
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &RULE_META_KEY);
    unsigned visits = 0;
    const char *why = plain_walk(L, idx, lua_gettop(L), 0, path, cap, 0, &visits);
    if (why == WALK_AGAIN) {
        path[0] = '\0';
        lua_newtable(L);
        why = plain_walk(L, idx, lua_gettop(L) - 1, lua_gettop(L), path, cap, 0, &visits);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return why;
}

/* --- read-only proxies ----------------------------------------------------------------------- */
/* A proxy is an empty-looking table {[PROXY_KEY] = real} with one shared metatable. The key is
 * a light userdata, which Lua code cannot create, so rules cannot reach the real table; `next`
 * is wrapped to iterate the real table. One table and one rawset per proxy keeps building a
 * request's view cheap. */

static const char PROXY_KEY = 'P', PROXY_MT = 'T', PROXY_MT_READ = 'R';

static int proxy_real(lua_State *L, int idx)
{
    return lua_rawgetp(L, idx, &PROXY_KEY);
}

/* Lazy fields: a real table may hold, under LAZY_KEY, a function that adds fields to it. It
 * runs once, at the first lookup of a field the table does not have yet or the first
 * iteration, so parts of ctx no rule reads are never built. */
static const char LAZY_KEY = 'L';

static const char IN_CALL_KEY = 'C';   /* registry: true while cds_sandbox_call runs a rule */

static void fill_lazy(lua_State *L, int real)
{
    if (lua_rawgetp(L, real, &LAZY_KEY) != LUA_TFUNCTION) {
        lua_pop(L, 1);
        return;
    }
    lua_pushnil(L);
    lua_rawsetp(L, real, &LAZY_KEY);   /* removed while it runs: never re-entered, never iterated */
    lua_pushvalue(L, -1);
    lua_pushvalue(L, real);
    if (lua_pcall(L, 1, 0, 0) == LUA_OK) {
        lua_pop(L, 1);
        return;
    }
    lua_insert(L, -2);
    lua_rawsetp(L, real, &LAZY_KEY);   /* failed (e.g. a stale table): it fails again next time */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &IN_CALL_KEY);
    bool in_rule = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (in_rule) lua_error(L);   /* the rule fails with the filler's reason */
    lua_pop(L, 1);               /* engine code after the rules (card checks, packing) is not
                                  * protected: an error there would panic; the fields stay absent */
}

void cds_sandbox_set_lazy(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    lua_rawsetp(L, idx, &LAZY_KEY);
}

static int proxy_len(lua_State *L);
static int proxy_pairs(lua_State *L);

/* Pushes a proxy metatable whose __index is the value on top of the stack (popped): the shared
 * one's is proxy_index, a direct one's the real table. */
static void push_proxy_mt_with_index(lua_State *L)
{
    lua_createtable(L, 0, 5);
    lua_insert(L, -2);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, readonly_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, proxy_len);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, proxy_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
}

/* A proxy read twice is read again (ctx, the orders being placed, the patient: rule after rule):
 * from its second read on, it gets a metatable of its own whose __index is the real table, so the
 * VM follows it without calling C. A proxy read once (most rows, lists and entries a check looks
 * at) only moves to the shared "read once" metatable, which costs no allocation; proxies no rule
 * reads keep the shared one. Not while a lazy filler is pending: that read must go through C. */
static void make_direct(lua_State *L, int proxy, int real)
{
    if (lua_rawgetp(L, real, &LAZY_KEY) != LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    lua_pushvalue(L, real);
    push_proxy_mt_with_index(L);
    lua_setmetatable(L, proxy);
}

/* The value under key 2 of the proxy at 1, filling lazy fields first when it is missing; pushes
 * it above the real table (index 3). Returns its type. */
static int proxy_get(lua_State *L)
{
    proxy_real(L, 1);   /* index 3 */
    lua_pushvalue(L, 2);
    int t = lua_rawget(L, 3);
    if (t != LUA_TNIL) return t;
    lua_pop(L, 1);
    fill_lazy(L, 3);
    lua_pushvalue(L, 2);
    return lua_rawget(L, 3);
}

/* The read-once metatable's __index: the second read makes the proxy direct. A read that finds
 * nothing (an empty list read by ipairs, an absent field) changes nothing. */
static int proxy_index_again(lua_State *L)
{
    if (proxy_get(L) != LUA_TNIL) make_direct(L, 1, 3);
    return 1;
}

/* Pushes the shared proxy metatable kept in the registry under key, made on first use with
 * `index` as its __index. */
static void push_shared_mt(lua_State *L, const char *key, lua_CFunction index)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) == LUA_TTABLE) return;
    lua_pop(L, 1);
    lua_pushcfunction(L, index);
    push_proxy_mt_with_index(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

/* The shared metatable's __index: the first read that finds something moves the proxy to the
 * read-once metatable. */
static int proxy_index(lua_State *L)
{
    if (proxy_get(L) != LUA_TNIL) {
        push_shared_mt(L, &PROXY_MT_READ, proxy_index_again);
        lua_setmetatable(L, 1);
    }
    return 1;
}

static int proxy_len(lua_State *L)
{
    proxy_real(L, 1);
    lua_pushinteger(L, (lua_Integer)lua_rawlen(L, -1));
    return 1;
}

static int proxy_next(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    if (proxy_real(L, 1) == LUA_TTABLE) {
        lua_replace(L, 1);
        if (lua_isnil(L, 2)) fill_lazy(L, 1);   /* an iteration starts: every field exists */
    } else {
        lua_pop(L, 1);
    }
    if (lua_next(L, 1)) return 2;
    lua_pushnil(L);
    return 1;
}

static int proxy_pairs(lua_State *L)
{
    lua_pushcfunction(L, proxy_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}


void cds_sandbox_push_readonly(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 4, "read-only proxy");
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, idx);
    lua_rawsetp(L, -2, &PROXY_KEY);
    push_shared_mt(L, &PROXY_MT, proxy_index);
    lua_setmetatable(L, -2);
}

void cds_sandbox_push_real(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) == LUA_TTABLE && proxy_real(L, idx) == LUA_TTABLE) {
        fill_lazy(L, lua_gettop(L));   /* C code reading it sees every field it can */
        return;
    }
    if (lua_type(L, idx) == LUA_TTABLE) lua_pop(L, 1);
    lua_pushvalue(L, idx);
}

int cds_sandbox_push_real_raw(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    if (proxy_real(L, idx) == LUA_TTABLE) return LUA_TTABLE;
    lua_pop(L, 1);
    lua_pushnil(L);
    return LUA_TNIL;
}

/* --- environments ---------------------------------------------------------------------------- */

/* The protected globals' own __index: reached only for a name that is not there. A rule's
 * environment has __index = the globals table itself, so the VM finds ipairs, card, string ...
 * without calling C (every global a rule reads went through a C function before). */
static int undeclared_global(lua_State *L)
{
    if (get_sb(L)->privileged) return 0;   /* the prelude testing for an optional global: nil */
    const char *k = lua_tostring(L, 2);
    return luaL_error(L, "undeclared global '%s'", k ? k : "?");
}

static int env_newindex(lua_State *L)
{
    const char *k = lua_tostring(L, 2);
    return luaL_error(L, "assignment to global '%s' is not allowed (declare it local)", k ? k : "?");
}

/* Stack: table, upvalue -> table with a locked metatable: __index = index(upvalue),
 * __newindex = newindex, __metatable = false (rules can neither see nor replace it). */
static void lock_table(lua_State *L, lua_CFunction index, lua_CFunction newindex)
{
    lua_pushcclosure(L, index, 1);
    lua_createtable(L, 0, 3);
    lua_insert(L, -2);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
}

/* Pushes a fresh environment table whose reads go to the protected globals: __index is the
 * globals table (not a function), __newindex refuses, __metatable hides both. */
static void push_env(cds_sandbox *sb)
{
    lua_State *L = sb->L;
    lua_createtable(L, 0, 0);
    lua_createtable(L, 0, 3);
    lua_rawgeti(L, LUA_REGISTRYINDEX, sb->globals_ref);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, env_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
}

static void copy_fields(lua_State *L, int from, int to, const char *const *names)
{
    for (; *names; names++) {
        lua_getfield(L, from, *names);
        lua_setfield(L, to, *names);
    }
}

static int open_state(lua_State *L)
{
    cds_sandbox *sb = lua_touserdata(L, 1);
    static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base}, {LUA_STRLIBNAME, luaopen_string},
                                    {LUA_TABLIBNAME, luaopen_table}, {LUA_MATHLIBNAME, luaopen_math},
                                    {LUA_UTF8LIBNAME, luaopen_utf8}, {NULL, NULL}};
    for (const luaL_Reg *l = libs; l->func; l++) {
        luaL_requiref(L, l->name, l->func, 1);
        lua_pop(L, 1);
    }
    lua_pushglobaltable(L);
    int G = lua_gettop(L);
    lua_newtable(L);   /* RULE_META_KEY: weak keys, so marking a table does not keep it alive */
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &RULE_META_KEY);

    /* string: metered patterns, bounded library functions (their own files); drop dump. */
    cds_lua_bounded_install(L);
    lua_getglobal(L, "string");
    int s = lua_gettop(L);
    cds_lua_pattern_install(L, s);
    lua_pushliteral(L, "string.dump");
    lua_pushcclosure(L, blocked_fn, 1);
    lua_setfield(L, s, "dump");
    /* The string metatable: __index stays the real string table; hide the metatable itself. */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
    lua_getglobal(L, "math");
    static const char *const math_blocked[] = {"random", "randomseed", NULL};
    for (const char *const *f = math_blocked; *f; f++) {
        lua_pushfstring(L, "math.%s", *f);
        lua_pushcclosure(L, blocked_fn, 1);
        lua_setfield(L, -2, *f);
    }
    lua_pop(L, 2);

    /* The protected globals: an allow-list copied from _G, libraries behind read-only proxies. */
    lua_createtable(L, 0, 64);
    int P = lua_gettop(L);
    static const char *const allowed[] = {"assert", "error", "ipairs", "next", "pairs", "pcall", "select",
                                          "tonumber", "tostring", "type", "xpcall", "rawequal", "rawlen",
                                          "rawget", "getmetatable", "setmetatable", "_VERSION", NULL};
    copy_fields(L, G, P, allowed);
    lua_pushcfunction(L, proxy_next);   /* next() sees through read-only proxies */
    lua_setfield(L, P, "next");
    lua_getfield(L, G, "setmetatable");
    lua_pushcclosure(L, safe_setmetatable, 1);
    lua_setfield(L, P, "setmetatable");
    static const char *const libnames[] = {"string", "table", "math", "utf8", NULL};
    for (const char *const *n = libnames; *n; n++) {
        lua_getfield(L, G, *n);
        cds_sandbox_push_readonly(L, -1);
        lua_setfield(L, P, *n);
        lua_pop(L, 1);
    }
    static const char *const blocked_fns[] = {"require", "dofile", "loadfile", "load", "loadstring", "rawset",
                                              "collectgarbage", "print", "setfenv", "getfenv", "newproxy", NULL};
    for (const char *const *n = blocked_fns; *n; n++) {
        lua_pushstring(L, *n);
        lua_pushcclosure(L, blocked_fn, 1);
        lua_setfield(L, P, *n);
    }
    static const char *const blocked_libs[] = {"io", "os", "debug", "package", "coroutine", NULL};
    for (const char *const *n = blocked_libs; *n; n++) {
        lua_createtable(L, 0, 0);
        lua_pushstring(L, *n);
        lock_table(L, blocked_lib_index, readonly_newindex);
        lua_setfield(L, P, *n);
    }
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, undeclared_global);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, P);
    lua_pushvalue(L, P);
    sb->globals_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    /* Nothing reaches the real _G from rule code: every chunk gets its own environment. */
    return 0;
}

cds_sandbox *cds_sandbox_new(const cds_sb_limits *limits, cds_error *err)
{
    cds_sandbox *sb = calloc(1, sizeof *sb);
    if (!sb) { cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory"); return NULL; }
    sb->lim = (cds_sb_limits){64u << 20, 10000000, 100.0};
    if (limits) {
        if (limits->memory) sb->lim.memory = limits->memory;
        if (limits->instructions) sb->lim.instructions = limits->instructions;
        if (limits->milliseconds > 0) sb->lim.milliseconds = limits->milliseconds;
    }
    sb->L = lua_newstate(alloc, sb);
    if (!sb->L) { free(sb); cds_error_set(err, CDS_EINTERNAL, NULL, "cannot create a Lua state"); return NULL; }
    lua_pushlightuserdata(sb->L, sb);
    lua_rawsetp(sb->L, LUA_REGISTRYINDEX, &SB_KEY);
    /* Each request builds many short-lived tables: the generational collector suits that. */
    lua_gc(sb->L, LUA_GCGEN, 0, 0);
    lua_pushcfunction(sb->L, open_state);
    lua_pushlightuserdata(sb->L, sb);
    if (lua_pcall(sb->L, 1, 0, 0) != LUA_OK) {
        cds_error_set(err, CDS_EINTERNAL, NULL, "sandbox setup failed: %s", lua_tostring(sb->L, -1));
        cds_sandbox_free(sb);
        return NULL;
    }
    return sb;
}

double cds_sandbox_set_time_budget(cds_sandbox *sb, double milliseconds)
{
    double was = sb->lim.milliseconds;
    if (milliseconds > 0) sb->lim.milliseconds = milliseconds;
    return was;
}

void cds_sandbox_free(cds_sandbox *sb)
{
    if (!sb) return;
    if (sb->L) {
        lua_sethook(sb->L, NULL, 0, 0);
        lua_gc(sb->L, LUA_GCCOLLECT);   /* finalisers run before close (CVE-2024-46981 lesson) */
        lua_close(sb->L);
    }
    for (size_t c = 0; c < SMALL_CLASSES; c++) {
        for (small_block *b = sb->small[c], *next; b; b = next) {
            next = b->next;
            free(b);
        }
    }
    free(sb);
}

lua_State *cds_sandbox_L(cds_sandbox *sb) { return sb->L; }
size_t cds_sandbox_memory(const cds_sandbox *sb) { return sb->used; }

void cds_sandbox_set_global(cds_sandbox *sb, const char *name)
{
    lua_State *L = sb->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, sb->globals_ref);
    lua_insert(L, -2);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

void cds_sandbox_lock(cds_sandbox *sb) { sb->locked = true; }

cds_rc cds_sandbox_load(cds_sandbox *sb, const char *src, size_t len, const char *name, cds_error *err)
{
    lua_State *L = sb->L;
    luaL_checkstack(L, 4, "load");
    char chunk[512];
    snprintf(chunk, sizeof chunk, "@%s", name);
    int rc = luaL_loadbufferx(L, src, len, chunk, "t");
    if (rc != LUA_OK) {
        const char *m = lua_tostring(L, -1);
        cds_error_set(err, CDS_ELOAD, NULL, "%s", m ? m : "load failed");
        if (m && strstr(m, "attempt to load a binary chunk"))
            cds_error_set(err, CDS_ELOAD, NULL, "%s: binary (precompiled) chunks are not accepted; ship Lua source", name);
        lua_pop(L, 1);
        return CDS_ELOAD;
    }
    push_env(sb);
    if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
    return CDS_OK;
}

static int traceback(lua_State *L)
{
    const char *m = lua_tostring(L, 1);
    if (!m) m = luaL_typename(L, 1);
    lua_pushstring(L, m);   /* keep the message short for pharmacists: no full traceback */
    return 1;
}

cds_rc cds_sandbox_call(cds_sandbox *sb, int nargs, int nresults, cds_sb_fail *why, cds_error *err)
{
    lua_State *L = sb->L;
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback);
    lua_insert(L, base);
    sb->count = 0;
    sb->tripped = CDS_SB_OK;
    clock_gettime(CLOCK_MONOTONIC, &sb->started);
    sb->look_ms = sb->lim.milliseconds < FIRST_LOOK_MS ? sb->lim.milliseconds : FIRST_LOOK_MS;
    sb->cpu_known = false;
    sb->hook_every = HOOK_EVERY;
    sb->metered = true;
    lua_sethook(L, hook, LUA_MASKCOUNT, HOOK_EVERY);
    lua_pushboolean(L, 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &IN_CALL_KEY);
    int rc = lua_pcall(L, nargs, nresults, base);
    lua_pushboolean(L, 0);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &IN_CALL_KEY);
    lua_sethook(L, NULL, 0, 0);
    sb->metered = false;
    cds_sb_fail f = CDS_SB_OK;
    if (rc != LUA_OK) {
        f = sb->tripped != CDS_SB_OK ? sb->tripped : rc == LUA_ERRMEM ? CDS_SB_MEMORY : CDS_SB_ERROR;
        const char *m = lua_tostring(L, -1);
        if (f == CDS_SB_MEMORY) cds_error_set(err, CDS_EINTERNAL, NULL, "memory limit exceeded (%zu MiB)", sb->lim.memory >> 20);
        else cds_error_set(err, CDS_EINTERNAL, NULL, "%s", m ? m : "error");
        if (f == CDS_SB_MEMORY && m && strcmp(m, "not enough memory") != 0)
            cds_error_set(err, CDS_EINTERNAL, NULL, "memory limit exceeded (%zu MiB): %s", sb->lim.memory >> 20, m);
        lua_settop(L, base - 1);
    } else {
        lua_remove(L, base);
    }
    sb->tripped = CDS_SB_OK;
    if (f == CDS_SB_MEMORY) lua_gc(L, LUA_GCCOLLECT);
    if (why) *why = f;
    return rc == LUA_OK ? CDS_OK : CDS_EINTERNAL;
}

cds_rc cds_sandbox_run_privileged(cds_sandbox *sb, const char *src, const char *name, cds_error *err)
{
    lua_State *L = sb->L;
    if (sb->locked) return cds_error_set(err, CDS_EINTERNAL, NULL, "sandbox is locked");
    char chunk[256];
    snprintf(chunk, sizeof chunk, "=%s", name);
    if (luaL_loadbufferx(L, src, strlen(src), chunk, "t") != LUA_OK) {
        cds_error_set(err, CDS_EINTERNAL, NULL, "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return CDS_EINTERNAL;
    }
    /* Its _ENV is the protected globals table itself, so its definitions become globals. */
    lua_rawgeti(L, LUA_REGISTRYINDEX, sb->globals_ref);
    lua_setupvalue(L, -2, 1);
    sb->privileged = true;
    int rc = lua_pcall(L, 0, 0, 0);
    sb->privileged = false;
    if (rc != LUA_OK) {
        cds_error_set(err, CDS_EINTERNAL, NULL, "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return CDS_EINTERNAL;
    }
    return CDS_OK;
}
