/* shipped_rules.h — the shipped rule set (rules/ of the source tree), loaded for unit tests that
 * read its knowledge base or evaluate against it. NULL, with the load errors on stderr, when it
 * does not load. */
#ifndef CDS_SHIPPED_RULES_H
#define CDS_SHIPPED_RULES_H

#include <stdio.h>

#include "ruleset.h"

static inline cds_ruleset *tu_shipped_rules(void)
{
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_ruleset_opts o = {0};
    cds_ruleset *rs = NULL;
    if (cds_ruleset_load(CDSD_SOURCE_DIR "/rules", &o, &rs, &diag) != CDS_OK) {
        fprintf(stderr, "%s", diag.data ? diag.data : "the shipped rules did not load\n");
        rs = NULL;
    }
    cds_strbuf_free(&diag);
    return rs;
}

#endif
