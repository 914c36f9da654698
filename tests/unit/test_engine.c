/* test_engine.c — rule packs end to end in one process: load errors for pharmacists, a failing
 * rule reported while the others answer, CDS Hooks card validation, deterministic uuids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine.h"
#include "json.h"
#include "mp.h"
#include "testutil.h"
#include "utf8.h"

static const char *MANIFEST =
    "ruleset { name = 't', version = '1', source = 'test source', services = {\n"
    "  { id = 'svc', hook = 'order-sign', description = 'd', rules = { 't.*' } },\n"
    "  { id = 'view', hook = 'patient-view', description = 'd', rules = { 't.*' } } } }\n";
static const char *PACK = "pack { name = 'p', version = '1' }\n";
static const char *INGR = "rxcui\tname\n11289\twarfarin\n5640\tibuprofen\n";

static const char *REQUEST =
    "{\"hook\":\"order-sign\",\"hookInstance\":\"hi-42\",\"context\":{\"userId\":\"Practitioner/1\",\"patientId\":\"p\","
    "\"draftOrders\":{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":{\"resourceType\":\"MedicationRequest\","
    "\"id\":\"m1\",\"status\":\"draft\",\"medicationCodeableConcept\":{\"text\":\"warfarin 5 mg\"}}}]}}}";

static const char *GOOD_RULE =
    "rule { id = 't.good', version = '1', title = 'Good', hooks = { 'order-sign' },\n"
    "  evaluate = function(ctx)\n"
    "    local m = ctx.meds.any('warfarin')\n"
    "    if not m then return nil end\n"
    "    return card { indicator = 'info', summary = 'Found ' .. m.name, suggest = { remove(m) },\n"
    "                  override = { 'will-monitor' } }\n"
    "  end }\n";

static cds_ruleset *load(const char *dir, cds_strbuf *diag)
{
    cds_ruleset *rs = NULL;
    cds_ruleset_opts o = {.limits = {.memory = 32u << 20, .instructions = 1000000, .milliseconds = 200}};
    cds_ruleset_load(dir, &o, &rs, diag);
    return rs;
}

static const char *make_set(const char *rules_file)
{
    const char *dir = tu_tempdir();
    tu_write(dir, "manifest.lua", MANIFEST);
    tu_write(dir, "p/pack.lua", PACK);
    tu_write(dir, "p/knowledge/ingredients.tsv", INGR);
    tu_write(dir, "p/rules.lua", rules_file);
    return dir;
}

/* The rule set in dir fails to load with `where_what` (a path under dir, then the message) in
 * the diagnostics; dir is removed. */
static void expect_load_error(const char *dir, const char *where_what)
{
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    assert_null(load(dir, &diag));
    char want[512];
    snprintf(want, sizeof want, "%s/%s", dir, where_what);
    if (!strstr(diag.data, want)) fail_msg("want '%s' in:\n%s", want, diag.data);
    cds_strbuf_free(&diag);
    tu_rmrf(dir);
}

/* A rule set in `dir` loaded and compiled for one worker; fails the test with the diagnostics. */
typedef struct loaded { const char *dir; cds_strbuf diag; cds_ruleset *rs; cds_engine *e; } loaded;

static void open_set(loaded *l, const char *dir)
{
    l->dir = dir;
    cds_strbuf_init(&l->diag);
    l->rs = load(dir, &l->diag);
    if (!l->rs) fail_msg("%s", l->diag.data);
    l->e = cds_engine_new(l->rs, &l->diag);
    if (!l->e) fail_msg("%s", l->diag.data);
}

static void close_set(loaded *l)
{
    cds_engine_free(l->e);
    cds_ruleset_free(l->rs);
    cds_strbuf_free(&l->diag);
    tu_rmrf(l->dir);
}

typedef struct result { msgpack_sbuffer out; msgpack_unpacked resp; cds_eval_info info; cds_arena a; } result;

static cds_rc call(cds_engine *e, const char *json, result *r, cds_error *err)
{
    msgpack_sbuffer in;
    msgpack_sbuffer_init(&in);
    msgpack_sbuffer_init(&r->out);
    msgpack_unpacked_init(&r->resp);
    cds_arena_init(&r->a);
    cds_json_to_mp(json, strlen(json), "req", &in, err);
    msgpack_unpacked req;
    assert_int_equal(cds_mp_decode(in.data, in.size, &req, err), CDS_OK);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &r->out, msgpack_sbuffer_write);
    cds_rc rc = cds_engine_call(e, "svc", &req.data, "request", 1700000000, &r->a, &pk, &r->info, err);
    if (!rc) assert_int_equal(cds_mp_decode(r->out.data, r->out.size, &r->resp, err), CDS_OK);
    msgpack_unpacked_destroy(&req);
    msgpack_sbuffer_destroy(&in);
    return rc;
}

static void release(result *r)
{
    msgpack_unpacked_destroy(&r->resp);
    msgpack_sbuffer_destroy(&r->out);
    cds_arena_free(&r->a);
}

/* Issue 21: a client shows cards in the order given; an info card sat above a bleeding-risk
 * warning. Critical, then warning, then info; within a tier the rule's own order. */
static void cards_come_critical_then_warning_then_info(void **s)
{
    (void)s;
    loaded l;
    open_set(&l, make_set("rule { id = 't.order', version = '1', title = 'Order', hooks = { 'order-sign' },\n"
                          "  evaluate = function(ctx) return { card { indicator = 'info', summary = 'i1' },\n"
                          "    card { indicator = 'critical', summary = 'c' }, card { indicator = 'warning', summary = 'w' },\n"
                          "    card { indicator = 'info', summary = 'i2' } } end }\n"));
    result r;
    cds_error err;
    assert_int_equal(call(l.e, REQUEST, &r, &err), CDS_OK);
    assert_int_equal(r.info.ncards, 4);
    static const char *const want[] = {"c", "w", "i1", "i2"};
    for (size_t i = 0; i < 4; i++) assert_string_equal(r.info.cards[i].summary, want[i]);
    const msgpack_object *cards = cds_mp_get(&r.resp.data, "cards");
    const msgpack_object *first = cds_mp_get(&cards->via.array.ptr[0], "indicator");
    assert_true(cds_mp_str_eq(first, "critical"));
    release(&r);
    close_set(&l);
}

/* Issue 18 part 4: card{explain = ...} is normalised by the prelude (ids and codes), sent in the
 * card's extension org.cdsd.explain and kept, the same map, in cds_card_out.explain for the audit
 * row; an engine card names the failed rule; a malformed explanation fails the rule at its
 * file:line (not through `return card {...}`: a tail call leaves no line to name). */
static const msgpack_object *explain_of(const msgpack_object *card)
{
    return cds_mp_get(cds_mp_get(card, "extension"), "org.cdsd.explain");
}

static void cards_carry_their_explanation(void **s)
{
    (void)s;
    loaded l;
    open_set(&l, make_set(
        "rule { id = 't.why', version = '1', title = 'Why', hooks = { 'order-sign' },\n"
        "  evaluate = function(ctx)\n"
        "    local m = ctx.meds.any('warfarin')\n"
        "    return card { indicator = 'warning', summary = 'w', explain = {\n"
        "      matched = { { m, '11289' }, nil, 'Observation/o1' },\n"
        "      rows = { { 'dose_limits', 'D1', 'DailyMed' }, kb_row('renal', { id = 'R2', source = ('x'):rep(80) }) },\n"
        "      values = { crcl = 42.5, sex = 'female', dialysis = false } } }\n"
        "  end }\n"
        "rule { id = 't.broken', version = '1', title = 'Broken', hooks = { 'order-sign' },\n"
        "  evaluate = function(ctx) return ctx.nothing.here end }\n"
        "rule { id = 't.badexplain', version = '1', title = 'Bad', hooks = { 'order-sign' },\n"
        "  evaluate = function(ctx)\n"
        "    local c = card { indicator = 'info', summary = 'x', explain = { matched = { 42 } } } return c\n"
        "  end }\n"
        "rule { id = 't.badvalue', version = '1', title = 'Bad value', hooks = { 'order-sign' },\n"
        "  evaluate = function(ctx)\n"
        "    local c = card { indicator = 'info', summary = 'x', explain = { values = { crcl = 0/0 } } } return c\n"
        "  end }\n"
        "rule { id = 't.badfield', version = '1', title = 'Bad field', hooks = { 'order-sign' },\n"
        "  evaluate = function(ctx)\n"
        "    local c = card { indicator = 'info', summary = 'x', explain = { why = 'because' } } return c\n"
        "  end }\n"
        "rule { id = 't.badrow', version = '1', title = 'Bad row', hooks = { 'order-sign' },\n"
        "  evaluate = function(ctx)\n"
        "    local c = card { indicator = 'info', summary = 'x', explain = { rows = { { 'dose_limits', '' } } } } return c\n"
        "  end }\n"));
    result r;
    cds_error err;
    assert_int_equal(call(l.e, REQUEST, &r, &err), CDS_OK);
    assert_int_equal(r.info.nerrors, 5);
    const msgpack_object *cards = cds_mp_get(&r.resp.data, "cards");
    assert_int_equal(cards->via.array.size, 6);
    size_t found = 0;
    for (uint32_t i = 0; i < cards->via.array.size; i++) {
        const cds_card_out *co = &r.info.cards[i];
        const msgpack_object *ext = explain_of(&cards->via.array.ptr[i]);
        assert_non_null(ext);
        assert_non_null(co->explain);
        /* the audit's bytes are the extension's map */
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        assert_int_equal(msgpack_unpack_next(&u, co->explain, co->explain_len, NULL), MSGPACK_UNPACK_SUCCESS);
        assert_true(msgpack_object_equal(u.data, *ext));
        if (strcmp(co->rule, "t.why") == 0) {
            found++;
            const msgpack_object *m = cds_mp_get(ext, "matched"), *rows = cds_mp_get(ext, "rows");
            assert_int_equal(m->via.array.size, 2);   /* the nil entry dropped out */
            assert_true(cds_mp_str_eq(&m->via.array.ptr[0].via.array.ptr[0], "MedicationRequest/m1"));
            assert_true(cds_mp_str_eq(&m->via.array.ptr[0].via.array.ptr[1], "11289"));
            assert_true(cds_mp_str_eq(&m->via.array.ptr[1].via.array.ptr[0], "Observation/o1"));
            assert_true(cds_mp_str_eq(&rows->via.array.ptr[0].via.array.ptr[2], "DailyMed"));
            assert_true(cds_mp_str_eq(&rows->via.array.ptr[1].via.array.ptr[1], "R2"));
            assert_int_equal(rows->via.array.ptr[1].via.array.size, 2);   /* a citation is not kept */
            const msgpack_object *v = cds_mp_get(ext, "values");
            assert_true(cds_mp_get(v, "crcl")->via.f64 == 42.5);
            assert_true(cds_mp_str_eq(cds_mp_get(v, "sex"), "female"));
            assert_int_equal(cds_mp_get(v, "dialysis")->type, MSGPACK_OBJECT_BOOLEAN);
        } else {
            found += 16;
            const msgpack_object *failed = cds_mp_get(ext, "rule_failed");
            assert_non_null(failed);
            assert_true(cds_mp_str_eq(failed, co->rule));
        }
        msgpack_unpacked_destroy(&u);
    }
    assert_int_equal(found, 1 + 5 * 16);
    for (size_t i = 0; i < r.info.nruns; i++) {
        const char *id = r.info.runs[i].rule, *m = r.info.runs[i].error;
        if (strcmp(id, "t.badexplain") == 0 && !strstr(m, "rules.lua:13: card: explain.matched[1] must be")) fail_msg("%s", m);
        if (strcmp(id, "t.badvalue") == 0 && !strstr(m, "rules.lua:17: card: explain.values.crcl is not a finite number")) fail_msg("%s", m);
        if (strcmp(id, "t.badfield") == 0 && !strstr(m, "rules.lua:21: card: explain: unknown field 'why'")) fail_msg("%s", m);
        if (strcmp(id, "t.badrow") == 0 && !strstr(m, "rules.lua:25: card: explain.rows[1] key must be a non-empty text")) fail_msg("%s", m);
    }
    release(&r);
    close_set(&l);
}

static void a_misspelt_field_is_reported_with_file_and_line(void **s)
{
    (void)s;
    const char *dir = make_set("-- a comment\n\nrule { id = 't.x', version = '1', title = 'T', hooks = { 'order-sign' },\n"
                               "  severty = 'high', evaluate = function(ctx) end }\n");
    expect_load_error(dir, "p/rules.lua:4: rule 't.x': unknown field 'severty'");   /* the field's line */
}

/* The loader reads declarations after their file ran, outside any protection: a metatable a
 * rule file put on one (at once, on a nested table, or after declaring it) once aborted the
 * process - at a live server's reload too. It is a load error with file:line now. */
static void declarations_with_metatables_are_load_errors(void **s)
{
    (void)s;
    static const char *const bodies[] = {
        "rule(setmetatable({ id = 't.x', version = '1', title = 'T', hooks = { 'order-sign' } },\n"
        "  { __index = function() error('boom') end }))\n",
        "rule { id = 't.x', version = '1', title = 'T', evaluate = function() end,\n"
        "  hooks = setmetatable({ 'order-sign' }, { __len = function() while true do end end }) }\n",
        "local d = { id = 't.x', version = '1', title = 'T', hooks = { 'order-sign' }, evaluate = function() end }\n"
        "rule(d) setmetatable(d, { __index = function() error('late') end })\n",
    };
    static const char *const want_at[] = {"a table with a metatable set by the rule at rule (",
                                          "a table with a metatable set by the rule at rule.hooks (",
                                          "a table with a metatable set by the rule at rule ("};
    for (size_t i = 0; i < 3; i++) {
        char want[200];
        snprintf(want, sizeof want, "p/rules.lua:%d: rule { ... }: %s", i == 2 ? 2 : 1, want_at[i]);
        expect_load_error(make_set(bodies[i]), want);
    }
    /* pack { }, read by the rule-set loader */
    const char *dir = make_set(GOOD_RULE);
    tu_write(dir, "p/pack.lua", "pack(setmetatable({ name = 'p', version = '1' }, { __index = function() error('x') end }))\n");
    expect_load_error(dir, "p/pack.lua:1: pack { ... }: a table with a metatable set by the rule at pack");
    /* a rule file that is not UTF-8 (its titles and literals reach discovery and cards as JSON) */
    dir = make_set("rule { id = 't.x', version = '1', title = 'T', hooks = { 'order-sign' },\n"
                   "  evaluate = function(ctx) return card { indicator = 'info', summary = 'caf\xe9' } end }\n");
    expect_load_error(dir, "p/rules.lua:2:76: not valid UTF-8 (byte 0xe9)");
}

static void a_syntax_error_is_reported_with_file_and_line(void **s)
{
    (void)s;
    const char *dir = make_set("rule { id = 't.x',\n  evaluate = function(ctx) return card { } \nend\n");
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    assert_null(load(dir, &diag));
    char want[512];
    snprintf(want, sizeof want, "%s/p/rules.lua:", dir);
    assert_non_null(strstr(diag.data, want));
    cds_strbuf_free(&diag);
    tu_rmrf(dir);
}

/* Codes and ingredients are built on first use; a table kept from an earlier request must not
 * reach that request's freed view (ASan would see it), it must fail the rule with a reason. */
static void lazy_fields_are_built_on_use_and_never_for_a_stale_table(void **s)
{
    (void)s;
    const char *dir = make_set(
        "local kept\n"
        "rule { id = 't.lazy', version = '1', title = 'Lazy', hooks = { 'order-sign' },\n"
        "  evaluate = function(ctx)\n"
        "    local m = ctx.meds.any('warfarin')\n"
        "    if ctx.hook_instance == 'st' then\n"   /* a stale, untouched table as a suggestion: checked after the rule */
        "      return card { indicator = 'info', summary = 'stale', suggest = { kept } }\n"
        "    end\n"
        "    if kept then local _ = kept.codes end\n"
        "    if ctx.hook_instance == 'kp' then kept = m return nil end\n"   /* kept, never read */
        "    if ctx.hook_instance == 'pk' then\n"   /* an untouched ctx table inside a card: packed after the rules ran */
        "      return card { indicator = 'info', summary = 'packed', suggest = { suggestion { label = 'x',\n"
        "        actions = { create({ resourceType = 'Basic', med = m }, 'd') } } } }\n"
        "    end\n"
        "    local seen = {}\n"
        "    for k in pairs(m) do seen[k] = true end\n"   /* before any lookup: iteration fills */
        "    return card { indicator = 'info', summary = m.ingredients[1].name .. ' ' .. m.codes[1].system\n"
        "                  .. ' ' .. tostring(seen.codes) .. ' ' .. tostring(seen.ingredients)\n"
        "                  .. ' ' .. ctx.conditions[1].codes[1].code }\n"
        "  end }\n");
    loaded set;
    open_set(&set, dir);
    cds_engine *e = set.e;
    static const char *req =
        "{\"hook\":\"order-sign\",\"hookInstance\":\"hi\",\"context\":{\"userId\":\"Practitioner/1\",\"patientId\":\"p\","
        "\"draftOrders\":{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":{\"resourceType\":\"MedicationRequest\","
        "\"id\":\"m1\",\"status\":\"draft\",\"medicationCodeableConcept\":{\"coding\":[{\"system\":"
        "\"http://www.nlm.nih.gov/research/umls/rxnorm\",\"code\":\"11289\"}],\"text\":\"warfarin 5 mg\"}}}]}},"
        "\"prefetch\":{\"c\":{\"resourceType\":\"Condition\",\"clinicalStatus\":\"active\",\"code\":{\"coding\":"
        "[{\"system\":\"http://snomed.info/sct\",\"code\":\"44054006\"}],\"text\":\"Diabetes\"}}}}";
    result r;
    cds_error err;
    assert_int_equal(call(e, req, &r, &err), CDS_OK);
    assert_int_equal(r.info.nerrors, 0);
    assert_int_equal(r.info.ncards, 1);
    const msgpack_object *cards = cds_mp_get(&r.resp.data, "cards");
    const msgpack_object *summary = cds_mp_get(&cards->via.array.ptr[0], "summary");
    char text[200];
    snprintf(text, sizeof text, "%.*s", (int)summary->via.str.size, summary->via.str.ptr);
    /* pairs() sees the lazy fields too */
    assert_string_equal(text, "warfarin http://www.nlm.nih.gov/research/umls/rxnorm true true 44054006");
    release(&r);
    /* packing a card that holds an untouched medication table happens outside any rule: no
     * abort (an unprotected Lua error would panic), the table is packed with what it has */
    char pack[1024];
    snprintf(pack, sizeof pack, "%s", req);
    memcpy(strstr(pack, "\"hi\""), "\"pk\"", 4);
    assert_int_equal(call(e, pack, &r, &err), CDS_OK);
    assert_int_equal(r.info.nerrors, 0);
    assert_int_equal(r.info.ncards, 1);
    release(&r);
    /* a request in which the rule keeps the medication table without reading it, then one in
     * which it reads a field of that table */
    char keep[1024];
    snprintf(keep, sizeof keep, "%s", req);
    memcpy(strstr(keep, "\"hi\""), "\"kp\"", 4);
    assert_int_equal(call(e, keep, &r, &err), CDS_OK);
    release(&r);
    /* the card checks after the rule look into the stale table: a rule error, not a panic */
    memcpy(strstr(keep, "\"kp\""), "\"st\"", 4);
    assert_int_equal(call(e, keep, &r, &err), CDS_OK);
    assert_int_equal(r.info.nerrors, 1);
    assert_int_equal(r.info.ncards, 1);   /* the warning card for the failed rule */
    release(&r);
    assert_int_equal(call(e, req, &r, &err), CDS_OK);
    assert_int_equal(r.info.nerrors, 1);
    if (!strstr(r.info.runs[0].error, "earlier request")) fail_msg("%s", r.info.runs[0].error);
    release(&r);
    close_set(&set);
}

static void a_pattern_that_matches_no_rule_is_an_error(void **s)
{
    (void)s;
    const char *dir = make_set(GOOD_RULE);
    tu_write(dir, "manifest.lua",
             "ruleset { name = 't', version = '1', source = 's', services = {\n"
             "  { id = 'svc', hook = 'order-sign', description = 'd', rules = { 'nothing.*' } } } }\n");
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    assert_null(load(dir, &diag));
    assert_non_null(strstr(diag.data, "no rule matches 'nothing.*'"));
    cds_strbuf_free(&diag);
    tu_rmrf(dir);
}

static const msgpack_object *card_at(const result *r, uint32_t i)
{
    const msgpack_object *cards = cds_mp_get(&r->resp.data, "cards");
    assert_non_null(cards);
    assert_true(i < cards->via.array.size);
    return &cards->via.array.ptr[i];
}

/* ctx.obs gives one table per result and request, shared by the checks that ask (the same
 * potassium for every order), and a new request's value, never the table of an earlier one. */
static void obs_tables_are_shared_within_a_request_only(void **s)
{
    (void)s;
    const char *dir = make_set(
        "rule { id = 't.obs', version = '1', title = 'Obs', hooks = { 'order-sign' },\n"
        "  evaluate = function(ctx)\n"
        "    local a, b = ctx.obs('2823-3'), ctx.obs('2823-3')\n"
        "    return card { indicator = 'info', summary = 'obs', detail = tostring(a and a.value) .. ' ' ..\n"
        "      tostring(rawequal(a, b)) .. ' ' .. tostring(ctx.obs('6298-4')) }\n"
        "  end }\n");
    loaded set;
    open_set(&set, dir);
    static const char *req_fmt =
        "{\"hook\":\"order-sign\",\"hookInstance\":\"h%d\",\"context\":{\"userId\":\"Practitioner/1\",\"patientId\":\"p\","
        "\"draftOrders\":{\"resourceType\":\"Bundle\",\"entry\":[]}},\"prefetch\":{\"o\":{\"resourceType\":\"Bundle\","
        "\"entry\":[{\"resource\":{\"resourceType\":\"Observation\",\"id\":\"k\",\"status\":\"final\",\"code\":{\"coding\":"
        "[{\"system\":\"http://loinc.org\",\"code\":\"2823-3\"}]},\"effectiveDateTime\":\"2023-11-13T00:00:00Z\","
        "\"valueQuantity\":{\"value\":%s,\"unit\":\"mmol/L\"}}}]}}}";
    const char *values[] = {"5.5", "3.25"};
    for (int i = 0; i < 2; i++) {
        char req[2048], want[64];
        snprintf(req, sizeof req, req_fmt, i, values[i]);
        result r;
        cds_error err;
        assert_int_equal(call(set.e, req, &r, &err), CDS_OK);
        assert_int_equal(r.info.nerrors, 0);
        const msgpack_object *d = cds_mp_get(card_at(&r, 0), "detail");
        char text[64];
        snprintf(text, sizeof text, "%.*s", (int)d->via.str.size, d->via.str.ptr);
        snprintf(want, sizeof want, "%s true nil", values[i]);
        assert_string_equal(text, want);
        release(&r);
    }
    close_set(&set);
}

/* The C lookups table checks are built on (ctx.rows_for, ctx.ingredient_codes, meds.all with a
 * list, conditions.any over the per-request code index) answer what the Lua loops they replace
 * answered: each row once and in ingredient order, nil for a drug the table does not name, a
 * clear error for a table that is no medication of this request. */
static void table_lookups_in_c_answer_like_the_lua_loops(void **s)
{
    (void)s;
    const char *dir = make_set(
        "local A, B = { id = 'A' }, { id = 'B' }\n"
        "local INDEX = { ['11289'] = { A, B }, ['5640'] = { B } }\n"
        "local kept\n"
        "rule { id = 't.lookups', version = '1', title = 'Lookups', hooks = { 'order-sign' },\n"
        "  evaluate = function(ctx)\n"
        "    if ctx.hook_instance == 'stale' then return card { indicator = 'info', summary = tostring(ctx.rows_for(kept, INDEX)) } end\n"
        "    local out = {}\n"
        "    for _, m in ipairs(ctx.selected) do\n"
        "      local rows = ctx.rows_for(m, INDEX)\n"
        "      local ids = {}\n"
        "      for _, r in ipairs(rows or {}) do ids[#ids + 1] = r.id end\n"
        "      out[#out + 1] = m.name .. '=' .. (rows and table.concat(ids, ',') or 'nil') .. '/' .. table.concat(ctx.ingredient_codes(m), ',')\n"
        "      kept = m\n"
        "    end\n"
        "    out[#out + 1] = #ctx.meds.all({ 'warfarin', '11289', 'class:nothing-such' })\n"
        "    out[#out + 1] = #ctx.meds.all({ 'warfarin', 'ibuprofen' })\n"
        "    out[#out + 1] = ctx.meds.live_count('11289') .. ctx.meds.live_count({ 'warfarin', 'ibuprofen' }) .. ctx.meds.live_count('class:nothing-such')\n"
        "    local ok, why = pcall(ctx.rows_for, {}, INDEX)\n"
        "    out[#out + 1] = tostring(ok) .. ':' .. tostring(why):match('a medication from ctx is expected')\n"
        "    local c = ctx.conditions\n"
        "    out[#out + 1] = table.concat({ (c.any('icd10:i48.91') or {}).text or '-', (c.any('icd10:I4*') or {}).text or '-',\n"
        "      (c.any('icd10:I50*') or {}).text or '-', (c.any('sct:49436004') or {}).text or '-',\n"
        "      (c.any('49436004') or {}).text or '-', (c.any('loinc:49436004') or {}).text or '-',\n"
        "      (c.any('text:KIDNEY disease') or {}).text or '-', (c.any({ 'sct:1', 'text:atrial', 'icd10:N18.3' }) or {}).text or '-' }, ',')\n"
        "    return card { indicator = 'info', summary = 'lookups', detail = table.concat(out, ' ') }\n"
        "  end }\n");
    loaded set;
    open_set(&set, dir);
    static const char *req_fmt =
        "{\"hook\":\"order-sign\",\"hookInstance\":\"%s\",\"context\":{\"userId\":\"Practitioner/1\",\"patientId\":\"p\","
        "\"draftOrders\":{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":{\"resourceType\":\"MedicationRequest\","
        "\"id\":\"m1\",\"status\":\"draft\",\"medicationCodeableConcept\":{\"coding\":[{\"system\":"
        "\"http://www.nlm.nih.gov/research/umls/rxnorm\",\"code\":\"11289\"}]}}},{\"resource\":{\"resourceType\":"
        "\"MedicationRequest\",\"id\":\"m2\",\"status\":\"draft\",\"medicationCodeableConcept\":{\"coding\":[{\"system\":"
        "\"http://www.nlm.nih.gov/research/umls/rxnorm\",\"code\":\"5640\"}]}}},"
        "{\"resource\":{\"resourceType\":\"MedicationRequest\",\"id\":\"m3\",\"status\":\"draft\",\"medicationCodeableConcept\":"
        "{\"coding\":[{\"system\":\"http://www.nlm.nih.gov/research/umls/rxnorm\",\"code\":\"6809\"}]}}}]}},"
        "\"prefetch\":{\"c\":{\"resourceType\":\"Bundle\",\"entry\":["
        "{\"resource\":{\"resourceType\":\"Condition\",\"clinicalStatus\":\"active\",\"code\":{\"coding\":"
        "[{\"system\":\"http://hl7.org/fhir/sid/icd-10-cm\",\"code\":\"N18.3\"}],\"text\":\"Chronic kidney disease stage 3\"}}},"
        "{\"resource\":{\"resourceType\":\"Condition\",\"clinicalStatus\":\"active\",\"code\":{\"coding\":"
        "[{\"system\":\"http://hl7.org/fhir/sid/icd-10-cm\",\"code\":\"I48.91\"},{\"system\":\"http://snomed.info/sct\","
        "\"code\":\"49436004\"}],\"text\":\"Atrial fibrillation\"}}}]}}}";
    char req[4096];
    snprintf(req, sizeof req, req_fmt, "hi");
    result r;
    cds_error err;
    assert_int_equal(call(set.e, req, &r, &err), CDS_OK);
    assert_int_equal(r.info.nerrors, 0);
    const msgpack_object *summary = cds_mp_get(card_at(&r, 0), "detail");
    char text[400];
    snprintf(text, sizeof text, "%.*s", (int)summary->via.str.size, summary->via.str.ptr);
    assert_string_equal(text, "warfarin=A,B/11289 ibuprofen=B/5640 RxNorm code 6809=nil/ 1 2 120 false:a medication from ctx is expected "
                              "Atrial fibrillation,Atrial fibrillation,-,Atrial fibrillation,Atrial fibrillation,-,"
                              "Chronic kidney disease stage 3,Chronic kidney disease stage 3");
    release(&r);
    /* a medication kept from the previous request: an error naming the cause, not a wrong row */
    snprintf(req, sizeof req, req_fmt, "stale");
    assert_int_equal(call(set.e, req, &r, &err), CDS_OK);
    assert_int_equal(r.info.nerrors, 1);
    assert_non_null(strstr(r.info.runs[0].error, "earlier request"));
    release(&r);
    close_set(&set);
}

static void failing_rules_are_reported_and_the_others_still_answer(void **s)
{
    (void)s;
    char rules[4096];
    snprintf(rules, sizeof rules, "%s%s", GOOD_RULE,
             "rule { id = 't.error', version = '1', title = 'Broken', hooks = { 'order-sign' },\n"
             "  evaluate = function(ctx) return ctx.nothing.here end }\n"
             "rule { id = 't.loop', version = '1', title = 'Loops', hooks = { 'order-sign' },\n"
             "  evaluate = function(ctx) while true do end end }\n"
             "rule { id = 't.long', version = '1', title = 'Long summary', hooks = { 'order-sign' },\n"
             "  evaluate = function(ctx) return card { indicator = 'info', summary = ('x'):rep(140) } end }\n"
             "rule { id = 't.badind', version = '1', title = 'Bad indicator', hooks = { 'order-sign' },\n"
             "  evaluate = function(ctx) return card { indicator = 'hard-stop', summary = 'x' } end }\n"
             "rule { id = 't.mutate', version = '1', title = 'Mutates ctx', hooks = { 'order-sign' },\n"
             "  evaluate = function(ctx) ctx.meds[1].text = 'changed' end }\n");
    const char *dir = make_set(rules);
    loaded set;
    open_set(&set, dir);
    cds_engine *e = set.e;
    for (int round = 0; round < 3; round++) {   /* the next evaluation is unaffected */
        result r;
        cds_error err;
        assert_int_equal(call(e, REQUEST, &r, &err), CDS_OK);
        assert_int_equal(r.info.nruns, 6);
    assert_int_equal(r.info.nerrors, 5);
        const msgpack_object *good = card_at(&r, 5);   /* info, after the warnings */
        assert_true(cds_mp_str_eq(cds_mp_get(good, "summary"), "Found warfarin"));
        assert_true(cds_mp_str_eq(cds_mp_get(good, "selectionBehavior"), "at-most-one"));
        assert_true(cds_mp_str_eq(cds_mp_get(cds_mp_get(cds_mp_get(good, "source"), "topic"), "code"), "t.good"));
        /* one warning card per failed rule, and the reasons in the extension */
        const msgpack_object *cards = cds_mp_get(&r.resp.data, "cards");
        assert_int_equal(cards->via.array.size, 6);
        for (uint32_t i = 0; i < 5; i++) {
            assert_true(cds_mp_str_eq(cds_mp_get(&cards->via.array.ptr[i], "indicator"), "warning"));
        }
        const msgpack_object *ext = cds_mp_get(cds_mp_get(&r.resp.data, "extension"), "org.cdsd.rule-errors");
        assert_int_equal(ext->via.array.size, 5);
        for (size_t i = 0; i < r.info.nruns; i++) {
            const char *id = r.info.runs[i].rule, *m = r.info.runs[i].error;
            if (strcmp(id, "t.error") == 0) assert_non_null(strstr(m, "rules.lua:9:"));
            if (strcmp(id, "t.loop") == 0) assert_non_null(strstr(m, "budget exceeded"));
            if (strcmp(id, "t.long") == 0) assert_non_null(strstr(m, "fewer than 140"));
            if (strcmp(id, "t.badind") == 0) assert_non_null(strstr(m, "info, warning or critical"));
            if (strcmp(id, "t.mutate") == 0) assert_non_null(strstr(m, "read-only"));
        }
        release(&r);
    }
    close_set(&set);
}

/* The engine reads a rule's result after the rule's protected, budgeted call: a metamethod a
 * rule attached there once ran unprotected - an __index that errors aborted the process (Lua
 * panic), one that loops hung it. Such results are refused inside the call now; so are a stray
 * selectionBehavior and a flood of cards. */
static void bad_results_fail_the_rule_not_the_process(void **s)
{
    (void)s;
    char rules[6144];
    snprintf(rules, sizeof rules, "%s%s", GOOD_RULE,
             "rule { id = 't.erroring', version = '1', title = 'Erroring index', hooks = { 'order-sign' },\n"
             "  evaluate = function(ctx) return setmetatable({}, { __index = function() error('boom') end }) end }\n"
             "rule { id = 't.looping', version = '1', title = 'Looping index', hooks = { 'order-sign' },\n"
             "  evaluate = function(ctx) return { setmetatable({}, { __index = function() while true do end end }) } end }\n"
             "rule { id = 't.deep', version = '1', title = 'Deep', hooks = { 'order-sign' },\n"
             "  evaluate = function(ctx) return card { indicator = 'info', summary = 'x',\n"
             "    links = { setmetatable({}, { __len = function() error('len') end }) } } end }\n"
             "rule { id = 't.cycle', version = '1', title = 'Cycle', hooks = { 'order-sign' },\n"
             "  evaluate = function(ctx) local t = { indicator = 'info', summary = 'cyclic' } t.self = t return t end }\n"
             "rule { id = 't.stray', version = '1', title = 'Stray behaviour', hooks = { 'order-sign' },\n"
             "  evaluate = function(ctx) return { indicator = 'info', summary = 'x', selectionBehavior = {} } end }\n"
             "rule { id = 't.cut', version = '1', title = 'Cut', hooks = { 'order-sign' },\n"
             "  evaluate = function(ctx) return card { indicator = 'info', summary = ('caf\xc3\xa9'):sub(1, 4) } end }\n"
             "rule { id = 't.badmsg', version = '1', title = 'Bad message', hooks = { 'order-sign' },\n"
             "  evaluate = function(ctx) error('bad \\255 byte, then ' .. ('\xc3\xa9'):rep(300)) end }\n"
             "rule { id = 't.badkey', version = '1', title = 'Bad key', hooks = { 'order-sign' },\n"
             "  evaluate = function(ctx) return card { indicator = 'info', summary = 'x', selection = 'any',\n"
             "    suggest = { { label = 'l', actions = { { type = 'create', description = 'd',\n"
             "      resource = { resourceType = 'X', ['\\255'] = 1 } } } } } } end }\n"
             "rule { id = 't.nul', version = '1', title = 'NUL in text', hooks = { 'order-sign' },\n"
             "  evaluate = function(ctx) return card { indicator = 'info', summary = 'ok',\n"
             "    detail = 'clear indication\\0 -- AND NEVER IN PREGNANCY' } end }\n"
             "rule { id = 't.nulkey', version = '1', title = 'NUL in a key', hooks = { 'order-sign' },\n"
             "  evaluate = function(ctx) return card { indicator = 'info', summary = 'x', selection = 'any',\n"
             "    suggest = { { label = 'l', actions = { { type = 'create', description = 'd',\n"
             "      resource = { resourceType = 'X', ['a\\0b'] = 1 } } } } } } end }\n"
             "rule { id = 't.flood', version = '1', title = 'Flood', hooks = { 'order-sign' },\n"
             "  evaluate = function(ctx) local out = {} for i = 1, 5000 do\n"
             "    out[i] = card { indicator = 'info', summary = 'card ' .. i, key = tostring(i) } end return out end }\n");
    const char *dir = make_set(rules);
    loaded set;
    open_set(&set, dir);
    result r;
    cds_error err;
    assert_int_equal(call(set.e, REQUEST, &r, &err), CDS_OK);
    assert_int_equal(r.info.nruns, 12);
    assert_int_equal(r.info.nerrors, 10);   /* the cyclic card is a plain table: packed, self dropped */
    bool found = false;   /* the good rule's card, among the warnings of those that failed */
    for (size_t i = 0; i < r.info.ncards; i++) found |= strcmp(r.info.cards[i].summary, "Found warfarin") == 0;
    assert_true(found);
    for (size_t i = 0; i < r.info.nruns; i++) {
        const char *id = r.info.runs[i].rule, *m = r.info.runs[i].error;
        if (strcmp(id, "t.erroring") == 0) assert_non_null(strstr(m, "metatable set by the rule at result"));
        if (strcmp(id, "t.looping") == 0) assert_non_null(strstr(m, "metatable set by the rule at result[1]"));
        if (strcmp(id, "t.deep") == 0) assert_non_null(strstr(m, "at result.links[1]"));
        if (strcmp(id, "t.cut") == 0) assert_non_null(strstr(m, "not valid UTF-8 (a character cut in two?) at result.summary"));
        if (strcmp(id, "t.cycle") == 0) assert_null(m);
        if (strcmp(id, "t.stray") == 0) assert_non_null(strstr(m, "belongs with suggestions"));
        if (strcmp(id, "t.badmsg") == 0) {   /* error messages go out as JSON: scrubbed, also where cut */
            assert_non_null(strstr(m, "bad ? byte, then "));
            assert_true(cds_utf8_valid((const unsigned char *)m, strlen(m)));
        }
        if (strcmp(id, "t.badkey") == 0) assert_non_null(strstr(m, "a key that is not valid UTF-8 at result.suggestions[1].actions[1].resource[?]"));
        /* issue 22 item 9: a NUL byte fails the rule, as malformed UTF-8 does */
        if (strcmp(id, "t.nul") == 0) assert_non_null(strstr(m, "a string with a NUL byte at result.detail"));
        if (strcmp(id, "t.nulkey") == 0) assert_non_null(strstr(m, "a key with a NUL byte at result.suggestions[1].actions[1].resource[?]"));
        if (strcmp(id, "t.flood") == 0) assert_non_null(strstr(m, "returned 5000 cards; at most 200 per rule"));
    }
    release(&r);
    close_set(&set);
}

/* A result whose tables are shared many times over (a doubling chain: 2^25 paths) is checked in
 * time, and a bad string at its bottom is still found, with its path: past a few hundred tables
 * the check walks again keeping each table to one visit. */
static void shared_tables_in_a_result_are_walked_once(void **s)
{
    (void)s;
    const char *dir = make_set(
        "rule { id = 't.shared', version = '1', title = 'Shared', hooks = { 'order-sign' },\n"
        "  evaluate = function(ctx)\n"
        "    local t = { ctx.hook_instance == 'bad' and '\\xff' or 'fine' }\n"
        "    for i = 1, 25 do t = { a = t, b = t } end\n"
        "    return card { indicator = 'info', summary = 'shared', links = { { label = 'x', url = 'https://e.x', type = 'absolute', t = t } } }\n"
        "  end }\n");
    loaded set;
    open_set(&set, dir);
    const char *instances[] = {"good", "bad"};
    for (int i = 0; i < 2; i++) {
        char req[1024];
        snprintf(req, sizeof req,
                 "{\"hook\":\"order-sign\",\"hookInstance\":\"%s\",\"context\":{\"userId\":\"Practitioner/1\","
                 "\"patientId\":\"p\",\"draftOrders\":{\"resourceType\":\"Bundle\",\"entry\":[]}}}",
                 instances[i]);
        result r;
        cds_error err;
        assert_int_equal(call(set.e, req, &r, &err), CDS_OK);
        if (i == 0) {
            if (r.info.nerrors) fail_msg("%s", r.info.runs[0].error);
        } else {
            assert_int_equal(r.info.nerrors, 1);
            const char *e = r.info.runs[0].error;
            if (!e || !strstr(e, "not valid UTF-8") || !strstr(e, "at result.links[1].t."))
                fail_msg("want the bad string and its path, got: %s", e ? e : "(none)");
        }
        release(&r);
    }
    close_set(&set);
}

static void card_uuids_are_deterministic_per_hook_instance(void **s)
{
    (void)s;
    const char *dir = make_set(GOOD_RULE);
    loaded set;
    open_set(&set, dir);
    cds_engine *e = set.e;
    result a, b, c;
    cds_error err;
    assert_int_equal(call(e, REQUEST, &a, &err), CDS_OK);
    assert_int_equal(call(e, REQUEST, &b, &err), CDS_OK);
    char other[4096];
    snprintf(other, sizeof other, "%s", REQUEST);
    memcpy(strstr(other, "hi-42"), "hi-43", 5);
    assert_int_equal(call(e, other, &c, &err), CDS_OK);
    assert_string_equal(a.info.cards[0].uuid, b.info.cards[0].uuid);
    assert_string_not_equal(a.info.cards[0].uuid, c.info.cards[0].uuid);
    assert_int_equal(strlen(a.info.cards[0].uuid), 36);
    release(&a);
    release(&b);
    release(&c);
    close_set(&set);
}

static void unknown_service_and_hook_mismatch(void **s)
{
    (void)s;
    const char *dir = make_set(GOOD_RULE);
    loaded set;
    open_set(&set, dir);
    cds_engine *e = set.e;
    cds_arena a;
    cds_arena_init(&a);
    msgpack_sbuffer in, out;
    msgpack_sbuffer_init(&in);
    msgpack_sbuffer_init(&out);
    cds_error err;
    cds_json_to_mp(REQUEST, strlen(REQUEST), "r", &in, &err);
    msgpack_unpacked req;
    cds_mp_decode(in.data, in.size, &req, &err);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    cds_eval_info info;
    assert_int_equal(cds_engine_call(e, "nope", &req.data, "request", 0, &a, &pk, &info, &err), CDS_EUNKNOWN_SVC);
    assert_int_equal(cds_engine_call(e, "view", &req.data, "request", 0, &a, &pk, &info, &err), CDS_EHOOK);
    assert_string_equal(err.path, "request.hook");
    assert_int_equal(out.size, 0);
    msgpack_unpacked_destroy(&req);
    msgpack_sbuffer_destroy(&in);
    msgpack_sbuffer_destroy(&out);
    cds_arena_free(&a);
    close_set(&set);
}

/* The interactions pack's public pair tables, with a header and no rows, in rule set dir's pack p. */
static void write_empty_public_tables(const char *dir)
{
    static const char *const PUBLIC[] = {"ddi_onc_high_priority", "ddi_va_ndfrt", "ddi_onc_non_interruptive"};
    for (size_t i = 0; i < 3; i++) {
        char name[80];
        snprintf(name, sizeof name, "p/tables/%s.tsv", PUBLIC[i]);
        tu_write(dir, name, "a\ta_name\tseverity\tsource\tcitation\tinteracts_with\n");
    }
}

/* The shipped ddi rule honours the knowledge's applies_if; unknown facts never silence it. */
static void an_interaction_applies_only_when_its_conditions_hold(void **s)
{
    (void)s;
    cds_error err;
    cds_error_clear(&err);
    char *ddi = cds_read_file(CDSD_SOURCE_DIR "/rules/interactions/ddi.lua", NULL, 1u << 20, &err);
    assert_non_null(ddi);
    const char *dir = make_set(ddi);
    free(ddi);
    tu_write(dir, "manifest.lua", "ruleset { name = 't', version = '1', source = 's', services = {\n"
                                  "  { id = 'svc', hook = 'order-sign', description = 'd', rules = { 'ddi.*' } } } }\n");
    tu_write(dir, "p/knowledge/interactions.tsv", "id\ta\tb\tseverity\tapplies_if\n"
                                                 "X1\t11289\t5640\tmajor\tage>=65\n");
    /* the rule's site policy as shipped, and public pair tables with no rows */
    char *policy = cds_read_file(CDSD_SOURCE_DIR "/rules/interactions/tables/ddi_policy.tsv", NULL, 1u << 20, &err);
    assert_non_null(policy);
    tu_write(dir, "p/tables/ddi_policy.tsv", policy);
    free(policy);
    write_empty_public_tables(dir);
    loaded set;
    open_set(&set, dir);
    cds_engine *e = set.e;
    static const struct { const char *birth; size_t cards; } cases[] = {{"1950-01-01", 1}, {"1990-01-01", 0}, {NULL, 1}};
    for (size_t i = 0; i < 3; i++) {
        char json[2048];
        snprintf(json, sizeof json,
                 "{\"hook\":\"order-sign\",\"hookInstance\":\"h\",\"context\":{\"userId\":\"P/1\",\"patientId\":\"p\","
                 "\"draftOrders\":{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":{\"resourceType\":\"MedicationRequest\","
                 "\"id\":\"m\",\"status\":\"draft\",\"medicationCodeableConcept\":{\"text\":\"ibuprofen\"}}}]}},"
                 "\"prefetch\":{\"p\":{\"resourceType\":\"Patient\",\"id\":\"p\"%s%s%s},"
                 "\"m\":{\"resourceType\":\"MedicationRequest\",\"id\":\"w\",\"status\":\"active\","
                 "\"medicationCodeableConcept\":{\"text\":\"warfarin\"}}}}",
                 cases[i].birth ? ",\"birthDate\":\"" : "", cases[i].birth ? cases[i].birth : "", cases[i].birth ? "\"" : "");
        result r;
        assert_int_equal(call(e, json, &r, &err), CDS_OK);
        if (r.info.ncards != cases[i].cards) fail_msg("birth %s: %zu cards", cases[i].birth ? cases[i].birth : "unknown", r.info.ncards);
        release(&r);
    }
    close_set(&set);
}

/* The ddi rule's site policy reaches each service's description from ddi_policy.tsv at load (the
 * discovery document cannot drift from the table): change a row, and the description changes. */
static const char *description_of(const cds_ruleset *rs, const char *id)
{
    for (size_t i = 0; i < rs->nservices; i++)
        if (strcmp(rs->services[i].id, id) == 0) return rs->services[i].description;
    return NULL;
}

static void the_interaction_policy_is_echoed_from_its_table(void **s)
{
    (void)s;
    cds_error err;
    cds_error_clear(&err);
    char *ddi = cds_read_file(CDSD_SOURCE_DIR "/rules/interactions/ddi.lua", NULL, 1u << 20, &err);
    char *policy = cds_read_file(CDSD_SOURCE_DIR "/rules/interactions/tables/ddi_policy.tsv", NULL, 1u << 20, &err);
    assert_non_null(ddi);
    assert_non_null(policy);
    for (int edited = 0; edited < 2; edited++) {
        const char *dir = make_set(ddi);
        tu_write(dir, "manifest.lua", "ruleset { name = 't', version = '1', source = 's', services = {\n"
                                      "  { id = 'sign', hook = 'order-sign', description = 'At signing.', rules = { 'ddi.*' } },\n"
                                      "  { id = 'view', hook = 'patient-view', description = 'Review.', rules = { 'ddi.*' } } } }\n");
        tu_write(dir, "p/knowledge/interactions.tsv", "id\ta\tb\tseverity\n");
        cds_strbuf pol;
        cds_strbuf_init(&pol);
        cds_strbuf_puts(&pol, policy);
        /* the site raises VA significant pairs to an interruptive warning at signing */
        if (edited) cds_strbuf_puts(&pol, "va-ndfrt\tsignificant\torder-sign\twarning\tyes\n");
        tu_write(dir, "p/tables/ddi_policy.tsv", pol.data);
        cds_strbuf_free(&pol);
        write_empty_public_tables(dir);
        loaded set;
        open_set(&set, dir);
        const char *sign = description_of(set.rs, "sign"), *view = description_of(set.rs, "view");
        assert_non_null(sign);
        assert_non_null(view);
        assert_non_null(strstr(sign, "At signing. Interaction cards by site policy (ddi_policy.tsv): "));
        assert_non_null(strstr(sign, "critical, interrupting: contraindicated, ONC high-priority"));
        assert_non_null(strstr(view, "info, not interrupting: moderate, minor, VA significant, ONC non-interruptive"));
        if (edited) {
            assert_non_null(strstr(sign, "warning, interrupting: major, VA critical, VA significant;"));
            assert_non_null(strstr(sign, "not shown: ONC non-interruptive."));
        } else {
            assert_non_null(strstr(sign, "warning, interrupting: major, VA critical;"));
            assert_non_null(strstr(sign, "not shown: VA significant, ONC non-interruptive."));
        }
        close_set(&set);
    }
    free(ddi);
    free(policy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cards_come_critical_then_warning_then_info),
        cmocka_unit_test(cards_carry_their_explanation),
        cmocka_unit_test(a_misspelt_field_is_reported_with_file_and_line),
        cmocka_unit_test(declarations_with_metatables_are_load_errors),
        cmocka_unit_test(a_syntax_error_is_reported_with_file_and_line),
        cmocka_unit_test(a_pattern_that_matches_no_rule_is_an_error),
        cmocka_unit_test(lazy_fields_are_built_on_use_and_never_for_a_stale_table),
        cmocka_unit_test(table_lookups_in_c_answer_like_the_lua_loops),
        cmocka_unit_test(obs_tables_are_shared_within_a_request_only),
        cmocka_unit_test(shared_tables_in_a_result_are_walked_once),
        cmocka_unit_test(failing_rules_are_reported_and_the_others_still_answer),
        cmocka_unit_test(bad_results_fail_the_rule_not_the_process),
        cmocka_unit_test(card_uuids_are_deterministic_per_hook_instance),
        cmocka_unit_test(unknown_service_and_hook_mismatch),
        cmocka_unit_test(the_interaction_policy_is_echoed_from_its_table),
        cmocka_unit_test(an_interaction_applies_only_when_its_conditions_hold),
    };
    return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
