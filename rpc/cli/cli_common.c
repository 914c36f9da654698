/* cli_common.c — helpers shared by the subcommands. */
#include <stdio.h>

#include "cli.h"
#include "engine.h"

cds_ruleset *cli_load_rules(const char *dir, const char *kb_path, bool progress)
{
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_ruleset_opts opts = {.kb_path = kb_path, .progress = progress};
    cds_ruleset *rs = NULL;
    if (cds_ruleset_load(dir, &opts, &rs, &diag) != CDS_OK) {
        fprintf(stderr, "%s", diag.data ? diag.data : "");
        fprintf(stderr, "cdsd: the rule set in %s did not load\n", dir);
        rs = NULL;
    }
    cds_strbuf_free(&diag);
    return rs;
}

cds_engine *cli_load_engine(const char *dir, cds_ruleset **rs)
{
    *rs = cli_load_rules(dir, NULL, false);
    if (!*rs) return NULL;
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_engine *e = cds_engine_new(*rs, &diag);
    if (!e) {
        fprintf(stderr, "%s", diag.data ? diag.data : "");
        cds_ruleset_free(*rs);
        *rs = NULL;
    }
    cds_strbuf_free(&diag);
    return e;
}

void cli_unload_engine(cds_engine *e, cds_ruleset *rs)
{
    cds_engine_free(e);
    cds_ruleset_free(rs);
}
