/* fixture.h — regression fixtures: a CDS Hooks request, an evaluation time, the cards that must
 * appear and the cards that must not. Every .json file under the given paths with a top-level
 * "service" key is a fixture:
 *   { "description": "...", "service": "medication-safety", "at": "2025-03-01T09:00:00Z",
 *     "request": {...} | "request_file": "relative/to/this/file.json",
 *     "expect": [ {"rule": "ddi.*", "indicator": "critical", "summary": "regex", "detail": "regex",
 *                  "suggests": ["text found in the suggestions"]} ],
 *     "forbid": [ {"rule": "allergy.*"} ], "only": true,
 *     "drafts": [ {"code": "197805", "display": "Ibuprofen 400 MG Oral Tablet"} ] }
 * "drafts" (optional) replaces the request's draft orders, so one patient serves many fixtures;
 * "hook" (optional) replaces the request's hook (e.g. to review the same patient on patient-view).
 * Instead of a request, "patient" with "medications", "allergies", "conditions" and "results"
 * describes the patient in a few lines (fixture_patient.h).
 * Matching: rule is a glob on source.topic.code; summary/detail are case-insensitive extended
 * regular expressions; "only" means no card beyond the expected ones.
 * The schema is strict (fixture_schema.h): an unknown key, a value of the wrong type, a rule
 * pattern that matches no rule the service runs, or a JSON syntax error fails the fixture with
 * file:line, so a typo never makes a fixture check less than it says. */
#ifndef CDS_FIXTURE_H
#define CDS_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>

#include "engine.h"

typedef struct cds_fixture_opts {
    bool quiet;               /* only failures and the summary */
    FILE *out;
    bool update;              /* rewrite "expect" with the cards produced (for reviewed fixtures) */
    bool require_explain;     /* fail a fixture whose cards lack a complete explanation (explain_check.h) */
} cds_fixture_opts;

typedef struct cds_fixture_result {
    int passed, failed;
    int *fired, *silent;      /* per rule in the rule set: fixtures where it fired / ran silently */
    size_t nrules;
} cds_fixture_result;

/* Runs every fixture found under paths; writes the report to opts->out. */
void cds_fixtures_run(cds_engine *e, const char *const *paths, size_t npaths, const cds_fixture_opts *opts,
                      cds_fixture_result *res);
void cds_fixture_result_free(cds_fixture_result *res);
/* Prints rules lacking a firing or a non-firing fixture; returns how many. */
int cds_fixture_coverage(const cds_ruleset *rs, const cds_fixture_result *res, FILE *out);

#endif
