/* audit_runs.c — compact per-decision rule runs and the generation's rule list (audit_runs.h). */
#include "audit_runs.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

void cds_audit_gen_rules(cds_strbuf *out, const cds_rule_info *rules, size_t nrules)
{
    cds_strbuf_putc(out, '[');
    for (size_t i = 0; i < nrules; i++) {
        cds_strbuf_puts(out, i ? ",[" : "[");
        cds_strbuf_json_string(out, rules[i].id, strlen(rules[i].id));
        cds_strbuf_putc(out, ',');
        const char *v = rules[i].version ? rules[i].version : "";
        cds_strbuf_json_string(out, v, strlen(v));
        cds_strbuf_putc(out, ']');
    }
    cds_strbuf_putc(out, ']');
}

static void put_varint(cds_strbuf *b, uint64_t v)
{
    char x[10];
    size_t n = 0;
    do {
        x[n] = (char)(v & 0x7f);
        v >>= 7;
        if (v) x[n] |= (char)0x80;
        n++;
    } while (v);
    cds_strbuf_append(b, x, n);
}

static void put_bytes(cds_strbuf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    put_varint(b, n);
    cds_strbuf_append(b, s ? s : "", n);
}

void cds_audit_runs_encode(cds_strbuf *out, const cds_rule_run *runs, size_t nruns, const cds_rule_info *rules,
                           size_t nrules)
{
    size_t at = 0;   /* runs follow the rule set's order: the search starts after the last match */
    for (size_t i = 0; i < nruns; i++) {
        const cds_rule_run *r = &runs[i];
        size_t k = nrules;
        for (size_t step = 0; step < nrules; step++) {
            size_t j = (at + step) % nrules;
            if (!strcmp(rules[j].id, r->rule) && !strcmp(rules[j].version ? rules[j].version : "", r->version ? r->version : "")) {
                k = j;
                break;
            }
        }
        if (k < nrules) {
            put_varint(out, k + 1);
            at = k + 1;
        } else {
            put_varint(out, 0);
            put_bytes(out, r->rule);
            put_bytes(out, r->version);
        }
        put_varint(out, (uint64_t)(r->cards > 0 ? r->cards : 0) << 1 | (r->error != NULL));
        double t = r->micros > 0 ? r->micros * 10 + 0.5 : 0;
        put_varint(out, t < 1e15 ? (uint64_t)t : (uint64_t)1e15);
        if (r->error) put_bytes(out, r->error);
    }
}

bool cds_audit_gen_parse(const char *json, cds_audit_gen *g)
{
    memset(g, 0, sizeof *g);
    cJSON *list = cJSON_Parse(json ? json : ""), *e;
    if (!cJSON_IsArray(list)) {
        cJSON_Delete(list);
        return false;
    }
    size_t n = (size_t)cJSON_GetArraySize(list);
    g->rule = calloc(n + 1, sizeof *g->rule);
    g->version = calloc(n + 1, sizeof *g->version);
    bool ok = g->rule && g->version;
    cJSON_ArrayForEach(e, list) {
        if (!ok) break;
        const char *r = cJSON_GetStringValue(cJSON_GetArrayItem(e, 0)), *v = cJSON_GetStringValue(cJSON_GetArrayItem(e, 1));
        if (!r || !v || !(g->rule[g->n] = strdup(r)) || !(g->version[g->n] = strdup(v))) ok = false;
        else g->n++;
    }
    cJSON_Delete(list);
    if (!ok) cds_audit_gen_free(g);
    return ok;
}

void cds_audit_gen_free(cds_audit_gen *g)
{
    for (size_t i = 0; g->rule && i <= g->n; i++) {
        free(g->rule[i]);
        if (g->version) free(g->version[i]);
    }
    free(g->rule);
    free(g->version);
    memset(g, 0, sizeof *g);
}

const cds_audit_gen *cds_audit_gen_cache_get(cds_audit_gen_cache *c, sqlite3 *db, int64_t id, cds_error *err)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->id[i] == id) return &c->gen[i];
    sqlite3_stmt *st;
    cds_audit_gen g = {0};
    bool ok = sqlite3_prepare_v2(db, "SELECT rules FROM generation WHERE id = ?", -1, &st, NULL) == SQLITE_OK;
    if (ok) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW) {   /* else: none (engine-only runs) */
            const unsigned char *json = sqlite3_column_text(st, 0);
            ok = cds_audit_gen_parse(json ? (const char *)json : "", &g);
        }
    }
    sqlite3_finalize(st);
    int64_t *ids = ok ? realloc(c->id, (c->n + 1) * sizeof *ids) : NULL;
    if (ids) c->id = ids;
    cds_audit_gen *gens = ids ? realloc(c->gen, (c->n + 1) * sizeof *gens) : NULL;
    if (!gens) {
        cds_audit_gen_free(&g);
        cds_error_set(err, CDS_EIO, NULL, "generation %lld: its rule list is not readable", (long long)id);
        return NULL;
    }
    c->gen = gens;
    c->id[c->n] = id;
    c->gen[c->n] = g;
    return &c->gen[c->n++];
}

void cds_audit_gen_cache_free(cds_audit_gen_cache *c)
{
    for (size_t i = 0; i < c->n; i++) cds_audit_gen_free(&c->gen[i]);
    free(c->id);
    free(c->gen);
    memset(c, 0, sizeof *c);
}

static bool get_varint(cds_audit_runs_iter *it, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && it->p < it->end; shift += 7) {
        unsigned char c = *it->p++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return true;
    }
    return false;
}

static bool get_bytes(cds_audit_runs_iter *it, const char **s, size_t *n)
{
    uint64_t len;
    if (!get_varint(it, &len) || len > (uint64_t)(it->end - it->p)) return false;
    *s = (const char *)it->p;
    *n = (size_t)len;
    it->p += len;
    return true;
}

int cds_audit_runs_next(cds_audit_runs_iter *it, cds_audit_run *out)
{
    if (it->p >= it->end) return 0;
    memset(out, 0, sizeof *out);
    uint64_t idx, flags, tenths;
    if (!get_varint(it, &idx)) return -1;
    if (idx == 0) {
        if (!get_bytes(it, &out->rule, &out->rule_len) || !get_bytes(it, &out->version, &out->version_len)) return -1;
    } else {
        if (!it->gen || idx > it->gen->n) return -1;
        out->rule = it->gen->rule[idx - 1];
        out->rule_len = strlen(out->rule);
        out->version = it->gen->version[idx - 1];
        out->version_len = strlen(out->version);
    }
    if (!get_varint(it, &flags) || !get_varint(it, &tenths)) return -1;
    out->cards = (long)(flags >> 1);
    out->us = (double)tenths / 10.0;
    if ((flags & 1) && !get_bytes(it, &out->error, &out->error_len)) return -1;
    return 1;
}
