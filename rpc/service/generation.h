/* generation.h — the live rule set as a reference-counted generation. A reload builds a new
 * generation beside the old one, checks it (load = lint, then its fixtures), and only then
 * swaps it in; workers move to it between requests and the old one is freed when the last
 * worker lets go. */
#ifndef CDS_GENERATION_H
#define CDS_GENERATION_H

#include <stdbool.h>

#include "ruleset.h"

typedef struct cds_gen cds_gen;

typedef struct cds_gen_opts {
    const char *rules_dir;
    const char *fixtures_dir;   /* NULL or missing directory: no fixture gate */
    const char *kb_path;        /* SQLite file the knowledge base is written to */
} cds_gen_opts;

/* Builds and checks a generation; on failure logs why and returns false (current unchanged). */
bool cds_gen_reload(const cds_gen_opts *o);
/* The current generation with a reference held (NULL before the first successful load). */
cds_gen *cds_gen_acquire(void);
void cds_gen_release(cds_gen *g);
const cds_ruleset *cds_gen_ruleset(const cds_gen *g);
unsigned long cds_gen_id(const cds_gen *g);
/* Drops the current generation (shutdown). */
void cds_gen_shutdown(void);

#endif
