/* fixture_schema.h — the strict schema of a regression fixture: every key known, every value of
 * its type, every rule pattern matching a rule the fixture's service runs, every regular
 * expression compiling. A fixture that breaks it fails before it is evaluated, so a typo can
 * never make a fixture check less than it says. */
#ifndef CDS_FIXTURE_SCHEMA_H
#define CDS_FIXTURE_SCHEMA_H

#include "json_lines.h"
#include "ruleset.h"
#include "strbuf.h"

struct cJSON;

/* Checks a parsed fixture. Appends one "FILE:LINE: message\n" per problem to out; returns how
 * many. jl locates the fixture's keys in its text (for LINE). */
int cds_fixture_check(const struct cJSON *fx, const cds_json_lines *jl, const char *file, const cds_ruleset *rs,
                      cds_strbuf *out);

/* Is this parsed JSON file a fixture (rather than a request file that fixtures share)? Any
 * top-level object that is not shaped like a CDS Hooks request is, so that a fixture whose
 * "service" key is misspelled fails instead of being skipped. */
bool cds_fixture_is_fixture(const struct cJSON *doc);

#endif
