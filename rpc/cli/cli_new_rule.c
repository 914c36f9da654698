/* cli_new_rule.c — `cdsd new-rule [--rules DIR] [--fixtures DIR] PACK RULE_ID`: starts a rule
 * from a template (metadata, an evaluate function that does nothing until written) with two
 * fixtures in the patient shorthand, one where it must fire (it fails until the rule is written)
 * and one where it must stay silent. Nothing is overwritten. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* The evaluate function returns nothing until its author writes it: a new rule can never put a
 * card in front of a prescriber by accident. The example trigger is commented out. */
static const char *RULE_TEMPLATE =
    "-- %s/%s/%s.lua — owner: TODO\n"
    "-- TODO: one paragraph on what this rule checks and why.\n"
    "\n"
    "rule {\n"
    "  id = \"%s\", version = \"0.1.0\",\n"
    "  title = \"TODO: what this rule checks\",\n"
    "  hooks = { \"order-select\", \"order-sign\" },\n"
    "  references = { \"TODO: the guidance this rule follows\" },\n"
    "\n"
    "  evaluate = function(ctx)\n"
    "    -- This rule does nothing until you write it (its -fires fixture fails until then).\n"
    "    -- An example: remove the leading \"--\" of the lines below and edit them.\n"
    "    -- ctx.meds.any accepts a name, an RxNorm code or \"class:ID\".\n"
    "    --\n"
    "    -- local m = ctx.meds.any(\"warfarin\")\n"
    "    -- if not (m and m.draft) then return nil end\n"
    "    -- return card {\n"
    "    --   indicator = \"info\",\n"
    "    --   summary = \"TODO: one sentence for the prescriber about \" .. m.name,\n"
    "    --   detail = \"TODO: why it matters and what to do.\",\n"
    "    --   suggest = { remove(m) },\n"
    "    --   override = { \"not-applicable\" },\n"
    "    -- }\n"
    "    return nil\n"
    "  end,\n"
    "}\n";

/* The patient shorthand (README "Fixtures"): edit the patient, the list and the drafts. */
static const char *FIXTURE_TEMPLATE =
    "{\n"
    " \"description\": \"%s %s (edit: say what this case shows)\",\n"
    " \"service\": \"medication-safety\",\n"
    " \"at\": \"2025-03-01T09:00:00Z\",\n"
    " \"patient\": {\"age\": 65, \"sex\": \"female\"},\n"
    " \"medications\": [],\n"
    " \"allergies\": [],\n"
    " \"drafts\": [{\"rxnorm\": \"%s\", \"display\": \"%s\"}],\n"
    " \"%s\": [{\"rule\": \"%s\"}]\n"
    "}\n";

static void usage(FILE *f)
{
    fprintf(f, "usage: cdsd new-rule [--rules DIR] [--fixtures DIR] PACK RULE_ID   (e.g. interactions ddi.my-pair)\n"
               "Starts RULES/PACK/RULE_ID.lua from a template that does nothing until you write its evaluate\n"
               "function, and FIXTURES/PACK/RULE_ID-fires.json (fails until then) and -silent.json.\n"
               "Knowledge-table changes (an interaction, an allergy class) need no new rule: only fixtures.\n");
}

static int write_new(const char *path, const char *text)
{
    if (access(path, F_OK) == 0) {
        fprintf(stderr, "cdsd new-rule: %s exists; not overwriting it\n", path);
        return -1;
    }
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0) {
        fprintf(stderr, "cdsd new-rule: %s: %s\n", path, strerror(errno));
        if (f) fclose(f);
        return -1;
    }
    fclose(f);
    printf("created %s\n", path);
    return 0;
}

int cli_new_rule(int argc, char **argv)
{
    const char *rules = CLI_DEFAULT_RULES, *fixtures = "fixtures";
    static const struct option opts[] = {{"rules", 1, 0, 'r'}, {"fixtures", 1, 0, 'f'}, {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'r') rules = optarg;
        else if (c == 'f') fixtures = optarg;
        else if (c == 'h') { usage(stdout); return 0; }
        else { usage(stderr); return 2; }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return 2;
    }
    const char *pack = argv[optind], *id = argv[optind + 1];
    for (const char *p = id; *p; p++)
        if (!(*p == '.' || *p == '-' || *p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))) {
            fprintf(stderr, "cdsd new-rule: a rule id uses lower-case letters, digits, '.', '-' and '_'\n");
            return 2;
        }
    char file[256], path[1200], text[4096];
    snprintf(file, sizeof file, "%s", id);
    for (char *p = file; *p; p++)
        if (*p == '.') *p = '_';
    snprintf(path, sizeof path, "%s/%s", rules, pack);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/pack.lua", rules, pack);
    if (access(path, F_OK) != 0) {
        snprintf(text, sizeof text, "pack {\n  name = \"%s\", version = \"0.1.0\", owner = \"TODO\",\n"
                                    "  description = \"TODO: what this pack is for\",\n}\n", pack);
        if (write_new(path, text)) return 1;
    }
    snprintf(path, sizeof path, "%s/%s/%s.lua", rules, pack, file);
    snprintf(text, sizeof text, RULE_TEMPLATE, rules, pack, file, id);
    if (write_new(path, text)) return 1;
    snprintf(path, sizeof path, "%s/%s", fixtures, pack);
    mkdir(fixtures, 0755);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s-fires.json", fixtures, pack, file);
    snprintf(text, sizeof text, FIXTURE_TEMPLATE, id, "fires", "855332", "Warfarin Sodium 5 MG Oral Tablet",
             "expect", id);
    if (write_new(path, text)) return 1;
    snprintf(path, sizeof path, "%s/%s/%s-silent.json", fixtures, pack, file);
    snprintf(text, sizeof text, FIXTURE_TEMPLATE, id, "stays silent", "313782",
             "Acetaminophen 325 MG Oral Tablet", "forbid", id);
    if (write_new(path, text)) return 1;
    printf("The rule does nothing until you write its evaluate function: its -fires fixture fails until then.\n"
           "next: make sure a service in %s/manifest.lua runs '%s' (its rules patterns), edit the TODOs\n"
           "and the fixtures' patient, then run: cdsd test %s/%s\n", rules, id, fixtures, pack);
    return 0;
}
