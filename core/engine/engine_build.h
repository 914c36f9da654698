/* engine_build.h — internal: compiling a rule set into a Lua state, shared by ruleset.c (which
 * collects the rule metadata once) and engine.c (one state per worker). */
#ifndef CDS_ENGINE_BUILD_H
#define CDS_ENGINE_BUILD_H

#include "engine.h"

/* Builds an engine. With infos != NULL, the rules' metadata is returned (malloc'd) instead of
 * checked against rs->rules. NULL with messages in diag on failure. */
cds_engine *cds_engine_build(const cds_ruleset *rs, cds_rule_info **infos, size_t *ninfos, cds_strbuf *diag);

#endif
