/* test_kb_class_coverage.c — the shipped drug classes cover every member of the ingredient sets
 * the vocabulary ships (issue 24, point 5): every ingredient of rules/vocabulary whose name says
 * which class it belongs to (-pril, -sartan, -statin, cef-/ceph-, ...) is a member of that class,
 * so a class never silently misses a drug the knowledge base knows. Names that fit a pattern but
 * are not members are listed here with the reason. Classes are curated in tools/kb-curated/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "ruleset.h"

typedef struct pattern {
    const char *cls;              /* class id in rules/vocabulary/knowledge/classes.tsv */
    const char *prefix, *suffix;  /* name starts / ends with (either may be NULL) */
} pattern;

static const pattern PATTERNS[] = {
    {"ace-inhibitors", NULL, "pril"},          {"ace-inhibitors", NULL, "prilat"},
    {"angiotensin-ii-receptor-blockers", NULL, "sartan"},
    {"statins", NULL, "statin"},
    {"benzodiazepines", NULL, "azepam"},       {"benzodiazepines", NULL, "azolam"},
    {"cephalosporins", "cef", NULL},           {"cephalosporins", "ceph", NULL},
    {"penicillins", NULL, "cillin"},
    {"carbapenems", NULL, "penem"},
    {"fluoroquinolones", NULL, "floxacin"},
    {"macrolides", NULL, "thromycin"},
    {"direct-oral-anticoagulants", NULL, "xaban"},
    {"heparins", NULL, "parin"},
    {"antiplatelets", NULL, "grel"},           {"antiplatelets", NULL, "grelor"},
    {"proton-pump-inhibitors", NULL, "prazole"},
    {"beta-blockers", NULL, "olol"},           {"beta-blockers", NULL, "alol"},    {"beta-blockers", NULL, "ilol"},
    {"dihydropyridine-calcium-channel-blockers", NULL, "dipine"},
    {"serotonergic-antidepressants", NULL, "oxetine"}, {"serotonergic-antidepressants", NULL, "opram"},
    {"serotonergic-antidepressants", NULL, "faxine"},
    {"thiazide-diuretics", NULL, "thiazide"},
    {"opioids", NULL, "morphone"},             {"opioids", NULL, "fentanil"},
};

/* name, class: fits the pattern, is not a member, and why */
static const char *const NOT_MEMBERS[][2] = {
    {"nystatin", "statins"},                  /* a polyene antifungal */
    {"cilastatin", "statins"},                /* a dehydropeptidase inhibitor given with imipenem */
    {"pentostatin", "statins"},               /* an adenosine deaminase inhibitor */
    {"aripiprazole", "proton-pump-inhibitors"},  /* an antipsychotic */
    {"brexpiprazole", "proton-pump-inhibitors"}, /* an antipsychotic */
    {"atomoxetine", "serotonergic-antidepressants"}, /* a noradrenaline reuptake inhibitor */
    {"reboxetine", "serotonergic-antidepressants"},  /* a noradrenaline reuptake inhibitor */
    {NULL, NULL},
};

static bool ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

static bool excused(const char *name, const char *cls)
{
    for (size_t i = 0; NOT_MEMBERS[i][0]; i++)
        if (strcmp(NOT_MEMBERS[i][0], name) == 0 && strcmp(NOT_MEMBERS[i][1], cls) == 0) return true;
    return false;
}

static void classes_cover_their_ingredient_sets(void **s)
{
    (void)s;
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_ruleset *rs;
    cds_ruleset_opts o = {0};
    if (cds_ruleset_load(CDSD_SOURCE_DIR "/rules", &o, &rs, &diag)) fail_msg("%s", diag.data);
    int missing = 0, checked = 0;
    for (size_t p = 0; p < sizeof PATTERNS / sizeof *PATTERNS; p++) {
        uint32_t cls = cds_kb_class_by_id(rs->kb, PATTERNS[p].cls);
        if (cls == CDS_KB_NONE) {
            print_error("class '%s' is not in the shipped knowledge base\n", PATTERNS[p].cls);
            missing++;
            continue;
        }
        int fits = 0;
        for (uint32_t g = 0; g < cds_kb_ningredients(rs->kb); g++) {
            const char *name = cds_kb_ingredient_at(rs->kb, g)->name;
            if (PATTERNS[p].prefix && strncmp(name, PATTERNS[p].prefix, strlen(PATTERNS[p].prefix)) != 0) continue;
            if (PATTERNS[p].suffix && !ends_with(name, PATTERNS[p].suffix)) continue;
            if (strchr(name, ' ')) continue;   /* combinations and salts are products, not members */
            fits++;
            if (cds_kb_in_class(rs->kb, g, cls) || excused(name, PATTERNS[p].cls)) continue;
            print_error("%s is not in class %s (name pattern %s*%s): add it to tools/kb-curated/classes.tsv "
                        "and regenerate, or list it in NOT_MEMBERS with the reason\n", name, PATTERNS[p].cls,
                        PATTERNS[p].prefix ? PATTERNS[p].prefix : "", PATTERNS[p].suffix ? PATTERNS[p].suffix : "");
            missing++;
        }
        checked += fits;
    }
    /* An excused name that became a member, or is no longer in the vocabulary, is stale. */
    for (size_t i = 0; NOT_MEMBERS[i][0]; i++) {
        uint32_t cls = cds_kb_class_by_id(rs->kb, NOT_MEMBERS[i][1]);
        uint32_t found[4];
        size_t n = cds_kb_match_names(rs->kb, NOT_MEMBERS[i][0], false, found, 4);
        for (size_t k = 0; k < n; k++) assert_false(cds_kb_in_class(rs->kb, found[k], cls));
    }
    print_message("%d ingredients checked against %zu name patterns\n", checked, sizeof PATTERNS / sizeof *PATTERNS);
    assert_true(checked > 100);
    assert_int_equal(missing, 0);
    cds_ruleset_free(rs);
    cds_strbuf_free(&diag);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(classes_cover_their_ingredient_sets)};
    return cmocka_run_group_tests_name("kb_class_coverage", tests, NULL, NULL);
}
