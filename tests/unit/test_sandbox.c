/* test_sandbox.c — one hostile script per threat; each must be stopped with a clear error and
 * leave the next evaluation in the same state unaffected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sandbox.h"

static cds_sandbox *sb;

/* The instruction budget and the memory ceiling are what most tests here are about: their time
 * budget (a minute) cannot be reached first, however slow or busy the machine. */
#define UNREACHABLE_MS 60000

static int setup(void **state)
{
    (void)state;
    cds_sb_limits lim = {.memory = 16u << 20, .instructions = 2000000, .milliseconds = UNREACHABLE_MS};
    cds_error err;
    sb = cds_sandbox_new(&lim, &err);
    if (!sb) return -1;
    cds_sandbox_lock(sb);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cds_sandbox_free(sb);
    return 0;
}

/* Runs a chunk; returns the failure kind and copies the message. */
static cds_sb_fail run(const char *src, char *msg, size_t n)
{
    cds_error err;
    cds_error_clear(&err);
    if (cds_sandbox_load(sb, src, strlen(src), "rules/test.lua", &err) != CDS_OK) {
        snprintf(msg, n, "%s", err.message);
        return CDS_SB_ERROR;
    }
    cds_sb_fail why = CDS_SB_OK;
    cds_sandbox_call(sb, 0, 0, &why, &err);
    snprintf(msg, n, "%s", why == CDS_SB_OK ? "" : err.message);
    return why;
}

/* After every hostile script, an ordinary computation still gives the right answer. */
static void assert_state_healthy(void)
{
    char msg[512];
    const char *src = "local t = {} for i = 1, 100 do t[i] = i * 2 end\n"
                      "assert(#t == 100 and t[50] == 100 and string.upper('ok') == 'OK')";
    assert_int_equal(run(src, msg, sizeof msg), CDS_SB_OK);
}

static void expect(const char *src, cds_sb_fail want, const char *needle)
{
    char msg[512];
    cds_sb_fail got = run(src, msg, sizeof msg);
    if (got != want || !strstr(msg, needle)) fail_msg("script: %s\nwant %d '%s', got %d '%s'", src, want, needle, got, msg);
    assert_state_healthy();
}

static void *free_sandbox(void *p)
{
    cds_sandbox_free(p);
    return NULL;
}

/* A __gc finaliser would run outside the rule's budget, from whatever allocation triggers a
 * collection - or from lua_close at a reload, where an endless one hung the process. */
static void a_gc_finaliser_is_refused(void **s)
{
    (void)s;
    expect("setmetatable({}, {__gc = function() while true do end end})", CDS_SB_ERROR, "__gc finalisers are not allowed");
    /* other metatables still work; __gc added later does not mark the table (Lua 5.4) */
    char msg[512];
    assert_int_equal(run("local t = setmetatable({}, {__index = {a = 1}}) assert(t.a == 1)", msg, sizeof msg), CDS_SB_OK);
    /* a state whose rule tried one closes promptly */
    cds_sb_limits lim = {.memory = 16u << 20, .instructions = 2000000, .milliseconds = UNREACHABLE_MS};
    cds_error err;
    cds_sandbox *other = cds_sandbox_new(&lim, &err);
    assert_non_null(other);
    cds_sandbox_lock(other);
    const char *src = "local mt = {} local t = setmetatable({}, mt) mt.__gc = function() while true do end end\n"
                      "pcall(setmetatable, {}, {__gc = function() while true do end end})";
    assert_int_equal(cds_sandbox_load(other, src, strlen(src), "rules/test.lua", &err), CDS_OK);
    cds_sb_fail why = CDS_SB_OK;
    assert_int_equal(cds_sandbox_call(other, 0, 0, &why, &err), CDS_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, free_sandbox, other), 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    if (pthread_timedjoin_np(t, NULL, &until) != 0) fail_msg("closing the Lua state ran an endless finaliser");
}

static void an_endless_loop_is_stopped(void **s) { (void)s; expect("while true do end", CDS_SB_BUDGET, "budget exceeded"); }

static void an_endless_loop_inside_pcall_is_stopped(void **s)
{
    (void)s;
    expect("while true do pcall(function() while true do end end) end", CDS_SB_BUDGET, "budget exceeded");
}

static void pcall_cannot_swallow_the_budget(void **s)
{
    (void)s;
    expect("local ok = pcall(function() while true do end end)\nlocal x = 0 for i = 1, 10 do x = x + i end",
           CDS_SB_BUDGET, "budget exceeded");
}

static void a_memory_bomb_is_stopped(void **s)
{
    (void)s;
    expect("local t = {} local i = 0 while true do i = i + 1 t[i] = ('x'):rep(100000) .. i end",
           CDS_SB_MEMORY, "memory limit");
}

/* Recycled small blocks (the allocator's free lists) keep contents intact across growth and
 * shrinking through every size class, and the memory count returns to where it was. */
static void recycled_memory_keeps_values_intact(void **s)
{
    (void)s;
    lua_gc(cds_sandbox_L(sb), LUA_GCCOLLECT);
    size_t before = cds_sandbox_memory(sb);
    char msg[512];
    const char *src =
        "for round = 1, 2 do\n"
        "  local t = {}\n"
        "  for i = 1, 1500 do\n"
        "    local row = {}\n"
        "    for k = 1, i % 40 do row[k] = ('v' .. k):rep(i % 7 + 1) end\n"   /* tables grow through the classes */
        "    t[i] = {row = row, s = ('s'):rep(i % 300), n = i}\n"
        "  end\n"
        "  for i = 1, 1500 do\n"
        "    local e = t[i]\n"
        "    assert(e.n == i and #e.s == i % 300 and #e.row == i % 40)\n"
        "    for k = 1, #e.row do assert(e.row[k] == ('v' .. k):rep(i % 7 + 1)) end\n"
        "  end\n"
        "  t = nil\n"
        "end";
    if (run(src, msg, sizeof msg) != CDS_SB_OK) fail_msg("%s", msg);
    lua_gc(cds_sandbox_L(sb), LUA_GCCOLLECT);
    size_t after = cds_sandbox_memory(sb);
    if (after > before + 64 * 1024) fail_msg("memory count %zu after, %zu before", after, before);
    assert_state_healthy();
}

static void a_string_rep_bomb_is_refused(void **s)
{
    (void)s;
    expect("local s = string.rep('x', 2^31)", CDS_SB_ERROR, "too large");
    expect("local s = ('x'):rep(1e9, ',')", CDS_SB_ERROR, "too large");
}

static void a_concatenation_bomb_is_stopped(void **s)
{
    (void)s;
    expect("local s = 'xxxxxxxxxxxxxxxx' while true do s = s .. s end", CDS_SB_MEMORY, "memory limit");
    expect("local t = {} for i = 1, 60 do t[i] = ('y'):rep(100000) end return table.concat(t)", CDS_SB_ERROR,
           "too large");
}

/* Lua's own pattern functions ran inside one C call where the hook never fires; the sandbox's
 * matcher charges its steps to the budget (issue 22 item 1). Each of these ran for seconds to
 * hours before. */
static void a_backtracking_pattern_is_stopped(void **s)
{
    (void)s;
    expect("return ('a'):rep(50):find(('a?'):rep(50) .. ('a'):rep(50))", CDS_SB_BUDGET, "budget exceeded");
}

static void the_issues_dose_pattern_over_60_kb_is_stopped(void **s)
{
    (void)s;
    expect("local text = ('warfarin sodium tablet '):rep(2800)\n"
           "return text:match('(.-)%s+(%d+)%s*mg')",
           CDS_SB_BUDGET, "rules/test.lua:2: instruction budget exceeded");
}

static void nested_lazy_repetitions_are_stopped(void **s)
{
    (void)s;
    expect("return (('a'):rep(5000)):find('.-.-.-.-b')", CDS_SB_BUDGET, "budget exceeded");
    expect("return (('a '):rep(20000)):match('^(.-)%s*(.-)%s*(.-)x$')", CDS_SB_BUDGET, "budget exceeded");
}

static void a_balance_over_a_long_unbalanced_subject_is_stopped(void **s)
{
    (void)s;
    expect("return (('('):rep(60000)):find('%b()')", CDS_SB_BUDGET, "budget exceeded");
}

static void gsub_with_a_function_and_gmatch_loops_are_stopped(void **s)
{
    (void)s;
    expect("local n = 0 local r = (('a'):rep(60000)):gsub('(.-)b', function(x) n = n + 1 return x end) return r",
           CDS_SB_BUDGET, "budget exceeded");
    expect("for x in (('a'):rep(60000)):gmatch('.-b') do end", CDS_SB_BUDGET, "budget exceeded");
    /* a function replacement is Lua code: the hook meters it as before */
    expect("return (('a'):rep(100)):gsub('a', function() while true do end end)", CDS_SB_BUDGET, "budget exceeded");
    /* pcall around the matcher does not swallow it */
    expect("while true do pcall(string.find, ('a'):rep(5000), '.-.-b') end", CDS_SB_BUDGET, "budget exceeded");
}

static void a_string_rep_of_the_empty_string_is_refused_at_once(void **s)
{
    (void)s;
    expect("local s = string.rep('', 1e15)", CDS_SB_ERROR, "string.rep result too large");
    expect("local s = string.rep('', 1e15, '')", CDS_SB_ERROR, "string.rep result too large");
}

static void library_loops_set_by_a_number_are_charged_first(void **s)
{
    (void)s;
    expect("table.move({}, 1, 1e15, 1)", CDS_SB_BUDGET, "budget exceeded");
    expect("table.move({}, 1, 1e15, 1, {})", CDS_SB_BUDGET, "budget exceeded");
    expect("return table.concat({}, '', 1, 1e15)", CDS_SB_ERROR, "too many elements");
    expect("return table.unpack({}, 1, 1e7)", CDS_SB_BUDGET, "budget exceeded");
    expect("local t = {} for i = 1, 300000 do t[i] = -i end table.sort(t)", CDS_SB_BUDGET, "budget exceeded");
    expect("local t = {} for i = 1, 200000 do t[i] = i end while true do table.insert(t, 1, 0) table.remove(t, 1) end",
           CDS_SB_BUDGET, "budget exceeded");
    /* bounded by Lua itself, checked here so a Lua upgrade that lifts a limit is noticed */
    expect("return string.format('%999d', 1)", CDS_SB_ERROR, "invalid conversion");
    expect("local s = ('x'):rep(4e6) return s:byte(1, -1)", CDS_SB_ERROR, "string slice too long");
    expect("return utf8.char(table.unpack({}, 1, 1e6))", CDS_SB_ERROR, "too many results to unpack");
    expect("local t = {} for i = 1, 100000 do t[i] = 0x10FFFF end return #utf8.char(table.unpack(t))", CDS_SB_OK, "");
    expect("local t = {} for i = 1, 1000 do t[i] = i end table.sort(t, function(a, b) error('cmp') end)", CDS_SB_ERROR,
           "cmp");
    expect("local t = {} for i = 1, 1000 do t[i] = i end table.sort(t, function(a, b) return true end)", CDS_SB_ERROR,
           "invalid order function");
    expect("local t = {} for i = 1, 1000 do t[i] = i end table.sort(t, function(a, b) while true do end end)",
           CDS_SB_BUDGET, "budget exceeded");
    /* ordinary uses are untouched */
    char msg[512];
    const char *ok = "local t = {3, 1, 2} table.sort(t) table.insert(t, 1, 0) table.remove(t, 2)\n"
                     "assert(table.concat(t, ',') == '0,2,3' and select('#', table.unpack(t)) == 3)\n"
                     "assert(('ab'):rep(3, '-') == 'ab-ab-ab' and utf8.len('caf\\u{e9}') == 4)\n"
                     "assert(table.concat(table.move({1, 2, 3}, 1, 3, 2, {}), ',', 2, 4) == '1,2,3')";
    if (run(ok, msg, sizeof msg) != CDS_SB_OK) fail_msg("%s", msg);
}

/* Issue 22 item 14: a budget used up at a file's top level names the file and line (the hook's
 * error had no position there). */
static void a_budget_error_names_the_rule_line(void **s)
{
    (void)s;
    expect("local x = 0\nwhile true do\n  x = x + 1\nend", CDS_SB_BUDGET, "rules/test.lua:3: instruction budget exceeded");
    expect("local t = {\n  n = ('x'):rep(9000):find('.-.-.-y'),\n}", CDS_SB_BUDGET,
           "rules/test.lua:2: instruction budget exceeded");
}

static void deep_recursion_is_stopped(void **s)
{
    (void)s;
    /* Either Lua's own stack limit or the memory ceiling stops it first; both are clean errors. */
    char msg[512];
    cds_sb_fail f = run("local function f(n) return 1 + f(n + 1) end return f(1)", msg, sizeof msg);
    assert_true((f == CDS_SB_ERROR && strstr(msg, "stack overflow")) || (f == CDS_SB_MEMORY && strstr(msg, "memory limit")));
    assert_state_healthy();
}

static void writing_a_global_is_an_error_naming_it(void **s)
{
    (void)s;
    expect("severity = 'high'", CDS_SB_ERROR, "assignment to global 'severity'");
}

static void reading_an_undeclared_global_is_an_error_naming_it(void **s)
{
    (void)s;
    expect("local x = severty", CDS_SB_ERROR, "undeclared global 'severty'");
}

static void library_tables_are_read_only(void **s)
{
    (void)s;
    expect("string.upper = function() return 'pwned' end", CDS_SB_ERROR, "read-only");
    expect("table.insert = nil", CDS_SB_ERROR, "read-only");
    expect("math.pi = 3", CDS_SB_ERROR, "read-only");
    /* and nothing changed for the next script */
    char msg[256];
    assert_int_equal(run("assert(string.upper('a') == 'A' and math.pi > 3.14)", msg, sizeof msg), CDS_SB_OK);
}

static void the_string_metatable_cannot_be_tampered_with(void **s)
{
    (void)s;
    expect("getmetatable('').__index = { upper = function() return 'pwned' end }", CDS_SB_ERROR, "index");
    expect("setmetatable(string, {})", CDS_SB_ERROR, "");
    char msg[256];
    assert_int_equal(run("assert(('abc'):upper() == 'ABC')", msg, sizeof msg), CDS_SB_OK);
}

static void rawset_cannot_bypass_read_only_tables(void **s)
{
    (void)s;
    expect("rawset(string, 'upper', nil)", CDS_SB_ERROR, "blocked: rawset");
}

static void binary_chunks_are_refused(void **s)
{
    (void)s;
    char msg[256];
    const char chunk[] = "\x1bLua\x54\x00\x19\x93\r\n\x1a\n";
    cds_error err;
    cds_error_clear(&err);
    assert_int_not_equal(cds_sandbox_load(sb, chunk, sizeof chunk - 1, "rules/evil.lua", &err), CDS_OK);
    assert_non_null(strstr(err.message, "binary"));
    expect("local f = string.dump(function() end)", CDS_SB_ERROR, "blocked: string.dump");
    expect("load('return 1')", CDS_SB_ERROR, "blocked: load");
    (void)msg;
}

static void os_io_require_and_friends_are_blocked(void **s)
{
    (void)s;
    expect("os.execute('touch /tmp/cdsd-pwned')", CDS_SB_ERROR, "blocked: os.execute");
    expect("io.open('/etc/passwd')", CDS_SB_ERROR, "blocked: io.open");
    expect("require('os')", CDS_SB_ERROR, "blocked: require");
    expect("dofile('/etc/passwd')", CDS_SB_ERROR, "blocked: dofile");
    expect("loadfile('/etc/passwd')", CDS_SB_ERROR, "blocked: loadfile");
    expect("debug.getinfo(1)", CDS_SB_ERROR, "blocked: debug.getinfo");
    expect("package.loadlib('libc.so.6', 'system')", CDS_SB_ERROR, "blocked: package.loadlib");
    expect("collectgarbage('stop')", CDS_SB_ERROR, "blocked: collectgarbage");
    expect("coroutine.wrap(function() while true do end end)()", CDS_SB_ERROR, "blocked: coroutine.wrap");
    expect("math.random()", CDS_SB_ERROR, "blocked: math.random");
}

static void the_global_allow_list_is_exact(void **s)
{
    (void)s;
    /* Every name a rule can read, and nothing else. Fails when something is added. */
    const char *src =
        "local allowed = {'assert','error','ipairs','next','pairs','pcall','select','tonumber','tostring',\n"
        " 'type','xpcall','rawequal','rawlen','rawget','getmetatable','setmetatable','_VERSION','string',\n"
        " 'table','math','utf8'}\n"
        "for _, k in ipairs(allowed) do assert(_ENV[k] ~= nil, k) end\n"
        "for _, k in ipairs({'_G','print','gc','rawset','require','io','os'}) do\n"
        "  local ok, e = pcall(function() local f = _ENV[k]; if type(f) == 'function' then f() elseif type(f) == 'table' then return f.x end end)\n"
        "  assert(not ok, k .. ' should not be usable')\n"
        "end";
    char msg[512];
    cds_sb_fail f = run(src, msg, sizeof msg);
    if (f != CDS_SB_OK) fail_msg("%s", msg);
}

static void a_time_budget_stops_slow_code(void **s)
{
    (void)s;
    cds_sb_limits lim = {.memory = 16u << 20, .instructions = 1000000000000ull, .milliseconds = 20};
    cds_error err;
    cds_sandbox *slow = cds_sandbox_new(&lim, &err);
    assert_non_null(slow);
    const char *src = "while true do end";
    assert_int_equal(cds_sandbox_load(slow, src, strlen(src), "rules/slow.lua", &err), CDS_OK);
    cds_sb_fail why;
    cds_sandbox_call(slow, 0, 0, &why, &err);   /* returning at all is the point: it stops */
    assert_int_equal(why, CDS_SB_TIME);
    assert_non_null(strstr(err.message, "time budget exceeded (20 ms"));
    cds_sandbox_free(slow);
}

/* CPU milliseconds this thread has used. */
static double thread_cpu_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Whatever a rule calls, it ends within its time budget plus a small margin (README: "within
 * the budget + 10 ms"): each script here spends its time inside library C calls (the matcher,
 * long-string comparisons, copies, utf8 scans), where the count hook alone never looked at the
 * clock. The assert allows 10x the stated margin; the measured overshoot is printed. */
static void calls_in_c_end_within_the_time_budget(void **s)
{
    (void)s;
    static const char *const scripts[] = {
        "local t = ('warfarin sodium tablet '):rep(2800) return t:match('(.-)%s+(%d+)%s*mg')",
        "return (('('):rep(60000)):find('%b()')",
        "return (('a'):rep(60000)):gsub('(.-)b', '%1')",
        "local a, b = ('x'):rep(4e6), ('x'):rep(4e6) a = a .. a b = b .. b\n"
        "local n = 0 while true do if a == b then n = n + 1 end end",
        "local a = ('x'):rep(4e6) while true do local u = a:upper() end",
        "local a = ('x'):rep(4e6) while true do local n = utf8.len(a) end",
        "local a = ('x'):rep(4e6) while true do local n = a:find('y', 1, true) end",
    };
    const double budget = 20, margin = 10;
    for (size_t i = 0; i < sizeof scripts / sizeof *scripts; i++) {
        cds_sb_limits lim = {.memory = 64u << 20, .instructions = 1000000000000ull, .milliseconds = budget};
        cds_error err;
        cds_sandbox *slow = cds_sandbox_new(&lim, &err);
        assert_non_null(slow);
        cds_sandbox_lock(slow);
        assert_int_equal(cds_sandbox_load(slow, scripts[i], strlen(scripts[i]), "rules/slow.lua", &err), CDS_OK);
        cds_sb_fail why;
        double cpu0 = thread_cpu_ms();
        cds_sandbox_call(slow, 0, 0, &why, &err);
        double cpu = thread_cpu_ms() - cpu0;
        cds_sandbox_free(slow);
        print_message("  %.1f ms of CPU (budget %.0f ms): %s\n", cpu, budget, err.message);
        if (why != CDS_SB_TIME) fail_msg("script %zu: want the time budget, got %d: %s", i, why, err.message);
        if (cpu > budget + 10 * margin) fail_msg("script %zu ran %.1f ms for a %.0f ms budget", i, cpu, budget);
    }
}

/* Sleeps without using CPU: what a rule's thread sees when the host is busy and it waits for a core. */
static int sleep_ms(lua_State *L)
{
    lua_Integer ms = luaL_checkinteger(L, 1);
    struct timespec t = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {}
    return 0;
}

/* Runs src (which may call sleep_ms) under a 100 ms time budget; returns why it stopped. (With
 * 20 ms, a 60 ms sleep left 140 ms before the wall-clock backstop for the thread to get a core
 * back, and a loaded CI machine sometimes took longer.) */
static cds_sb_fail run_with_sleep(const char *src, char *msg, size_t n)
{
    cds_sb_limits lim = {.memory = 16u << 20, .instructions = 1000000000000ull, .milliseconds = 100};
    cds_error err;
    cds_sandbox *other = cds_sandbox_new(&lim, &err);
    assert_non_null(other);
    lua_pushcfunction(cds_sandbox_L(other), sleep_ms);
    cds_sandbox_set_global(other, "sleep_ms");
    cds_sandbox_lock(other);
    assert_int_equal(cds_sandbox_load(other, src, strlen(src), "rules/test.lua", &err), CDS_OK);
    cds_sb_fail why = CDS_SB_OK;
    cds_sandbox_call(other, 0, 0, &why, &err);
    snprintf(msg, n, "%s", why == CDS_SB_OK ? "" : err.message);
    cds_sandbox_free(other);
    return why;
}

/* The time budget counts the CPU time of the evaluating thread: a rule kept off the CPU for three
 * budgets (a busy host) and then doing little is not failed. */
static void time_off_the_cpu_does_not_count_against_the_budget(void **s)
{
    (void)s;
    char msg[512];
    cds_sb_fail f = run_with_sleep("sleep_ms(300) local x = 0 for i = 1, 10000 do x = x + i end", msg, sizeof msg);
    if (f != CDS_SB_OK) fail_msg("stopped (%d): %s", f, msg);
}

/* A rule held up for more than ten budgets by the wall clock is stopped all the same. */
static void a_rule_held_up_past_ten_budgets_is_stopped(void **s)
{
    (void)s;
    char msg[512];
    cds_sb_fail f = run_with_sleep("sleep_ms(1200) local x = 0 for i = 1, 10000 do x = x + i end", msg, sizeof msg);
    if (f != CDS_SB_TIME || !strstr(msg, "time budget exceeded")) fail_msg("want the time budget, got %d: %s", f, msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_endless_loop_is_stopped),
        cmocka_unit_test(an_endless_loop_inside_pcall_is_stopped),
        cmocka_unit_test(pcall_cannot_swallow_the_budget),
        cmocka_unit_test(a_memory_bomb_is_stopped),
        cmocka_unit_test(recycled_memory_keeps_values_intact),
        cmocka_unit_test(a_string_rep_bomb_is_refused),
        cmocka_unit_test(a_concatenation_bomb_is_stopped),
        cmocka_unit_test(a_backtracking_pattern_is_stopped),
        cmocka_unit_test(the_issues_dose_pattern_over_60_kb_is_stopped),
        cmocka_unit_test(nested_lazy_repetitions_are_stopped),
        cmocka_unit_test(a_balance_over_a_long_unbalanced_subject_is_stopped),
        cmocka_unit_test(gsub_with_a_function_and_gmatch_loops_are_stopped),
        cmocka_unit_test(a_string_rep_of_the_empty_string_is_refused_at_once),
        cmocka_unit_test(library_loops_set_by_a_number_are_charged_first),
        cmocka_unit_test(a_budget_error_names_the_rule_line),
        cmocka_unit_test(a_gc_finaliser_is_refused),
        cmocka_unit_test(deep_recursion_is_stopped),
        cmocka_unit_test(writing_a_global_is_an_error_naming_it),
        cmocka_unit_test(reading_an_undeclared_global_is_an_error_naming_it),
        cmocka_unit_test(library_tables_are_read_only),
        cmocka_unit_test(the_string_metatable_cannot_be_tampered_with),
        cmocka_unit_test(rawset_cannot_bypass_read_only_tables),
        cmocka_unit_test(binary_chunks_are_refused),
        cmocka_unit_test(os_io_require_and_friends_are_blocked),
        cmocka_unit_test(the_global_allow_list_is_exact),
        cmocka_unit_test(a_time_budget_stops_slow_code),
        cmocka_unit_test(calls_in_c_end_within_the_time_budget),
        cmocka_unit_test(time_off_the_cpu_does_not_count_against_the_budget),
        cmocka_unit_test(a_rule_held_up_past_ten_budgets_is_stopped),
    };
    return cmocka_run_group_tests_name("sandbox", tests, setup, teardown);
}
