/* test_lua_pattern.c — the sandbox's metered string.find/match/gmatch/gsub (lua_pattern.c) give
 * what Lua 5.4's own string library gives, run in a plain lua_State: for every pattern the
 * shipped rules and the prelude use, and patterns for each feature of the manual's §6.4.1
 * (classes, sets, anchors, quantifiers, captures and position captures, back-references, %b,
 * %f, malformed patterns), over subjects that include UTF-8, NUL bytes and unbalanced text; with
 * init arguments, gsub's templates, tables, functions and counts, and gmatch (5.4: init, '^'
 * not an anchor). Results and error messages are compared, without positions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <string.h>

#include "sandbox.h"

typedef struct text { const char *s; size_t n; } text;
#define T(lit) {lit, sizeof(lit) - 1}

static const text subjects[] = {
    T(""), T("warfarin 5 mg tablet"),
    T("Amoxicillin 500 mg (as trihydrate) oral capsule; take 1 capsule twice daily, 250mg at night"),
    T("  padded text  "), T("age>=65"), T("age<2.5"), T("obs:2160-0>1.5"), T("condition:44054006"),
    T("sct:12345"), T("icd10:E11.9*"), T("f(a(b)c)d) (x"), T("THE (quick) brown fox (jumps"), T("aaa"),
    T("^a^b$"), T("a.b-c%d[e]"), T("12345-6"), T("LA12345-6"), T("µg/mL μg"), T("a\0b\0c"),
    T("x=1, y=22, z=333"), T("hello world from Lua"), T("one;two;;three"), T("at or above 5"),
    T("\t\n mixed \r\v\f spaces"), T("\xe9t\xc3\xa9 caf\xc3\xa9"),
};

static const text patterns[] = {
    /* the shipped rules and the prelude */
    T("%-"), T("%S"), T("%a+"), T("%s"), T("%s+$"), T("[^;]+"), T("^%l"), T("^%s+"), T("^%u%d[%w]?%.?[%w]*%*?$"),
    T("^LA%d+%-%d$"), T("^[1-9]%d%d%d%d%d+$"), T("^[^%[]+"), T("^[^/%[]+"), T("^[^:]+"), T("^[a-z0-9][a-z0-9%-]*$"),
    T("^at or "), T("^text:"), T("^(%d+)%-(%d)$"), T("^(%a[%w%-]*):(.+)$"), T("^(%d+)%+(%d+)$"),
    T("^age([<>]=?)(%d+%.?%d*)$"), T("^obs:([%d%-]+)([<>])(%d+%.?%d*)$"), T("^condition:(%d+)$"), T("%s*%b()"),
    T("µ"), T("μ"), T("weight"), T("e"), T("not detected"),
    /* the rule */
    T("(.-)%s+(%d+)%s*mg"),
    /* every feature */
    T(""), T("^"), T("$"), T("^$"), T("."), T(".."), T("a*"), T("a-"), T("a?"), T("a+"), T("^a"), T("a$"), T("$a"), T("a$b"),
    T("^^"), T("%d+"), T("%D+"), T("%w+"), T("%W"), T("%g+"), T("%p"), T("%c"), T("%x+"), T("%u%l+"), T("%z"),
    T("[%a_][%w_]*"), T("[^%s]+"), T("[]]"), T("[^]]+"), T("[a-]"), T("[-a]"), T("[%]]"), T("[%a-]+"), T("[a-c-e]"),
    T("[\x80-\xbf]+"), T("[%d%-]+"), T("(%w+)=(%w+)"), T("(h)(e)(l)(l)(o)"), T("((a)(b))"), T("()a()"), T("()"),
    T("(a)(b)?"), T("(.)%1"), T("(a*(.)%w(%s*))"), T("[a-z]+-"), T("(%s*)$"), T("%f[%w]%w+"), T("%f[%a]"),
    T("%f[%A]"), T("%f[%z]"), T("%b()"), T("%b(("), T("%bab"), T("a\0b"), T("%z+"), T(".-%("), T("(.-)%)"),
    T("%.%d"), T("%%"), T("[%%]"), T("x*y*z*"),
    /* malformed */
    T("%"), T("[a"), T("[^"), T("[]"), T("(()"), T("%b"), T("%ba"), T("%f"), T("%fx"), T(")"), T("("), T("%1"), T("(a)%2"),
    T("(a%1)"), T("(()%1)"),
};

/* Each is a chunk run with S, P as its arguments, in both states; ser() flattens the results. */
static const char *const ops[] = {
    "return ser(pcall(string.find, S, P))",
    "return ser(pcall(string.find, S, P, 3))",
    "return ser(pcall(string.find, S, P, -4))",
    "return ser(pcall(string.find, S, P, 100))",
    "return ser(pcall(string.find, S, P, 1, true))",
    "return ser(pcall(string.match, S, P))",
    "return ser(pcall(string.match, S, P, 2))",
    "return ser(pcall(string.match, S, P, -3))",
    "return ser(pcall(function() local r = {} for a, b in string.gmatch(S, P) do r[#r + 1] = tostring(a) .. ',' .. "
    "tostring(b) end return table.concat(r, ';') end))",
    "return ser(pcall(function() local r = {} for a in string.gmatch(S, P, 4) do r[#r + 1] = tostring(a) end "
    "return table.concat(r, ';') end))",
    "return ser(pcall(string.gsub, S, P, '<%0>'))",
    "return ser(pcall(string.gsub, S, P, '[%1]'))",
    "return ser(pcall(string.gsub, S, P, '%2%1%%'))",
    "return ser(pcall(string.gsub, S, P, '%x'))",
    "return ser(pcall(string.gsub, S, P, 7))",
    "return ser(pcall(string.gsub, S, P, '-', 2))",
    "return ser(pcall(string.gsub, S, P, function(...) local t = {} for i = 1, select('#', ...) do "
    "t[i] = tostring((select(i, ...))) end return table.concat(t, '+') end))",
    "return ser(pcall(string.gsub, S, P, function(a) if tostring(a):find('a') then return false end "
    "if tostring(a):find('e') then return nil end return '#' end))",
    "return ser(pcall(string.gsub, S, P, {a = 'A', ['5'] = 'five', mg = 5, e = false}))",
    "return ser(pcall(string.gsub, S, P, function() return {} end))",
};

static const char prologue[] =
    "local S, P = ...\n"
    "local function ser(ok, ...)\n"
    "  if not ok then return 'error: ' .. (tostring((...)):gsub('^[^:]*:%d+: ', '')) end\n"
    "  local out = {}\n"
    "  for i = 1, select('#', ...) do local v = select(i, ...) out[i] = type(v) .. ' ' .. tostring(v) end\n"
    "  return table.concat(out, ' | ')\n"
    "end\n";

static cds_sandbox *sb;
static lua_State *plain;

static int setup(void **state)
{
    (void)state;
    cds_sb_limits lim = {.memory = 64u << 20, .instructions = 1000000000, .milliseconds = 60000};
    cds_error err;
    sb = cds_sandbox_new(&lim, &err);
    if (!sb) return -1;
    cds_sandbox_lock(sb);
    plain = luaL_newstate();
    luaL_openlibs(plain);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cds_sandbox_free(sb);
    lua_close(plain);
    return 0;
}

/* Runs chunk(S, P) in the sandbox; copies its string result or the failure into out. */
static void run_sandboxed(const char *chunk, const text *s, const text *p, char *out, size_t cap)
{
    cds_error err;
    cds_error_clear(&err);
    if (cds_sandbox_load(sb, chunk, strlen(chunk), "rules/pattern.lua", &err) != CDS_OK) {
        snprintf(out, cap, "load: %s", err.message);
        return;
    }
    lua_State *L = cds_sandbox_L(sb);
    lua_pushlstring(L, s->s, s->n);
    lua_pushlstring(L, p->s, p->n);
    cds_sb_fail why;
    if (cds_sandbox_call(sb, 2, 1, &why, &err) != CDS_OK) {
        snprintf(out, cap, "failed (%d): %s", why, err.message);
        return;
    }
    snprintf(out, cap, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
}

static void run_plain(const char *chunk, const text *s, const text *p, char *out, size_t cap)
{
    if (luaL_loadbufferx(plain, chunk, strlen(chunk), "=plain", "t") != LUA_OK) {
        snprintf(out, cap, "load: %s", lua_tostring(plain, -1));
        lua_pop(plain, 1);
        return;
    }
    lua_pushlstring(plain, s->s, s->n);
    lua_pushlstring(plain, p->s, p->n);
    if (lua_pcall(plain, 2, 1, 0) != LUA_OK) snprintf(out, cap, "failed: %s", lua_tostring(plain, -1));
    else snprintf(out, cap, "%s", lua_tostring(plain, -1));
    lua_pop(plain, 1);
}

/* Printable form of a subject or pattern for failure messages. */
static const char *shown(const text *t, char *buf, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < t->n && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)t->s[i];
        o += (size_t)snprintf(buf + o, cap - o, c < 32 || c > 126 ? "\\x%02x" : "%c", c);
    }
    buf[o] = '\0';
    return buf;
}

static void every_result_matches_the_real_string_library(void **state)
{
    (void)state;
    static char chunk[2048], mine[8192], real[8192];
    size_t cases = 0, differ = 0;
    for (size_t o = 0; o < sizeof ops / sizeof *ops; o++) {
        snprintf(chunk, sizeof chunk, "%s%s", prologue, ops[o]);
        for (size_t pi = 0; pi < sizeof patterns / sizeof *patterns; pi++) {
            for (size_t si = 0; si < sizeof subjects / sizeof *subjects; si++) {
                run_sandboxed(chunk, &subjects[si], &patterns[pi], mine, sizeof mine);
                run_plain(chunk, &subjects[si], &patterns[pi], real, sizeof real);
                cases++;
                if (strcmp(mine, real) == 0) continue;
                if (differ++ < 10) {
                    char sb_[256], pb[256];
                    print_error("%s\n  S=\"%s\" P=\"%s\"\n  sandbox: %s\n  Lua:     %s\n", ops[o],
                                shown(&subjects[si], sb_, sizeof sb_), shown(&patterns[pi], pb, sizeof pb), mine, real);
                }
            }
        }
    }
    if (differ) fail_msg("%zu of %zu cases differ from Lua's string library", differ, cases);
}

/* string.rep is the sandbox's own too (lua_bounded.c: doubling copies, a count-based cap). */
static void string_rep_matches_the_real_one(void **state)
{
    (void)state;
    static const char chunk[] = "local S, P = ...\n"
                                "local out = {}\n"
                                "for n = -1, 9 do out[#out + 1] = S:rep(n) .. '|' .. S:rep(n, P) .. '|' .. P:rep(n, S) end\n"
                                "out[#out + 1] = #S:rep(1000, P) .. ',' .. #S:rep(4097)\n"
                                "return table.concat(out, '/')";
    static char mine[65536], real[65536];
    size_t differ = 0, cases = 0;
    for (size_t si = 0; si < sizeof subjects / sizeof *subjects; si++) {
        for (size_t pi = 0; pi < sizeof patterns / sizeof *patterns; pi += 7) {
            run_sandboxed(chunk, &subjects[si], &patterns[pi], mine, sizeof mine);
            run_plain(chunk, &subjects[si], &patterns[pi], real, sizeof real);
            cases++;
            if (strcmp(mine, real) != 0 && differ++ < 5) print_error("rep differs:\n  %.200s\n  %.200s\n", mine, real);
        }
    }
    if (differ) fail_msg("%zu of %zu string.rep cases differ", differ, cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_result_matches_the_real_string_library),
        cmocka_unit_test(string_rep_matches_the_real_one),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
