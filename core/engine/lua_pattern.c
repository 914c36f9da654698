/* lua_pattern.c — metered Lua 5.4 pattern matching for rules (see lua_pattern.h). Written from
 * the reference manual's description of patterns, not from lstrlib.c. */
#include "lua_pattern.h"

#include <ctype.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "sandbox.h"

#define MAX_CAPTURES 32   /* Lua's LUA_MAXCAPTURES */
#define MAX_DEPTH 200     /* nested items (captures, optional and repeated items): "pattern too complex" */
#define CAP_OPEN (-1)     /* capture length while it is still open */
#define CAP_POSITION (-2) /* a position capture () */

typedef struct matcher {
    lua_State *L;
    const char *s0, *s_end;   /* the subject */
    const char *p_end;        /* the pattern's end */
    int depth;
    int ncap;
    unsigned steps;           /* counted, not yet charged */
    struct { const char *at; ptrdiff_t len; } cap[MAX_CAPTURES];
} matcher;

/* Counts n steps of work (a long comparison or copy counts a step per 16 bytes). */
static void charge(matcher *m, size_t n)
{
    if (n >= CDS_PATTERN_CHARGE_EVERY) {
        cds_sandbox_charge(m->L, n);
        return;
    }
    m->steps += (unsigned)n;
    if (m->steps >= CDS_PATTERN_CHARGE_EVERY) {
        cds_sandbox_charge(m->L, m->steps);
        m->steps = 0;
    }
}

static void step(matcher *m)
{
    if (++m->steps >= CDS_PATTERN_CHARGE_EVERY) {
        cds_sandbox_charge(m->L, m->steps);
        m->steps = 0;
    }
}

static void matcher_init(matcher *m, lua_State *L, const char *s, size_t ls, const char *p, size_t lp)
{
    m->L = L;
    m->s0 = s;
    m->s_end = s + ls;
    m->p_end = p + lp;
    m->depth = 0;
    m->ncap = 0;
    m->steps = 0;
}

/* --- single characters ----------------------------------------------------------------------- */

/* Is c in the class %cl (%a, %d, ...; upper case: the complement; any other: cl itself)? */
static bool in_class(unsigned char c, unsigned char cl)
{
    bool in;
    switch (tolower(cl)) {
    case 'a': in = isalpha(c); break;
    case 'c': in = iscntrl(c); break;
    case 'd': in = isdigit(c); break;
    case 'g': in = isgraph(c); break;
    case 'l': in = islower(c); break;
    case 'p': in = ispunct(c); break;
    case 's': in = isspace(c); break;
    case 'u': in = isupper(c); break;
    case 'w': in = isalnum(c); break;
    case 'x': in = isxdigit(c); break;
    case 'z': in = c == '\0'; break;   /* deprecated in the manual, still matched by Lua 5.4 */
    default: return cl == c;
    }
    return isupper(cl) ? !in : in;
}

/* Is c in the set [...] that opens at p and closes at close? */
static bool in_set(unsigned char c, const char *p, const char *close)
{
    bool member = true;
    p++;
    if (*p == '^') {
        member = false;
        p++;
    }
    for (; p < close; p++) {
        if (*p == '%') {
            p++;
            if (in_class(c, (unsigned char)*p)) return member;
        } else if (p[1] == '-' && p + 2 < close) {
            if ((unsigned char)p[0] <= c && c <= (unsigned char)p[2]) return member;
            p += 2;
        } else if ((unsigned char)*p == c) {
            return member;
        }
    }
    return !member;
}

/* Past the single-character class at p: 'x', '.', '%x' or a set. */
static const char *class_end(matcher *m, const char *p)
{
    char c = *p++;
    if (c == '%') {
        if (p >= m->p_end) luaL_error(m->L, "malformed pattern (ends with '%%')");
        return p + 1;
    }
    if (c != '[') return p;
    if (p < m->p_end && *p == '^') p++;
    /* The set's first character is a member even when it is ']' ("[]]", "[^]]"). */
    for (bool first = true;; first = false) {
        if (p >= m->p_end) luaL_error(m->L, "malformed pattern (missing ']')");
        if (!first && *p == ']') return p + 1;
        if (*p++ == '%' && p < m->p_end) p++;   /* an escape: "%]" */
    }
}

/* Does the subject character at s match the class from p to ep? */
static bool single(const matcher *m, const char *s, const char *p, const char *ep)
{
    if (s >= m->s_end) return false;
    unsigned char c = (unsigned char)*s;
    switch (*p) {
    case '.': return true;
    case '%': return in_class(c, (unsigned char)p[1]);
    case '[': return in_set(c, p, ep - 1);
    default: return (unsigned char)*p == c;
    }
}

/* --- the matcher ----------------------------------------------------------------------------- */

static const char *match(matcher *m, const char *s, const char *p);

/* class* and class+ (after its first): as many as possible, then give back one at a time. */
static const char *longest(matcher *m, const char *s, const char *p, const char *ep)
{
    size_t n = 0;
    while (single(m, s + n, p, ep)) {
        n++;
        step(m);
    }
    for (;;) {
        const char *r = match(m, s + n, ep + 1);
        if (r || n == 0) return r;
        n--;
    }
}

/* class-: as few as possible, one more at a time. */
static const char *shortest(matcher *m, const char *s, const char *p, const char *ep)
{
    for (;;) {
        const char *r = match(m, s, ep + 1);
        if (r) return r;
        if (!single(m, s, p, ep)) return NULL;
        s++;
    }
}

static const char *open_capture(matcher *m, const char *s, const char *p, ptrdiff_t kind)
{
    if (m->ncap >= MAX_CAPTURES) luaL_error(m->L, "too many captures");
    m->cap[m->ncap].at = s;
    m->cap[m->ncap].len = kind;
    m->ncap++;
    const char *r = match(m, s, p);
    if (!r) m->ncap--;
    return r;
}

static const char *close_capture(matcher *m, const char *s, const char *p)
{
    int i = m->ncap - 1;
    while (i >= 0 && m->cap[i].len != CAP_OPEN) i--;
    if (i < 0) luaL_error(m->L, "invalid pattern capture");
    m->cap[i].len = s - m->cap[i].at;
    const char *r = match(m, s, p);
    if (!r) m->cap[i].len = CAP_OPEN;
    return r;
}

/* %1-%9 in a pattern: the text of that (closed) capture again. */
static const char *same_as_capture(matcher *m, const char *s, char digit)
{
    int i = digit - '1';
    if (i < 0 || i >= m->ncap || m->cap[i].len == CAP_OPEN) luaL_error(m->L, "invalid capture index %%%d", i + 1);
    if (m->cap[i].len == CAP_POSITION) return NULL;   /* as Lua: a position never matches text */
    size_t len = (size_t)m->cap[i].len;
    charge(m, len / 16);
    if ((size_t)(m->s_end - s) >= len && memcmp(m->cap[i].at, s, len) == 0) return s + len;
    return NULL;
}

/* %bxy at s: from an x to its balancing y. */
static const char *balanced(matcher *m, const char *s, const char *p)
{
    if (p + 1 >= m->p_end) luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
    if (s >= m->s_end || *s != p[0]) return NULL;
    int open = 1;
    while (++s < m->s_end) {
        step(m);
        if (*s == p[1]) {
            if (--open == 0) return s + 1;
        } else if (*s == p[0]) {
            open++;
        }
    }
    return NULL;
}

/* %f[set] at s: the previous character is not in the set and the next one is (the subject's
 * ends count as '\0'). */
static bool frontier(matcher *m, const char *s, const char *set, const char *ep)
{
    unsigned char before = s == m->s0 ? '\0' : (unsigned char)s[-1];
    unsigned char after = s < m->s_end ? (unsigned char)*s : '\0';
    return !in_set(before, set, ep - 1) && in_set(after, set, ep - 1);
}

/* Matches the pattern from p against the subject from s: the end of the match, or NULL. */
static const char *match(matcher *m, const char *s, const char *p)
{
    if (++m->depth > MAX_DEPTH) luaL_error(m->L, "pattern too complex");
    const char *r = NULL;
    for (;;) {
        step(m);
        if (p == m->p_end) { r = s; break; }
        if (*p == '(') {
            bool position = p + 1 < m->p_end && p[1] == ')';
            r = open_capture(m, s, p + (position ? 2 : 1), position ? CAP_POSITION : CAP_OPEN);
            break;
        }
        if (*p == ')') { r = close_capture(m, s, p + 1); break; }
        if (*p == '$' && p + 1 == m->p_end) { r = s == m->s_end ? s : NULL; break; }
        if (*p == '%' && p + 1 < m->p_end) {
            if (p[1] == 'b') {
                if (!(s = balanced(m, s, p + 2))) break;
                p += 4;
                continue;
            }
            if (p[1] == 'f') {
                p += 2;
                if (p >= m->p_end || *p != '[') luaL_error(m->L, "missing '[' after '%%f' in pattern");
                const char *ep = class_end(m, p);
                if (!frontier(m, s, p, ep)) break;
                p = ep;
                continue;
            }
            if (isdigit((unsigned char)p[1])) {
                if (!(s = same_as_capture(m, s, p[1]))) break;
                p += 2;
                continue;
            }
        }
        const char *ep = class_end(m, p);
        char op = ep < m->p_end ? *ep : '\0';
        if (!single(m, s, p, ep)) {
            if (op == '*' || op == '?' || op == '-') {   /* zero repetitions */
                p = ep + 1;
                continue;
            }
            break;
        }
        if (op == '?') {
            if ((r = match(m, s + 1, ep + 1))) break;
            p = ep + 1;
            continue;
        }
        if (op == '+') { r = longest(m, s + 1, p, ep); break; }
        if (op == '*') { r = longest(m, s, p, ep); break; }
        if (op == '-') { r = shortest(m, s, p, ep); break; }
        s++;
        p = ep;
    }
    m->depth--;
    return r;
}

/* Tries the pattern at s from scratch: the end of the match, or NULL. */
static const char *match_at(matcher *m, const char *s, const char *p)
{
    m->ncap = 0;
    m->depth = 0;
    return match(m, s, p);
}

/* --- results --------------------------------------------------------------------------------- */

/* Pushes capture i (a string, or a position as an integer); with no captures, capture 0 is the
 * whole match s..e. */
static void push_capture(matcher *m, int i, const char *s, const char *e)
{
    if (i >= m->ncap) {
        if (i != 0) luaL_error(m->L, "invalid capture index %%%d", i + 1);
        lua_pushlstring(m->L, s, (size_t)(e - s));
        return;
    }
    ptrdiff_t len = m->cap[i].len;
    if (len == CAP_OPEN) luaL_error(m->L, "unfinished capture");
    if (len == CAP_POSITION) lua_pushinteger(m->L, (lua_Integer)(m->cap[i].at - m->s0) + 1);
    else lua_pushlstring(m->L, m->cap[i].at, (size_t)len);
}

/* Pushes every capture, or the whole match when there are none and s is given. */
static int push_captures(matcher *m, const char *s, const char *e)
{
    int n = m->ncap == 0 && s ? 1 : m->ncap;
    luaL_checkstack(m->L, n, "too many captures");
    for (int i = 0; i < n; i++) push_capture(m, i, s, e);
    return n;
}

/* A 1-based init (negative: from the end) as a 0-based offset; more than len when past the end. */
static size_t start_offset(lua_Integer init, size_t len)
{
    if (init > 0) return (size_t)init - 1;
    if (init == 0 || init < -(lua_Integer)len) return 0;
    return len + (size_t)init;   /* init is negative */
}

static bool has_specials(const char *p, size_t lp)
{
    for (size_t i = 0; i < lp; i++)
        if (p[i] && strchr("^$*+?.([%-", p[i])) return true;
    return false;
}

/* Plain search, each candidate position charged. */
static const char *find_plain(matcher *m, const char *s, size_t ls, const char *p, size_t lp)
{
    if (lp == 0) return s;
    if (lp > ls) return NULL;
    const char *last = s + (ls - lp);
    while (s <= last) {
        const char *c = memchr(s, *p, (size_t)(last - s) + 1);
        if (!c) return NULL;
        charge(m, 1 + lp / 16);
        if (memcmp(c + 1, p + 1, lp - 1) == 0) return c;
        s = c + 1;
    }
    return NULL;
}

static int find_or_match(lua_State *L, bool find)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_offset(luaL_optinteger(L, 3, 1), ls);
    if (init > ls) {
        luaL_pushfail(L);
        return 1;
    }
    matcher m;
    matcher_init(&m, L, s, ls, p, lp);
    if (find && (lua_toboolean(L, 4) || !has_specials(p, lp))) {
        const char *at = find_plain(&m, s + init, ls - init, p, lp);
        if (at) {
            lua_pushinteger(L, (lua_Integer)(at - s) + 1);
            lua_pushinteger(L, (lua_Integer)(at - s) + (lua_Integer)lp);
            return 2;
        }
        luaL_pushfail(L);
        return 1;
    }
    bool anchored = lp > 0 && *p == '^';
    const char *at = s + init;
    do {
        const char *e = match_at(&m, at, p + anchored);
        if (e) {
            if (!find) return push_captures(&m, at, e);
            lua_pushinteger(L, (lua_Integer)(at - s) + 1);
            lua_pushinteger(L, (lua_Integer)(e - s));
            return push_captures(&m, NULL, NULL) + 2;
        }
    } while (at++ < m.s_end && !anchored);
    luaL_pushfail(L);
    return 1;
}

static int rule_find(lua_State *L) { return find_or_match(L, true); }
static int rule_match(lua_State *L) { return find_or_match(L, false); }

/* gmatch's iterator; upvalues: subject, pattern, state. A '^' is not an anchor here (5.4). */
typedef struct gmatch_state {
    size_t next;        /* offset to try from */
    ptrdiff_t last;     /* end offset of the last match, -1 before the first */
} gmatch_state;

static int gmatch_next(lua_State *L)
{
    size_t ls, lp;
    const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
    const char *p = lua_tolstring(L, lua_upvalueindex(2), &lp);
    gmatch_state *g = lua_touserdata(L, lua_upvalueindex(3));
    matcher m;
    matcher_init(&m, L, s, ls, p, lp);
    for (size_t at = g->next; at <= ls; at++) {
        const char *e = match_at(&m, s + at, p);
        if (e && e - s != g->last) {
            g->next = (size_t)(e - s);
            g->last = e - s;
            return push_captures(&m, s + at, e);
        }
    }
    g->next = ls + 1;   /* done: further calls scan nothing */
    return 0;
}

static int rule_gmatch(lua_State *L)
{
    size_t ls;
    luaL_checklstring(L, 1, &ls);
    luaL_checkstring(L, 2);
    size_t init = start_offset(luaL_optinteger(L, 3, 1), ls);
    lua_settop(L, 2);
    gmatch_state *g = lua_newuserdatauv(L, sizeof *g, 0);
    g->next = init > ls ? ls + 1 : init;
    g->last = -1;
    lua_pushcclosure(L, gmatch_next, 3);
    return 1;
}

/* Appends the replacement string (argument 3) for the match s..e: %0 the match, %1-%9 the
 * captures, %% a '%'. */
static void add_template(matcher *m, luaL_Buffer *b, const char *s, const char *e)
{
    lua_State *L = m->L;
    size_t lr;
    const char *r = lua_tolstring(L, 3, &lr);
    charge(m, lr / 16);
    for (size_t i = 0; i < lr; i++) {
        if (r[i] != '%') {
            luaL_addchar(b, r[i]);
            continue;
        }
        char d = ++i < lr ? r[i] : '\0';
        if (d == '%') {
            luaL_addchar(b, '%');
        } else if (d == '0') {
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (isdigit((unsigned char)d)) {
            push_capture(m, d - '1', s, e);
            luaL_tolstring(L, -1, NULL);   /* a position capture becomes its number's text */
            lua_remove(L, -2);
            luaL_addvalue(b);
        } else {
            luaL_error(L, "invalid use of '%%' in replacement string");
        }
    }
}

/* Appends the replacement for the match s..e: a template, or the value a table or function gives
 * for it (false or nil: the match is kept). */
static void add_replacement(matcher *m, luaL_Buffer *b, const char *s, const char *e, int kind)
{
    lua_State *L = m->L;
    if (kind == LUA_TSTRING || kind == LUA_TNUMBER) {
        add_template(m, b, s, e);
        return;
    }
    if (kind == LUA_TFUNCTION) {   /* Lua code: the count hook meters it */
        lua_pushvalue(L, 3);
        int n = push_captures(m, s, e);
        lua_call(L, n, 1);
    } else {
        push_capture(m, 0, s, e);
        lua_gettable(L, 3);
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
        return;
    }
    if (!lua_isstring(L, -1)) luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    size_t l;
    lua_tolstring(L, -1, &l);
    charge(m, l / 16);
    luaL_addvalue(b);
}

static int rule_gsub(lua_State *L)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    int kind = lua_type(L, 3);
    lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
    luaL_argexpected(L, kind == LUA_TNUMBER || kind == LUA_TSTRING || kind == LUA_TFUNCTION || kind == LUA_TTABLE, 3,
                     "string/function/table");
    bool anchored = lp > 0 && *p == '^';
    if (anchored) p++, lp--;
    matcher m;
    matcher_init(&m, L, s, ls, p, lp);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    const char *at = s, *last = NULL;
    lua_Integer n = 0;
    while (n < max) {
        const char *e = match_at(&m, at, p);
        if (e && e != last) {   /* never an empty match right after the previous match */
            n++;
            add_replacement(&m, &b, at, e, kind);
            at = last = e;
        } else if (at < m.s_end) {
            luaL_addchar(&b, *at++);
        } else {
            break;
        }
        if (anchored) break;
    }
    luaL_addlstring(&b, at, (size_t)(m.s_end - at));
    luaL_pushresult(&b);
    lua_pushinteger(L, n);
    return 2;
}

void cds_lua_pattern_install(lua_State *L, int lib)
{
    static const luaL_Reg fns[] = {{"find", rule_find}, {"match", rule_match}, {"gmatch", rule_gmatch},
                                   {"gsub", rule_gsub}, {NULL, NULL}};
    lib = lua_absindex(L, lib);
    for (const luaL_Reg *f = fns; f->name; f++) {
        lua_pushcfunction(L, f->func);
        lua_setfield(L, lib, f->name);
    }
}
