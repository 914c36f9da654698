/* cli_burden.c — `cdsd burden [--rules DIR] [--compare DIR] [--at TIME] [--top N] PATIENTS...`:
 * the alert burden a rule set puts on a population. Each patient's active medications are
 * replayed one at a time as a draft order-sign against the others (medication-safety), and the
 * patient once as patient-view (medication-review); the cards are counted per 100 orders by
 * indicator, rule and interaction source, with the share of order-sign calls that draw an
 * interruptive card and the pairs behind them. PATIENTS are Synthea FHIR bundles (*.json, or a
 * directory of them) or bulk-export directories of NDJSON (Patient/MedicationRequest/Condition/
 * AllergyIntolerance/Observation .ndjson, resources joined by subject). No patient data is
 * printed: pairs are ingredient names from the cards. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "engine.h"
#include "fhir_build.h"
#include "interaction_pairs.h"
#include "json.h"
#include "mp.h"
#include "view.h"

#define SIGN_SERVICE "medication-safety"
#define VIEW_SERVICE "medication-review"

static void usage(FILE *f)
{
    fprintf(f, "usage: cdsd burden [--rules DIR] [--compare DIR] [--at TIME] [--top N] PATIENTS...\n"
               "Replays a population through a rule set: each active medication as a draft order-sign\n"
               "(" SIGN_SERVICE ") against the others, each patient as patient-view (" VIEW_SERVICE "),\n"
               "and prints cards per 100 orders by indicator, rule and interaction source, the share of\n"
               "order-sign calls with an interruptive card, and the pairs that drive it.\n"
               "  PATIENTS       Synthea bundles (*.json or a directory of them), or NDJSON bulk-export directories\n"
               "  --rules DIR    rule set (default ./rules)\n"
               "  --compare DIR  a second rule set: both are run and shown side by side with the difference\n"
               "  --at TIME      evaluation time (default 2025-03-01T09:00:00Z, so runs repeat)\n"
               "  --top N        pairs listed (default 10)\n"
               "A card interrupts when its interaction policy says so (extension org.cdsd.ddi), else when\n"
               "its indicator is warning or critical.\n");
}

/* --- the population ------------------------------------------------------------------------ */

typedef struct patient {
    char *id;
    cJSON *resource;   /* Patient or NULL */
    cJSON *meds, *allergies, *conds, *obs;   /* arrays of resources (active meds, active conditions, latest obs) */
} patient;

typedef struct population { patient *p; size_t n; } population;

static patient *patient_for(population *pop, const char *id)
{
    for (size_t i = 0; i < pop->n; i++)
        if (strcmp(pop->p[i].id, id) == 0) return &pop->p[i];
    patient *grown = realloc(pop->p, (pop->n + 1) * sizeof *pop->p);
    if (!grown) return NULL;
    pop->p = grown;
    patient *p = &pop->p[pop->n++];
    *p = (patient){strdup(id), NULL, cJSON_CreateArray(), cJSON_CreateArray(), cJSON_CreateArray(), cJSON_CreateArray()};
    return p;
}

static const char *str(const cJSON *o, const char *k) { return cJSON_GetStringValue(cJSON_GetObjectItem(o, k)); }

static const char *first_code(const cJSON *r, const char *field)
{
    return str(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(r, field), "coding"), 0), "code");
}

/* Files a resource under its patient: active MedicationRequests, active Conditions, every
 * AllergyIntolerance, the latest Observation per code. r is copied. */
static void add_resource(patient *p, const cJSON *r)
{
    const char *rt = str(r, "resourceType"), *status = str(r, "status");
    if (!rt) return;
    if (!strcmp(rt, "Patient")) {
        if (!p->resource) p->resource = cJSON_Duplicate(r, 1);
    } else if (!strcmp(rt, "MedicationRequest")) {
        if (status && !strcmp(status, "active")) cJSON_AddItemToArray(p->meds, cJSON_Duplicate(r, 1));
    } else if (!strcmp(rt, "AllergyIntolerance")) {
        cJSON_AddItemToArray(p->allergies, cJSON_Duplicate(r, 1));
    } else if (!strcmp(rt, "Condition")) {
        const char *c = first_code(r, "clinicalStatus");
        if (c && !strcmp(c, "active")) cJSON_AddItemToArray(p->conds, cJSON_Duplicate(r, 1));
    } else if (!strcmp(rt, "Observation")) {
        const char *code = first_code(r, "code"), *when = str(r, "effectiveDateTime");
        if (!code || !when) return;
        cJSON *o;
        cJSON_ArrayForEach(o, p->obs) {
            const char *oc = first_code(o, "code"), *ow = str(o, "effectiveDateTime");
            if (oc && !strcmp(oc, code)) {
                if (ow && strcmp(when, ow) > 0) cJSON_ReplaceItemViaPointer(p->obs, o, cJSON_Duplicate(r, 1));
                return;
            }
        }
        cJSON_AddItemToArray(p->obs, cJSON_Duplicate(r, 1));
    }
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void load_bundle(population *pop, const char *path)
{
    cds_error err;
    size_t len;
    char *text = cds_read_file(path, &len, 256u << 20, &err);
    cJSON *b = text ? cJSON_ParseWithLength(text, len) : NULL;
    free(text);
    if (!b) { fprintf(stderr, "cdsd burden: %s: not a readable JSON bundle (skipped)\n", path); return; }
    const cJSON *ent, *pat = NULL;
    cJSON_ArrayForEach(ent, cJSON_GetObjectItem(b, "entry")) {
        const cJSON *r = cJSON_GetObjectItem(ent, "resource");
        const char *rt = str(r, "resourceType");
        if (rt && !strcmp(rt, "Patient")) { pat = r; break; }
    }
    const char *id = pat && str(pat, "id") ? str(pat, "id") : path;
    patient *p = patient_for(pop, id);
    if (p) cJSON_ArrayForEach(ent, cJSON_GetObjectItem(b, "entry")) add_resource(p, cJSON_GetObjectItem(ent, "resource"));
    cJSON_Delete(b);
}

/* "Patient/ID" or "urn:uuid:ID" -> ID */
static const char *subject_id(const cJSON *r)
{
    const char *ref = str(cJSON_GetObjectItem(r, "subject"), "reference");
    if (!ref) ref = str(cJSON_GetObjectItem(r, "patient"), "reference");
    if (!ref) return NULL;
    const char *slash = strrchr(ref, '/'), *colon = strrchr(ref, ':');
    const char *cut = slash > colon ? slash : colon;
    return cut ? cut + 1 : ref;
}

static void load_ndjson(population *pop, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, "cdsd burden: %s: cannot open (skipped)\n", path); return; }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        cJSON *r = cJSON_ParseWithLength(line, (size_t)n);
        const char *rt = str(r, "resourceType");
        const char *id = rt && !strcmp(rt, "Patient") ? str(r, "id") : subject_id(r);
        patient *p = id ? patient_for(pop, id) : NULL;
        if (p) add_resource(p, r);
        cJSON_Delete(r);
    }
    free(line);
    fclose(f);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool load_path(population *pop, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) { fprintf(stderr, "cdsd burden: %s: no such file or directory\n", path); return false; }
    if (!S_ISDIR(st.st_mode)) {
        if (ends_with(path, ".ndjson")) load_ndjson(pop, path);
        else load_bundle(pop, path);
        return true;
    }
    DIR *d = opendir(path);
    if (!d) return false;
    char **names = NULL;
    size_t nn = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (ends_with(e->d_name, ".json") || ends_with(e->d_name, ".ndjson")) {
            char **grown = realloc(names, (nn + 1) * sizeof *names);
            if (!grown) break;
            names = grown;
            names[nn++] = strdup(e->d_name);
        }
    closedir(d);
    qsort(names, nn, sizeof *names, by_name);   /* a stable order: the same run prints the same numbers */
    for (size_t i = 0; i < nn; i++) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, names[i]);
        if (ends_with(names[i], ".ndjson")) load_ndjson(pop, full);
        else load_bundle(pop, full);
        free(names[i]);
    }
    free(names);
    return true;
}

static void population_free(population *pop)
{
    for (size_t i = 0; i < pop->n; i++) {
        patient *p = &pop->p[i];
        free(p->id);
        cJSON_Delete(p->resource);
        cJSON_Delete(p->meds); cJSON_Delete(p->allergies); cJSON_Delete(p->conds); cJSON_Delete(p->obs);
    }
    free(pop->p);
}

/* --- counting ------------------------------------------------------------------------------ */

typedef struct tally { char **key; long *n; size_t len; } tally;

static void tally_add(tally *t, const char *key, long by)
{
    for (size_t i = 0; i < t->len; i++)
        if (!strcmp(t->key[i], key)) { t->n[i] += by; return; }
    char **k = realloc(t->key, (t->len + 1) * sizeof *k);
    if (k) t->key = k;
    long *n = realloc(t->n, (t->len + 1) * sizeof *n);
    if (n) t->n = n;
    if (!k || !n) return;
    t->key[t->len] = strdup(key);
    t->n[t->len++] = by;
}

static long tally_get(const tally *t, const char *key)
{
    for (size_t i = 0; i < t->len; i++)
        if (!strcmp(t->key[i], key)) return t->n[i];
    return 0;
}

static void tally_free(tally *t)
{
    for (size_t i = 0; i < t->len; i++) free(t->key[i]);
    free(t->key);
    free(t->n);
}

enum { IND_CRITICAL, IND_WARNING, IND_INFO, NIND };
static const char *const IND_NAMES[NIND] = {"critical", "warning", "info"};

typedef struct burden {
    long orders, views, failed;          /* order-sign calls, patient-view calls, calls that failed */
    long sign_ind[NIND], view_ind[NIND]; /* cards by indicator */
    long sign_interrupted, sign_interrupted_ddi;   /* order-sign calls with an interruptive card (any / interaction) */
    interaction_pairs knowledge;         /* the rule set's interaction rows and pairs */
    tally sign_rule, view_rule, sign_source, view_source, pairs;
} burden;

static int indicator_of(const char *s)
{
    for (int i = 0; i < NIND; i++)
        if (s && !strcmp(s, IND_NAMES[i])) return i;
    return IND_INFO;
}

/* "ONC high-priority interaction: a with b" -> "a + b" (names in order) */
static void pair_of(const char *summary, char *out, size_t n)
{
    const char *colon = summary ? strstr(summary, ": ") : NULL;
    const char *rest = colon ? colon + 2 : (summary ? summary : "?");
    const char *with = strstr(rest, " with ");
    if (!with) { snprintf(out, n, "%s", rest); return; }
    char a[200], b[200];
    snprintf(a, sizeof a, "%.*s", (int)(with - rest), rest);
    snprintf(b, sizeof b, "%s", with + 6);
    if (strcmp(a, b) <= 0) snprintf(out, n, "%s + %s", a, b);
    else snprintf(out, n, "%s + %s", b, a);
}

/* Counts one response's cards; returns whether any interrupts (and *ddi whether an interaction card does). */
static bool count_cards(burden *bd, const cJSON *resp, bool sign, bool *ddi)
{
    bool any = false;
    *ddi = false;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(resp, "cards")) {
        int ind = indicator_of(str(c, "indicator"));
        const char *rule = str(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "source"), "topic"), "code");
        const cJSON *x = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "extension"), "org.cdsd.ddi");
        const cJSON *intr = cJSON_GetObjectItem(x, "interrupts");
        bool interrupts = intr ? cJSON_IsTrue(intr) : ind != IND_INFO;
        (sign ? bd->sign_ind : bd->view_ind)[ind]++;
        tally_add(sign ? &bd->sign_rule : &bd->view_rule, rule ? rule : "?", 1);
        /* an interaction card: tiered by the policy (the extension), or a rule set from before it */
        if (x || (rule && !strncmp(rule, "ddi.", 4))) {
            char key[200];
            snprintf(key, sizeof key, "%s %s", x && str(x, "source") ? str(x, "source") : "(untiered)", IND_NAMES[ind]);
            tally_add(sign ? &bd->sign_source : &bd->view_source, key, 1);
            if (sign && interrupts) {
                char pair[420];
                pair_of(str(c, "summary"), pair, sizeof pair);
                tally_add(&bd->pairs, pair, 1);
                *ddi = true;
            }
        }
        any |= interrupts;
    }
    return any;
}

static cJSON *bundle_of(const cJSON *list, const cJSON *skip)
{
    cJSON *b = cds_fhir_bundle();
    const cJSON *r;
    cJSON_ArrayForEach(r, list)
        if (r != skip) cds_fhir_bundle_add(b, cJSON_Duplicate(r, 1));
    return b;
}

static cJSON *request_for(const patient *p, const char *hook, const cJSON *draft, long n)
{
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "hook", hook);
    char hi[64];
    snprintf(hi, sizeof hi, "burden-%ld", n);
    cJSON_AddStringToObject(req, "hookInstance", hi);
    cJSON *ctx = cJSON_AddObjectToObject(req, "context");
    cJSON_AddStringToObject(ctx, "userId", "Practitioner/burden");
    const char *pid = p->resource && str(p->resource, "id") ? str(p->resource, "id") : "burden";
    cJSON_AddStringToObject(ctx, "patientId", pid);
    if (draft) {
        cJSON *drafts = cds_fhir_bundle(), *d = cJSON_Duplicate(draft, 1);
        cJSON_ReplaceItemInObject(d, "status", cJSON_CreateString("draft"));
        cds_fhir_bundle_add(drafts, d);
        cJSON_AddItemToObject(ctx, "draftOrders", drafts);
    }
    cJSON *pre = cJSON_AddObjectToObject(req, "prefetch");
    if (p->resource) {
        cJSON *pt = cJSON_CreateObject();
        cJSON_AddStringToObject(pt, "resourceType", "Patient");
        cJSON_AddStringToObject(pt, "id", pid);
        if (str(p->resource, "gender")) cJSON_AddStringToObject(pt, "gender", str(p->resource, "gender"));
        if (str(p->resource, "birthDate")) cJSON_AddStringToObject(pt, "birthDate", str(p->resource, "birthDate"));
        cJSON_AddItemToObject(pre, "patient", pt);
    }
    cJSON_AddItemToObject(pre, "medications", bundle_of(p->meds, draft));
    cJSON_AddItemToObject(pre, "statements", cds_fhir_bundle());
    cJSON_AddItemToObject(pre, "allergies", bundle_of(p->allergies, NULL));
    cJSON_AddItemToObject(pre, "conditions", bundle_of(p->conds, NULL));
    cJSON_AddItemToObject(pre, "observations", bundle_of(p->obs, NULL));
    return req;
}

/* Evaluates one request; the response as cJSON (NULL when the call failed). */
static cJSON *call(cds_engine *e, const char *service, cJSON *req, time_t now)
{
    msgpack_sbuffer in, out;
    msgpack_sbuffer_init(&in);
    msgpack_sbuffer_init(&out);
    msgpack_packer pin, pout;
    msgpack_packer_init(&pin, &in, msgpack_sbuffer_write);
    msgpack_packer_init(&pout, &out, msgpack_sbuffer_write);
    cds_cjson_pack(&pin, req);
    msgpack_unpacked ureq, uresp;
    msgpack_unpacked_init(&ureq);
    msgpack_unpacked_init(&uresp);
    cds_arena arena;
    cds_arena_init(&arena);
    cds_error err;
    cds_error_clear(&err);
    cds_eval_info info;
    cJSON *resp = NULL;
    if (!cds_mp_decode(in.data, in.size, &ureq, &err) &&
        !cds_engine_call(e, service, &ureq.data, "request", now, &arena, &pout, &info, &err) &&
        !cds_mp_decode(out.data, out.size, &uresp, &err)) {
        cds_strbuf b;
        cds_strbuf_init(&b);
        cds_json_from_mp(&b, &uresp.data, 0);
        resp = b.data ? cJSON_Parse(b.data) : NULL;
        cds_strbuf_free(&b);
    }
    msgpack_unpacked_destroy(&ureq);
    msgpack_unpacked_destroy(&uresp);
    msgpack_sbuffer_destroy(&in);
    msgpack_sbuffer_destroy(&out);
    cds_arena_free(&arena);
    return resp;
}

static bool run(const char *rules, const population *pop, time_t now, burden *bd)
{
    memset(bd, 0, sizeof *bd);
    cds_ruleset *rs;
    cds_engine *e = cli_load_engine(rules, &rs);
    if (!e) return false;
    if (!interaction_pairs_count(rs, &bd->knowledge)) {
        fprintf(stderr, "cdsd burden: out of memory counting the interaction pairs of %s\n", rules);
        cli_unload_engine(e, rs);
        return false;
    }
    long n = 0;
    for (size_t i = 0; i < pop->n; i++) {
        const patient *p = &pop->p[i];
        if (!cJSON_GetArraySize(p->meds)) continue;
        bool ddi;
        cJSON *req = request_for(p, "patient-view", NULL, ++n), *resp = call(e, VIEW_SERVICE, req, now);
        if (resp) { bd->views++; count_cards(bd, resp, false, &ddi); } else bd->failed++;
        cJSON_Delete(req); cJSON_Delete(resp);
        const cJSON *m;
        cJSON_ArrayForEach(m, p->meds) {
            req = request_for(p, "order-sign", m, ++n);
            resp = call(e, SIGN_SERVICE, req, now);
            if (resp) {
                bd->orders++;
                if (count_cards(bd, resp, true, &ddi)) bd->sign_interrupted++;
                if (ddi) bd->sign_interrupted_ddi++;
            } else {
                bd->failed++;
            }
            cJSON_Delete(req); cJSON_Delete(resp);
        }
    }
    cli_unload_engine(e, rs);
    return true;
}

static void burden_free(burden *bd)
{
    tally_free(&bd->sign_rule); tally_free(&bd->view_rule);
    tally_free(&bd->sign_source); tally_free(&bd->view_source); tally_free(&bd->pairs);
}

/* --- printing ------------------------------------------------------------------------------ */

static double per100(long n, long orders) { return orders ? 100.0 * (double)n / (double)orders : 0; }

/* One row: the base value, and with --compare the other and the difference. */
static void row(const char *label, double a, const double *b, const char *unit)
{
    if (b) printf("  %-44s %9.1f%s %9.1f%s %+9.1f%s\n", label, a, unit, *b, unit, *b - a, unit);
    else printf("  %-44s %9.1f%s\n", label, a, unit);
}

/* A count row: the base, and with --compare the other and their ratio. */
static void count_row(const char *label, double a, const double *b)
{
    if (b) printf("  %-44s %9.0f  %9.0f  %8.1fx\n", label, a, *b, a > 0 ? *b / a : 0);
    else printf("  %-44s %9.0f\n", label, a);
}

static void keys_union(tally *u, const tally *a, const tally *b)
{
    for (size_t i = 0; i < a->len; i++) tally_add(u, a->key[i], a->n[i]);
    for (size_t i = 0; b && i < b->len; i++) tally_add(u, b->key[i], b->n[i]);
}

static const tally *sort_by;
static int by_count(const void *x, const void *y)
{
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    if (sort_by->n[i] != sort_by->n[j]) return sort_by->n[i] < sort_by->n[j] ? 1 : -1;
    return strcmp(sort_by->key[i], sort_by->key[j]);
}

/* A section: every key of a (and b), by count, per 100 orders (or per 100 patients for views). */
static void section(const char *title, const tally *a, long na, const tally *b, long nb, size_t top)
{
    printf("%s\n", title);
    tally u = {0};
    keys_union(&u, a, b);
    size_t *idx = malloc((u.len ? u.len : 1) * sizeof *idx);
    for (size_t i = 0; i < u.len; i++) idx[i] = i;
    sort_by = &u;
    qsort(idx, u.len, sizeof *idx, by_count);
    if (!u.len) printf("  (none)\n");
    for (size_t k = 0; k < u.len && k < top; k++) {
        const char *key = u.key[idx[k]];
        double vb = b ? per100(tally_get(b, key), nb) : 0;
        row(key, per100(tally_get(a, key), na), b ? &vb : NULL, "");
    }
    free(idx);
    tally_free(&u);
}

static void print(const char *rules_a, const burden *a, const char *rules_b, const burden *b, size_t npatients, size_t top)
{
    printf("# %zu patients with active medications: %ld order-sign calls (one per active medication), %ld patient-view calls%s\n",
           npatients, a->orders, a->views, a->failed ? " (some calls failed: see above)" : "");
    if (b) printf("# %-46s %10s %10s %10s\n", "", "base", "compare", "change");
    printf("# base: %s%s%s\n", rules_a, b ? "; compare: " : "", b ? rules_b : "");
    /* how much interaction knowledge each rule set holds (interaction_pairs.h defines the counts) */
    printf("interaction knowledge\n");
    const interaction_pairs *ka = &a->knowledge, *kb = b ? &b->knowledge : NULL;
    double r1 = kb ? (double)(kb->curated_rows + kb->public_rows) : 0, r2 = kb ? (double)kb->listed : 0,
           r3 = kb ? (double)kb->reachable : 0;
    count_row("rows (curated + public tables)", (double)(ka->curated_rows + ka->public_rows), kb ? &r1 : NULL);
    count_row("ingredient pairs a row lists", (double)ka->listed, kb ? &r2 : NULL);
    count_row("ingredient pairs reachable (classes expanded)", (double)ka->reachable, kb ? &r3 : NULL);
    printf("order-sign, cards per 100 orders\n");
    for (int i = 0; i < NIND; i++) {
        double v = b ? per100(b->sign_ind[i], b->orders) : 0;
        row(IND_NAMES[i], per100(a->sign_ind[i], a->orders), b ? &v : NULL, "");
    }
    double v1 = b ? per100(b->sign_interrupted, b->orders) : 0, v2 = b ? per100(b->sign_interrupted_ddi, b->orders) : 0;
    row("calls with an interruptive card (any rule)", per100(a->sign_interrupted, a->orders), b ? &v1 : NULL, "%");
    row("calls with an interruptive interaction card", per100(a->sign_interrupted_ddi, a->orders), b ? &v2 : NULL, "%");
    section("order-sign, cards per 100 orders by rule", &a->sign_rule, a->orders, b ? &b->sign_rule : NULL, b ? b->orders : 0, (size_t)-1);
    section("order-sign, interaction cards per 100 orders by source and indicator", &a->sign_source, a->orders,
            b ? &b->sign_source : NULL, b ? b->orders : 0, (size_t)-1);
    printf("patient-view, cards per 100 patients\n");
    for (int i = 0; i < NIND; i++) {
        double v = b ? per100(b->view_ind[i], b->views) : 0;
        row(IND_NAMES[i], per100(a->view_ind[i], a->views), b ? &v : NULL, "");
    }
    section("patient-view, interaction cards per 100 patients by source and indicator", &a->view_source, a->views,
            b ? &b->view_source : NULL, b ? b->views : 0, (size_t)-1);
    char title[160];
    snprintf(title, sizeof title, "order-sign, top %zu pairs with interruptive interaction cards, per 100 orders", top);
    section(title, &a->pairs, a->orders, b ? &b->pairs : NULL, b ? b->orders : 0, top);
}

int cli_burden(int argc, char **argv)
{
    const char *rules = CLI_DEFAULT_RULES, *compare = NULL, *at = "2025-03-01T09:00:00Z";
    long top = 10;
    static const struct option opts[] = {{"rules", required_argument, 0, 'r'}, {"compare", required_argument, 0, 'c'},
                                         {"at", required_argument, 0, 'a'}, {"top", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "r:c:a:t:h", opts, NULL)) != -1) {
        if (c == 'r') rules = optarg;
        else if (c == 'c') compare = optarg;
        else if (c == 'a') at = optarg;
        else if (c == 't') top = strtol(optarg, NULL, 10);
        else if (c == 'h') { usage(stdout); return 0; }
        else { usage(stderr); return 2; }
    }
    if (optind >= argc || top < 1) { usage(stderr); return 2; }
    time_t now;
    if (!cds_parse_time(at, &now)) {
        fprintf(stderr, "cdsd burden: --at '%s' is not an RFC3339 time\n", at);
        return 2;
    }
    population pop = {0};
    for (int i = optind; i < argc; i++)
        if (!load_path(&pop, argv[i])) { population_free(&pop); return 2; }
    size_t with_meds = 0;
    for (size_t i = 0; i < pop.n; i++) with_meds += cJSON_GetArraySize(pop.p[i].meds) > 0;
    burden a, b;
    int status = 2;
    if (run(rules, &pop, now, &a)) {
        if (!compare || run(compare, &pop, now, &b)) {
            print(rules, &a, compare, compare ? &b : NULL, with_meds, (size_t)top);
            status = a.failed || (compare && b.failed) ? 1 : 0;
            if (compare) burden_free(&b);
        }
        burden_free(&a);
    }
    population_free(&pop);
    return status;
}
