/* requests.c — building benchmark envelopes (see requests.h). */
#include "requests.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fhir_build.h"
#include "grow.h"
#include "json.h"
#include "kb.h"
#include "mp.h"
#include "prefetch.h"

#define RXNORM "http://www.nlm.nih.gov/research/umls/rxnorm"

static unsigned next_rand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

/* Ingredient indices that take part in at least one interaction. */
static size_t interacting(const cds_kb *kb, uint32_t **out)
{
    size_t n = 0, cap = 0;
    uint32_t *list = NULL;
    char *seen = calloc(cds_kb_ningredients(kb) + 1, 1);
    for (uint32_t i = 0; i < cds_kb_ninteractions(kb); i++) {
        const cds_kb_interaction *x = cds_kb_interaction_at(kb, i);
        uint32_t sides[2] = {x->a, x->b};
        for (int s = 0; s < 2; s++) {
            const uint32_t *mem = &sides[s];
            uint32_t nm = 1;
            if (sides[s] & CDS_KB_CLASS) {
                const cds_kb_class *c = cds_kb_class_at(kb, sides[s]);
                mem = c->members;
                nm = c->nmembers;
            }
            for (uint32_t k = 0; k < nm; k++) {
                if (seen[mem[k]]) continue;
                seen[mem[k]] = 1;
                if (!cds_grow(&list, &cap, n + 1, sizeof *list)) break;   /* a smaller pool still benchmarks */
                list[n++] = mem[k];
            }
        }
    }
    free(seen);
    *out = list;
    return n;
}

static cJSON *med_request(const char *id, const char *status, const cds_kb_ingredient *g)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "resourceType", "MedicationRequest");
    cJSON_AddStringToObject(r, "id", id);
    cJSON_AddStringToObject(r, "status", status);
    cJSON_AddStringToObject(r, "intent", "order");
    cJSON *cc = cJSON_AddObjectToObject(r, "medicationCodeableConcept");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "system", RXNORM);
    cJSON_AddStringToObject(c, "code", g->rxcui);
    cJSON_AddStringToObject(c, "display", g->name);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(cc, "coding"), c);
    cJSON_AddStringToObject(cc, "text", g->name);
    return r;
}

static void add_envelope(bench_set *out, cJSON *request, size_t id)
{
    cJSON *env = cJSON_CreateObject();
    cJSON_AddStringToObject(env, "op", "call");
    cJSON_AddStringToObject(env, "service", "medication-safety");
    cJSON_AddNumberToObject(env, "id", (double)id);
    cJSON_AddItemToObject(env, "request", request);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    cds_cjson_pack(&pk, env);
    cJSON_Delete(env);
    out->m = realloc(out->m, (out->n + 1) * sizeof *out->m);
    out->m[out->n++] = (bench_msg){sb.data, sb.size};
    out->bytes += sb.size;
}

static cJSON *skeleton(const char *patient_id, size_t n, cJSON **drafts)
{
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "hook", "order-sign");
    char hi[64];
    snprintf(hi, sizeof hi, "bench-%zu", n);
    cJSON_AddStringToObject(req, "hookInstance", hi);
    cJSON *ctx = cJSON_AddObjectToObject(req, "context");
    cJSON_AddStringToObject(ctx, "userId", "Practitioner/bench");
    cJSON_AddStringToObject(ctx, "patientId", patient_id);
    *drafts = cds_fhir_bundle();
    cJSON_AddItemToObject(ctx, "draftOrders", *drafts);
    cJSON_AddObjectToObject(req, "prefetch");
    return req;
}

void bench_from_synthea(bench_set *out, const char *dir, const cds_ruleset *rs, unsigned seed)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d) return;
    uint32_t *pool;
    size_t npool = interacting(rs->kb, &pool);
    struct dirent *e;
    char **names = NULL;
    size_t nn = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0) {
            names = realloc(names, (nn + 1) * sizeof *names);
            names[nn++] = strdup(e->d_name);
        }
    }
    closedir(d);
    for (size_t f = 0; f < nn; f++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[f]);
        free(names[f]);
        cds_error err;
        size_t len;
        char *text = cds_read_file(path, &len, 64u << 20, &err);
        cJSON *b = text ? cJSON_ParseWithLength(text, len) : NULL;
        free(text);
        if (!b) continue;
        cJSON *drafts, *req = NULL, *meds = cds_fhir_bundle(), *allergies = cds_fhir_bundle(), *conds = cds_fhir_bundle(), *obs = cds_fhir_bundle();
        cJSON *patient = NULL, *ent;
        cJSON *latest[512];
        const char *latest_code[512];
        size_t nlatest = 0;
        cJSON_ArrayForEach(ent, cJSON_GetObjectItemCaseSensitive(b, "entry")) {
            cJSON *r = cJSON_GetObjectItemCaseSensitive(ent, "resource");
            const char *rt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "resourceType"));
            const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "status"));
            if (!rt) continue;
            if (!strcmp(rt, "Patient") && !patient) patient = r;
            else if (!strcmp(rt, "MedicationRequest") && status && !strcmp(status, "active")) cds_fhir_bundle_add(meds, cJSON_Duplicate(r, 1));
            else if (!strcmp(rt, "AllergyIntolerance")) cds_fhir_bundle_add(allergies, cJSON_Duplicate(r, 1));
            else if (!strcmp(rt, "Condition")) {
                cJSON *cs = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "clinicalStatus"), "coding"), 0);
                const char *c = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cs, "code"));
                if (c && !strcmp(c, "active")) cds_fhir_bundle_add(conds, cJSON_Duplicate(r, 1));
            } else if (!strcmp(rt, "Observation")) {
                cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "code"), "coding"), 0);
                const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c0, "code"));
                const char *when = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "effectiveDateTime"));
                if (!code || !when) continue;
                size_t k = 0;
                for (; k < nlatest && strcmp(latest_code[k], code); k++) {}
                if (k == nlatest && nlatest < 512) { latest[nlatest] = r; latest_code[nlatest++] = code; }
                else if (k < nlatest) {
                    const char *w = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(latest[k], "effectiveDateTime"));
                    if (w && strcmp(when, w) > 0) latest[k] = r;
                }
            }
        }
        for (size_t k = 0; k < nlatest; k++) cds_fhir_bundle_add(obs, cJSON_Duplicate(latest[k], 1));
        const char *pid = patient ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(patient, "id")) : "bench";
        req = skeleton(pid ? pid : "bench", out->n, &drafts);
        cJSON *pre = cJSON_GetObjectItemCaseSensitive(req, "prefetch");
        if (patient) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "resourceType", "Patient");
            cJSON_AddStringToObject(p, "id", pid ? pid : "bench");
            const char *g = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(patient, "gender"));
            const char *bd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(patient, "birthDate"));
            if (g) cJSON_AddStringToObject(p, "gender", g);
            if (bd) cJSON_AddStringToObject(p, "birthDate", bd);
            cJSON_AddItemToObject(pre, "patient", p);
        }
        cJSON_AddItemToObject(pre, "medications", meds);
        cJSON_AddItemToObject(pre, "allergies", allergies);
        cJSON_AddItemToObject(pre, "conditions", conds);
        cJSON_AddItemToObject(pre, "observations", obs);
        unsigned nd = 1 + next_rand(&seed) % 3;
        for (unsigned k = 0; k < nd && npool; k++) {
            char id[32];
            snprintf(id, sizeof id, "draft-%u", k + 1);
            cds_fhir_bundle_add(drafts, med_request(id, "draft", cds_kb_ingredient_at(rs->kb, pool[next_rand(&seed) % npool])));
        }
        add_envelope(out, req, out->n + 1);
        cJSON_Delete(b);
    }
    free(names);
    free(pool);
}

void bench_synthetic(bench_set *out, size_t count, size_t nmeds, const cds_ruleset *rs, unsigned seed)
{
    memset(out, 0, sizeof *out);
    size_t ning = cds_kb_ningredients(rs->kb);
    uint32_t *pool;
    size_t npool = interacting(rs->kb, &pool);
    for (size_t i = 0; i < count; i++) {
        cJSON *drafts, *req = skeleton("synthetic", i, &drafts);
        cJSON *meds = cds_fhir_bundle();
        for (size_t k = 0; k < nmeds; k++) {
            char id[32];
            snprintf(id, sizeof id, "m%zu", k);
            uint32_t g = (uint32_t)((next_rand(&seed) * 32768u + next_rand(&seed)) % ning);
            cds_fhir_bundle_add(meds, med_request(id, "active", cds_kb_ingredient_at(rs->kb, g)));
        }
        cJSON_AddItemToObject(cJSON_GetObjectItemCaseSensitive(req, "prefetch"), "medications", meds);
        cJSON_AddItemToObject(cJSON_GetObjectItemCaseSensitive(req, "prefetch"), "allergies", cds_fhir_bundle());   /* none recorded */
        cds_fhir_bundle_add(drafts, med_request("draft-1", "draft", cds_kb_ingredient_at(rs->kb, pool[next_rand(&seed) % npool])));
        add_envelope(out, req, i + 1);
    }
    free(pool);
}

/* true when the service would answer 412: a required prefetch key is absent (the spec's own
 * examples and the PDDI test cases carry other services' keys). */
static bool lacks_required_prefetch(const cds_ruleset *rs, const cJSON *req)
{
    const cds_service *sv = cds_ruleset_service(rs, "medication-safety");
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    cds_cjson_pack(&pk, req);
    msgpack_unpacked u;
    cds_error err;
    bool lacks = true;
    if (sv && cds_mp_decode(sb.data, sb.size, &u, &err) == CDS_OK) {
        cds_prefetch_gap g[CDS_PREFETCH_MAX_KEYS];
        size_t n = cds_prefetch_gaps(sv, &u.data, g, CDS_PREFETCH_MAX_KEYS);
        lacks = false;
        for (size_t i = 0; i < n; i++) lacks |= g[i].required;
        msgpack_unpacked_destroy(&u);
    }
    msgpack_sbuffer_destroy(&sb);
    return lacks;
}

void bench_from_requests(bench_set *out, const char *dir, const cds_ruleset *rs)
{
    memset(out, 0, sizeof *out);
    size_t skipped = 0;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".json")) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        cds_error err;
        size_t len;
        char *text = cds_read_file(path, &len, 64u << 20, &err);
        cJSON *r = text ? cJSON_ParseWithLength(text, len) : NULL;
        free(text);
        const char *hook = r ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "hook")) : NULL;
        if (!hook || strcmp(hook, "order-sign")) { cJSON_Delete(r); continue; }
        if (lacks_required_prefetch(rs, r)) {
            skipped++;
            cJSON_Delete(r);
            continue;
        }
        add_envelope(out, r, out->n + 1);
    }
    closedir(d);
    if (skipped) fprintf(stderr, "# %s: %zu order-sign requests skipped: they lack required prefetch (the service answers 412)\n", dir, skipped);
}

void bench_set_free(bench_set *s)
{
    for (size_t i = 0; i < s->n; i++) free(s->m[i].data);
    free(s->m);
    memset(s, 0, sizeof *s);
}
