/* audit_gen_calls.c — real calls for cdsd-audit-gen (audit_gen_calls.h). */
#include "audit_gen_calls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "mp.h"

bool gen_calls_load(gen_calls *g, const char *list, const cds_ruleset *rs)
{
    memset(g, 0, sizeof *g);
    FILE *f = fopen(list, "r");
    if (!f) {
        perror(list);
        return false;
    }
    char dir[1024], line[1200], path[2300];
    snprintf(dir, sizeof dir, "%s", list);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    bool ok = true;
    for (int no = 1; ok && fgets(line, sizeof line, f); no++) {
        char svc[128], file[1024];
        if (line[strspn(line, " \t")] == '#' || sscanf(line, "%127s %1023s", svc, file) != 2) continue;
        snprintf(path, sizeof path, "%s%s%s", file[0] == '/' ? "" : dir, file[0] == '/' ? "" : "/", file);
        gen_call *p = realloc(g->call, (g->n + 1) * sizeof *p);
        if (!p) {
            ok = false;
            break;
        }
        g->call = p;
        gen_call *c = &g->call[g->n];
        snprintf(c->service, sizeof c->service, "%s", svc);
        msgpack_unpacked_init(&c->request);
        cds_error err;
        size_t len;
        char *json = cds_read_file(path, &len, 64u << 20, &err);
        msgpack_sbuffer_init(&c->mp);
        ok = json && cds_json_to_mp(json, len, path, &c->mp, &err) == CDS_OK &&
             cds_mp_decode(c->mp.data, c->mp.size, &c->request, &err) == CDS_OK;
        g->n++;   /* freed with the others even when it failed */
        if (!ok) fprintf(stderr, "%s:%d: %s\n", list, no, err.message);
        free(json);
    }
    fclose(f);
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    if (ok && !g->n) fprintf(stderr, "%s: no calls\n", list);
    if (ok && g->n && !(g->engine = cds_engine_new(rs, &diag))) fprintf(stderr, "%s", diag.data ? diag.data : "no engine\n");
    cds_strbuf_free(&diag);
    if (!ok || !g->engine) gen_calls_free(g);
    return ok && g->engine;
}

cds_rc gen_calls_eval(gen_calls *g, size_t i, time_t now, cds_arena *a, cds_eval_info *info)
{
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    cds_error err;
    cds_rc rc = cds_engine_call(g->engine, g->call[i].service, &g->call[i].request.data, "request", now, a, &pk, info, &err);
    if (rc) fprintf(stderr, "call %zu (%s): %s\n", i, g->call[i].service, err.message);
    msgpack_sbuffer_destroy(&out);
    return rc;
}

void gen_calls_free(gen_calls *g)
{
    for (size_t i = 0; i < g->n; i++) {
        msgpack_unpacked_destroy(&g->call[i].request);
        msgpack_sbuffer_destroy(&g->call[i].mp);
    }
    free(g->call);
    cds_engine_free(g->engine);
    memset(g, 0, sizeof *g);
}
