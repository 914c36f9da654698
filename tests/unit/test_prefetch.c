/* test_prefetch.c — prefetch templates (the spec's token rules), the keys a request leaves
 * out, and the manifest errors a pharmacist sees for bad templates or required keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "json.h"
#include "mp.h"
#include "prefetch.h"
#include "ruleset.h"
#include "testutil.h"

typedef struct decoded { msgpack_sbuffer sb; msgpack_unpacked u; } decoded;

static void decode(decoded *d, const char *json)
{
    cds_error err;
    msgpack_sbuffer_init(&d->sb);
    if (cds_json_to_mp(json, strlen(json), "test", &d->sb, &err) != CDS_OK) fail_msg("%s", err.message);
    if (cds_mp_decode(d->sb.data, d->sb.size, &d->u, &err) != CDS_OK) fail_msg("%s", err.message);
}

static void release(decoded *d)
{
    msgpack_unpacked_destroy(&d->u);
    msgpack_sbuffer_destroy(&d->sb);
}

static const char *REQ =
    "{\"hook\":\"order-sign\",\"context\":{\"userId\":\"PractitionerRole/r 1\",\"patientId\":\"p/1&x\","
    "\"encounterId\":\"e1\",\"count\":5,\"medication\":{\"id\":\"m\"}}}";

static char *render(const char *tmpl, cds_rc *rc, cds_error *err)
{
    decoded d;
    decode(&d, REQ);
    cds_strbuf b;
    cds_strbuf_init(&b);
    *rc = cds_prefetch_render(tmpl, &d.u.data, &b, err);
    char *out = strdup(b.data ? b.data : "");
    cds_strbuf_free(&b);
    release(&d);
    return out;
}

static void tokens_are_rendered_and_percent_encoded(void **s)
{
    (void)s;
    cds_rc rc;
    cds_error err;
    char *out = render("MedicationRequest?patient={{context.patientId}}&encounter={{ context.encounterId }}&_count={{context.count}}", &rc, &err);
    assert_int_equal(rc, CDS_OK);
    assert_string_equal(out, "MedicationRequest?patient=p%2F1%26x&encounter=e1&_count=5");
    free(out);
    out = render("PractitionerRole?_id={{userPractitionerRoleId}}", &rc, &err);
    assert_int_equal(rc, CDS_OK);
    assert_string_equal(out, "PractitionerRole?_id=r%201");
    free(out);
}

static void a_token_without_a_value_is_prefetch_missing(void **s)
{
    (void)s;
    cds_rc rc;
    cds_error err;
    /* context.userId is a PractitionerRole, so there is no Practitioner id to put here */
    free(render("Practitioner/{{userPractitionerId}}", &rc, &err));
    assert_int_equal(rc, CDS_EPREFETCH);
    assert_non_null(strstr(err.message, "{{userPractitionerId}} has no value"));
    free(render("Encounter/{{context.absent}}", &rc, &err));
    assert_int_equal(rc, CDS_EPREFETCH);
    free(render("X?m={{context.medication}}", &rc, &err));   /* objects are not prefetch tokens */
    assert_int_equal(rc, CDS_EPREFETCH);
}

static void only_the_spec_tokens_are_accepted_at_load(void **s)
{
    (void)s;
    char why[200];
    assert_true(cds_prefetch_template_ok("Patient/{{context.patientId}}", why, sizeof why));
    assert_true(cds_prefetch_template_ok("Observation?patient={{context.patientId}}&_count=100", why, sizeof why));
    assert_true(cds_prefetch_template_ok("RelatedPerson/{{userRelatedPersonId}}", why, sizeof why));
    assert_false(cds_prefetch_template_ok("Medication/{{context.medication.id}}", why, sizeof why));
    assert_non_null(strstr(why, "{{context.medication.id}}"));
    assert_false(cds_prefetch_template_ok("Patient/{{patientId}}", why, sizeof why));
    assert_false(cds_prefetch_template_ok("Patient/{{context.patientId}", why, sizeof why));
    assert_non_null(strstr(why, "not closed"));
    assert_false(cds_prefetch_template_ok("Patient/context.patientId}}", why, sizeof why));
}

static void gaps_are_absent_keys_and_unfinished_searches(void **s)
{
    (void)s;
    char *keys[] = {"allergies", "conditions", "medications", "patient"};
    char *tmpl[] = {"AllergyIntolerance?patient={{context.patientId}}", "Condition?patient={{context.patientId}}",
                    "MedicationRequest?patient={{context.patientId}}", "Patient/{{context.patientId}}"};
    bool req[] = {true, false, true, false};
    cds_service sv = {.prefetch_keys = keys, .prefetch_templates = tmpl, .prefetch_required = req, .nprefetch = 4};
    decoded d;
    /* null = the client has no data (satisfied); an OperationOutcome is the client's answer too;
     * a searchset with a next link is unfinished; conditions and patient are absent */
    decode(&d, "{\"prefetch\":{\"allergies\":null,\"medications\":{\"resourceType\":\"Bundle\",\"type\":\"searchset\","
               "\"link\":[{\"relation\":\"next\",\"url\":\"https://f/x?page=2\"}],\"entry\":[]},"
               "\"other\":{\"resourceType\":\"OperationOutcome\"}}}");
    cds_prefetch_gap g[8];
    size_t n = cds_prefetch_gaps(&sv, &d.u.data, g, 8);
    assert_int_equal(n, 3);
    assert_int_equal(g[0].key, 1);
    assert_false(g[0].required);
    assert_null(g[0].partial);
    assert_int_equal(g[1].key, 2);
    assert_true(g[1].required);
    assert_non_null(g[1].partial);
    assert_int_equal(g[2].key, 3);
    release(&d);
    decode(&d, "{\"prefetch\":{\"allergies\":{\"resourceType\":\"OperationOutcome\"},\"conditions\":null,"
               "\"medications\":{\"resourceType\":\"Bundle\",\"entry\":[]},\"patient\":{\"resourceType\":\"Patient\"}}}");
    assert_int_equal(cds_prefetch_gaps(&sv, &d.u.data, g, 8), 0);
    release(&d);
}

/* Loads a rule set made of `manifest` and one empty rule; it must fail. Returns its diagnostics
 * (caller frees), and removes the set. */
static char *load_errors(const char *manifest)
{
    const char *dir = tu_tempdir();
    tu_write(dir, "manifest.lua", manifest);
    tu_write(dir, "p/pack.lua", "pack { name = 'p', version = '1' }\n");
    tu_write(dir, "p/r.lua", "rule { id = 't.r', version = '1', title = 'R', hooks = { 'order-sign' },\n"
                             "  evaluate = function(ctx) return nil end }\n");
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_ruleset *rs = NULL;
    cds_ruleset_opts o = {.limits = {.memory = 32u << 20, .instructions = 1000000, .milliseconds = 200}};
    assert_int_not_equal(cds_ruleset_load(dir, &o, &rs, &diag), CDS_OK);
    assert_null(rs);
    tu_rmrf(dir);
    return diag.data;
}

static void manifest_errors_name_the_service_and_key(void **s)
{
    (void)s;
    char *diag = load_errors("ruleset { name = 't', version = '1', source = 's', services = {\n"
                             "  { id = 'svc', hook = 'order-sign', description = 'd', rules = { 't.*' },\n"
                             "    prefetch = { meds = 'MedicationRequest?patient={{context.patient}}', bad = 'Medication/{{context.medication.id}}' },\n"
                             "    required_prefetch = { 'meds', 'allergies' } } } }\n");
    if (!strstr(diag, "manifest.lua:1: service 'svc': prefetch 'bad': unsupported token '{{context.medication.id}}'") ||
        !strstr(diag, "required_prefetch: 'allergies' is not a key of prefetch"))
        fail_msg("%s", diag);
    free(diag);
}

static void more_prefetch_keys_than_the_limit_is_a_load_error(void **s)
{
    (void)s;
    cds_strbuf m;
    cds_strbuf_init(&m);
    cds_strbuf_puts(&m, "ruleset { name = 't', version = '1', source = 's', services = {\n"
                        "  { id = 'svc', hook = 'order-sign', description = 'd', rules = { 't.*' }, prefetch = {");
    for (int i = 0; i <= CDS_PREFETCH_MAX_KEYS; i++) cds_strbuf_printf(&m, " k%d = 'Patient/{{context.patientId}}',", i);
    cds_strbuf_puts(&m, " } } } }\n");
    char *diag = load_errors(m.data);
    if (!strstr(diag, "prefetch: 65 keys; at most 64")) fail_msg("%s", diag);
    free(diag);
    cds_strbuf_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tokens_are_rendered_and_percent_encoded),
        cmocka_unit_test(a_token_without_a_value_is_prefetch_missing),
        cmocka_unit_test(only_the_spec_tokens_are_accepted_at_load),
        cmocka_unit_test(gaps_are_absent_keys_and_unfinished_searches),
        cmocka_unit_test(manifest_errors_name_the_service_and_key),
        cmocka_unit_test(more_prefetch_keys_than_the_limit_is_a_load_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
