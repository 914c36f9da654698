/* generation.c — build, check, swap and reference-count rule set generations. */
#include "generation.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "firing_live.h"
#include "fixture.h"
#include "log.h"
#include "metrics.h"

struct cds_gen {
    cds_ruleset *rs;
    atomic_int refs;
    unsigned long id;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;
static cds_gen *current;
static unsigned long next_id = 1;

cds_gen *cds_gen_acquire(void)
{
    pthread_mutex_lock(&lock);
    cds_gen *g = current;
    if (g) atomic_fetch_add(&g->refs, 1);
    pthread_mutex_unlock(&lock);
    return g;
}

void cds_gen_release(cds_gen *g)
{
    if (g && atomic_fetch_sub(&g->refs, 1) == 1) {
        cds_ruleset_free(g->rs);
        free(g);
    }
}

const cds_ruleset *cds_gen_ruleset(const cds_gen *g) { return g->rs; }
unsigned long cds_gen_id(const cds_gen *g) { return g->id; }

static void log_lines(cds_log_level lvl, const char *text)
{
    if (!text) return;
    char line[1024];
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line - 1 ? n : sizeof line - 1), p);
        if (n) cds_log(lvl, "reload", "%s", line);
        p += n + (nl ? 1 : 0);
    }
}

bool cds_gen_reload(const cds_gen_opts *o)
{
    pthread_mutex_lock(&reload_lock);
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_ruleset_opts ro = {.kb_path = o->kb_path};
    cds_ruleset *rs = NULL;
    bool ok = false;
    if (cds_ruleset_load(o->rules_dir, &ro, &rs, &diag) != CDS_OK) {
        cds_log(CDS_LOG_ERROR, "reload", "reload: the rule set in %s did not load; keeping the current one", o->rules_dir);
        log_lines(CDS_LOG_ERROR, diag.data);
        goto done;
    }
    struct stat st;
    if (o->fixtures_dir && stat(o->fixtures_dir, &st) == 0) {
        cds_engine *e = cds_engine_new(rs, &diag);
        if (!e) {
            cds_log(CDS_LOG_ERROR, "reload", "reload: rules did not compile; keeping the current rule set");
            log_lines(CDS_LOG_ERROR, diag.data);
            goto done;
        }
        FILE *devnull = fopen("/dev/null", "w");
        cds_fixture_opts fo = {true, devnull ? devnull : stderr, false, false};
        cds_fixture_result res;
        const char *paths[] = {o->fixtures_dir};
        cds_fixtures_run(e, paths, 1, &fo, &res);
        if (devnull) fclose(devnull);
        cds_engine_free(e);
        bool pass = res.failed == 0 && res.passed > 0;
        cds_log(pass ? CDS_LOG_INFO : CDS_LOG_ERROR, "reload", "reload: fixtures in %s: %d passed, %d failed", o->fixtures_dir,
                res.passed, res.failed);
        cds_fixture_result_free(&res);
        if (!pass) {
            cds_log(CDS_LOG_ERROR, "reload", "reload: fixtures failed; keeping the current rule set (run 'cdsd test' for details)");
            goto done;
        }
    }
    cds_gen *g = calloc(1, sizeof *g);
    if (!g) goto done;
    g->rs = rs;
    rs = NULL;
    cds_metrics_register_ruleset(g->rs);   /* its label values exist before any call can use them */
    cds_firing_live_register(g->rs);
    atomic_init(&g->refs, 1);
    pthread_mutex_lock(&lock);
    g->id = next_id++;
    cds_gen *old = current;
    current = g;
    pthread_mutex_unlock(&lock);
    cds_gen_release(old);
    cds_log(CDS_LOG_INFO, "reload", "rule set %s %s loaded as generation %lu (digest %.16s, knowledge %.16s, %zu rules)",
            g->rs->name, g->rs->version, g->id, g->rs->digest, cds_kb_digest(g->rs->kb), g->rs->nrules);
    ok = true;
done:
    cds_metrics_reload(ok);
    cds_ruleset_free(rs);
    cds_strbuf_free(&diag);
    pthread_mutex_unlock(&reload_lock);
    return ok;
}

void cds_gen_shutdown(void)
{
    pthread_mutex_lock(&lock);
    cds_gen *g = current;
    current = NULL;
    pthread_mutex_unlock(&lock);
    cds_gen_release(g);
}
