/* cli_common.c — helpers shared by the subcommands. */
#include <stdio.h>

#include "cli.h"

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
