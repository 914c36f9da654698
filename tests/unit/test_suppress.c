/* test_suppress.c — repeat suppression (README "Repeat suppression"): the rule declaration and
 * its load errors (file:line), the SQLite store (survives reopening; lookups per patient,
 * alert and encounter), and the engine demoting or dropping a repeat, never a critical card
 * unless the rule says so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "engine.h"
#include "json.h"
#include "mp.h"
#include "suppress_store.h"
#include "testutil.h"

static const char *MANIFEST =
    "ruleset { name = 't', version = '1', source = 'test source', services = {\n"
    "  { id = 'svc', hook = 'order-sign', description = 'd', rules = { 't.*' } } } }\n";

static const char *REQUEST =
    "{\"hook\":\"order-sign\",\"hookInstance\":\"hi-1\",\"context\":{\"userId\":\"Practitioner/1\",\"patientId\":\"p\","
    "\"draftOrders\":{\"resourceType\":\"Bundle\",\"entry\":[]}}}";

static const char *make_set(const char *rules_file)
{
    const char *dir = tu_tempdir();
    tu_write(dir, "manifest.lua", MANIFEST);
    tu_write(dir, "p/pack.lua", "pack { name = 'p', version = '1' }\n");
    tu_write(dir, "p/knowledge/ingredients.tsv", "rxcui\tname\n11289\twarfarin\n");
    tu_write(dir, "p/rules.lua", rules_file);
    return dir;
}

static cds_ruleset *load(const char *dir, cds_strbuf *diag)
{
    cds_ruleset *rs = NULL;
    cds_ruleset_opts o = {.limits = {.memory = 32u << 20, .instructions = 1000000, .milliseconds = 200}};
    cds_ruleset_load(dir, &o, &rs, diag);
    return rs;
}

/* A rule declaring `decl` (a line of its own, line 2 of the file) fails to load with `want`. */
static void expect_decl_error(const char *decl, const char *want)
{
    char src[1024];
    snprintf(src, sizeof src,
             "rule { id = 't.x', version = '1', title = 'T', hooks = { 'order-sign' },\n"
             "  %s,\n"
             "  evaluate = function(ctx) end }\n", decl);
    const char *dir = make_set(src);
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    assert_null(load(dir, &diag));
    char full[700];
    snprintf(full, sizeof full, "%s/p/rules.lua:%s", dir, want);
    if (!strstr(diag.data, full)) fail_msg("want '%s' in:\n%s", full, diag.data);
    cds_strbuf_free(&diag);
    tu_rmrf(dir);
}

static void bad_declarations_are_load_errors_at_their_line(void **s)
{
    (void)s;
    expect_decl_error("suppress = { after_override = '90 days' }",
                      "2: rule 't.x': after_override must be a duration such as \"90d\"");
    expect_decl_error("suppress = { after_override = '0d' }", "2: rule 't.x': after_override must be a duration");
    expect_decl_error("suppress = { after_override = '99999d' }", "2: rule 't.x': after_override must be a duration");
    expect_decl_error("suppress = { after_overide = '90d' }",
                      "2: rule 't.x': unknown field 'after_overide' (did you mean 'after_override'?)");
    expect_decl_error("suppress = { after_override = '90d', action = 'hide' }",
                      "2: rule 't.x': action must be \"demote\" (to info) or \"drop\", got \"hide\"");
    expect_decl_error("suppress = { after_override = '90d', scope = 'ward' }",
                      "2: rule 't.x': scope must be \"patient\"");
    expect_decl_error("suppress = { after_override = '90d', critical = true }", "2: rule 't.x': 'critical'");
    expect_decl_error("suppress = { after_override = '90d', critical = 'yes' }",
                      "2: rule 't.x': critical must be \"also\"");
    expect_decl_error("suppress = { scope = 'patient' }", "2: rule 't.x': 'suppress' needs after_override");
    expect_decl_error("suppress = '90d'", "2: rule 't.x': 'suppress' must be a table");
    expect_decl_error("once_per = 'visit'", "2: rule 't.x': once_per must be \"encounter\", got \"visit\"");
}

static void good_declarations_are_read(void **s)
{
    (void)s;
    const char *dir = make_set(
        "rule { id = 't.a', version = '1', title = 'A', hooks = { 'order-sign' },\n"
        "  suppress = { after_override = '90d', scope = 'patient', action = 'drop', critical = 'also' },\n"
        "  evaluate = function(ctx) end }\n"
        "rule { id = 't.b', version = '1', title = 'B', hooks = { 'order-sign' }, once_per = 'encounter',\n"
        "  suppress = { after_override = '12h' }, evaluate = function(ctx) end }\n"
        "rule { id = 't.c', version = '1', title = 'C', hooks = { 'order-sign' }, evaluate = function(ctx) end }\n");
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_ruleset *rs = load(dir, &diag);
    if (!rs) fail_msg("%s", diag.data);
    assert_int_equal(rs->rules[0].suppress.after_override_s, 90L * 86400);
    assert_true(rs->rules[0].suppress.drop && rs->rules[0].suppress.critical);
    assert_false(rs->rules[0].suppress.once_per_encounter);
    assert_int_equal(rs->rules[1].suppress.after_override_s, 12L * 3600);
    assert_true(rs->rules[1].suppress.once_per_encounter);
    assert_false(rs->rules[1].suppress.drop || rs->rules[1].suppress.critical);
    cds_rule_suppress none = {0};
    assert_memory_equal(&rs->rules[2].suppress, &none, sizeof none);
    cds_ruleset_free(rs);
    cds_strbuf_free(&diag);
    tu_rmrf(dir);
}

static const char *U1 = "00000000-0000-5000-8000-000000000001", *U2 = "00000000-0000-5000-8000-000000000002",
                  *U3 = "00000000-0000-5000-8000-000000000003";

static void the_store_remembers_overrides_per_patient_across_reopening(void **s)
{
    (void)s;
    const char *dir = tu_tempdir();
    char path[600];
    snprintf(path, sizeof path, "%s/suppress.db", dir);
    cds_error err;
    cds_suppress_store *st = cds_suppress_sqlite_open(path, &err);
    assert_non_null(st);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_true(st->note_shown(st, "pa", "r", "k", "e1", U1, 1000));
    assert_true(st->note_shown(st, "pb", "r", "k", NULL, U2, 1000));
    assert_true(st->note_override(st, U1, 5000));
    assert_true(st->note_override(st, U3, 6000));   /* a card it never saw: ignored */
    assert_true(st->note_override(st, U1, 4000));   /* an older report does not move it back */
    st->close(st);

    assert_non_null(st = cds_suppress_sqlite_open(path, &err));
    cds_suppress_seen seen;
    assert_true(st->lookup(st, "pa", "r", "k", NULL, U3, &seen));
    assert_int_equal(seen.overridden_ms, 5000);
    assert_string_equal(seen.override_card, U1);
    assert_false(seen.shown_in_encounter);
    assert_true(st->lookup(st, "pb", "r", "k", NULL, U3, &seen));   /* another patient */
    assert_int_equal(seen.overridden_ms, 0);
    assert_true(st->lookup(st, "pa", "r", "other", NULL, U3, &seen));   /* another alert */
    assert_int_equal(seen.overridden_ms, 0);
    assert_true(st->lookup(st, "pa", "r", "k", "e1", U3, &seen));   /* shown in e1 by U1 */
    assert_true(seen.shown_in_encounter);
    assert_true(st->lookup(st, "pa", "r", "k", "e1", U1, &seen));   /* U1 itself, retried: not a repeat */
    assert_false(seen.shown_in_encounter);
    assert_true(st->lookup(st, "pa", "r", "k", "e2", U3, &seen));
    assert_false(seen.shown_in_encounter);
    st->close(st);
    tu_rmrf(dir);
}

/* The engine with a suppression hook answering from a fixed list of alerts. */
typedef struct fake { const char *rule_key[4]; int asked; } fake;

static const char *fake_repeat(void *arg, const cds_rule_info *rule, const char *key, const char *uuid, cds_arena *a)
{
    (void)uuid;
    fake *f = arg;
    f->asked++;
    char rk[200];
    snprintf(rk, sizeof rk, "%s/%s", rule->id, key);
    for (int i = 0; i < 4 && f->rule_key[i]; i++)
        if (!strcmp(f->rule_key[i], rk)) return cds_arena_printf(a, "overridden before (%s)", rk);
    return NULL;
}

typedef struct result { msgpack_sbuffer out; msgpack_unpacked resp; cds_eval_info info; cds_arena a; } result;

static void run(cds_engine *e, fake *f, result *r)
{
    cds_error err;
    msgpack_sbuffer in;
    msgpack_sbuffer_init(&in);
    msgpack_sbuffer_init(&r->out);
    msgpack_unpacked_init(&r->resp);
    cds_arena_init(&r->a);
    assert_int_equal(cds_json_to_mp(REQUEST, strlen(REQUEST), "req", &in, &err), CDS_OK);
    msgpack_unpacked req;
    assert_int_equal(cds_mp_decode(in.data, in.size, &req, &err), CDS_OK);
    cds_call c;
    assert_int_equal(cds_call_prepare(cds_engine_ruleset(e), "svc", &req.data, "request", &r->a, &c, &err), CDS_OK);
    cds_suppress_hook hook = {fake_repeat, f};
    c.suppress = f ? &hook : NULL;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &r->out, msgpack_sbuffer_write);
    assert_int_equal(cds_engine_run(e, &c, 1700000000, &r->a, &pk, &r->info, &err), CDS_OK);
    assert_int_equal(cds_mp_decode(r->out.data, r->out.size, &r->resp, &err), CDS_OK);
    msgpack_unpacked_destroy(&req);
    msgpack_sbuffer_destroy(&in);
}

static void release(result *r)
{
    msgpack_unpacked_destroy(&r->resp);
    msgpack_sbuffer_destroy(&r->out);
    cds_arena_free(&r->a);
}

static const char *RULES =
    "rule { id = 't.demote', version = '1', title = 'D', hooks = { 'order-sign' },\n"
    "  suppress = { after_override = '90d' },\n"
    "  evaluate = function(ctx) return { card { key = 'w', indicator = 'warning', summary = 'dw' },\n"
    "    card { key = 'c', indicator = 'critical', summary = 'dc' } } end }\n"
    "rule { id = 't.drop', version = '1', title = 'X', hooks = { 'order-sign' },\n"
    "  suppress = { after_override = '90d', action = 'drop', critical = 'also' },\n"
    "  evaluate = function(ctx) return { card { key = 'w', indicator = 'warning', summary = 'xw' },\n"
    "    card { key = 'c', indicator = 'critical', summary = 'xc' } } end }\n"
    "rule { id = 't.plain', version = '1', title = 'P', hooks = { 'order-sign' },\n"
    "  evaluate = function(ctx) return card { key = 'w', indicator = 'warning', summary = 'pw' } end }\n";

static const msgpack_object *card_with(const result *r, const char *summary)
{
    const msgpack_object *cards = cds_mp_get(&r->resp.data, "cards");
    for (uint32_t i = 0; i < cards->via.array.size; i++)
        if (cds_mp_str_eq(cds_mp_get(&cards->via.array.ptr[i], "summary"), summary)) return &cards->via.array.ptr[i];
    return NULL;
}

static void repeats_are_demoted_or_dropped_critical_only_when_declared(void **s)
{
    (void)s;
    const char *dir = make_set(RULES);
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_ruleset *rs = load(dir, &diag);
    if (!rs) fail_msg("%s", diag.data);
    cds_engine *e = cds_engine_new(rs, &diag);
    assert_non_null(e);

    /* every alert "overridden before" */
    fake f = {{"t.demote/w", "t.demote/c", "t.drop/w", "t.drop/c"}, 0};
    result r;
    run(e, &f, &r);
    assert_int_equal(f.asked, 3);   /* t.demote's critical card is never asked about; t.plain declares nothing */
    const msgpack_object *cards = cds_mp_get(&r.resp.data, "cards");
    assert_int_equal(cards->via.array.size, 3);   /* dw (demoted), dc, pw; xw and xc dropped */
    assert_null(card_with(&r, "xw"));
    assert_null(card_with(&r, "xc"));
    assert_true(cds_mp_str_eq(cds_mp_get(card_with(&r, "dc"), "indicator"), "critical"));
    assert_true(cds_mp_str_eq(cds_mp_get(card_with(&r, "pw"), "indicator"), "warning"));
    const msgpack_object *dw = card_with(&r, "dw");
    assert_true(cds_mp_str_eq(cds_mp_get(dw, "indicator"), "info"));
    const msgpack_object *ext = cds_mp_get(cds_mp_get(dw, "extension"), "org.cdsd.suppression");
    assert_non_null(ext);
    assert_true(cds_mp_str_eq(cds_mp_get(ext, "reason"), "overridden before (t.demote/w)"));
    assert_true(cds_mp_str_eq(cds_mp_get(ext, "indicator"), "warning"));
    assert_true(cds_mp_get(ext, "interrupts")->type == MSGPACK_OBJECT_BOOLEAN);
    assert_false(cds_mp_get(ext, "interrupts")->via.boolean);
    /* the demoted card sorts with the info cards: last */
    assert_ptr_equal(dw, &cards->via.array.ptr[2]);
    /* every card, dropped ones too, for the audit row: shown first, then the dropped */
    assert_int_equal(r.info.ncards, 5);
    assert_string_equal(r.info.cards[2].summary, "dw");
    assert_string_equal(r.info.cards[2].suppressed, "overridden before (t.demote/w)");
    assert_string_equal(r.info.cards[2].indicator, "info");
    assert_null(r.info.cards[0].suppressed);
    assert_string_equal(r.info.cards[3].indicator, "suppressed");
    assert_string_equal(r.info.cards[3].key, "w");
    assert_string_equal(r.info.cards[3].rule, "t.drop");
    assert_string_equal(r.info.cards[3].suppressed, "overridden before (t.drop/w)");
    assert_string_equal(r.info.cards[4].key, "c");
    release(&r);

    /* nothing overridden, or no hook (tools, fixtures): the cards as the rules made them */
    fake none = {{NULL}, 0};
    run(e, &none, &r);
    assert_int_equal(cds_mp_get(&r.resp.data, "cards")->via.array.size, 5);
    assert_int_equal(r.info.ncards, 5);
    assert_true(cds_mp_str_eq(cds_mp_get(card_with(&r, "dw"), "indicator"), "warning"));
    release(&r);
    run(e, NULL, &r);
    assert_int_equal(cds_mp_get(&r.resp.data, "cards")->via.array.size, 5);
    assert_null(cds_mp_get(card_with(&r, "dw"), "extension"));
    release(&r);

    cds_engine_free(e);
    cds_ruleset_free(rs);
    cds_strbuf_free(&diag);
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_declarations_are_load_errors_at_their_line),
        cmocka_unit_test(good_declarations_are_read),
        cmocka_unit_test(the_store_remembers_overrides_per_patient_across_reopening),
        cmocka_unit_test(repeats_are_demoted_or_dropped_critical_only_when_declared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
