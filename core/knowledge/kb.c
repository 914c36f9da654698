/* kb.c — in-memory knowledge indexes, read once from SQLite, immutable afterwards. */
#include "kb.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "route_group.h"
#include "strmap.h"

typedef struct u64map { uint64_t *keys; uint32_t *vals; size_t cap, count; } u64map;

typedef struct product { uint32_t off, n; const char *unscreened, *route; } product;

struct cds_kb {
    cds_arena arena;          /* a failed allocation fails the load (arena.failed) */
    char digest[65];
    cds_kb_ingredient *ingr;
    size_t ningr;
    cds_strmap ingr_by_code;       /* IN and PIN codes -> ingredient index */
    product *prod;
    size_t nprod;
    uint32_t *pool;                /* product ingredients, then class members, then ingredient classes */
    size_t npool, cappool;
    cds_strmap prod_by_code;
    cds_kb_class *cls;
    size_t ncls;
    cds_strmap cls_by_id;
    cds_strmap names;              /* normalised name -> target */
    size_t max_name_words;
    cds_kb_interaction *ix;
    size_t nix;
    u64map pairs;                  /* (target a, target b) -> interaction index, both orders */
    cds_kb_cross *cross;
    size_t ncross;
    cds_strmap allergen;           /* "system|code" -> target */
    cds_kb_strength *strength;     /* grouped by product */
    size_t nstrength;
    cds_strmap strength_by_prod;   /* product code -> index of its first strength */
    uint32_t *strength_n;          /* at a product's first strength: how many it has */
    cds_kb_dose_limit *dose;
    cds_kb_renal *renal;
    cds_kb_route_rule *routes;
    size_t ndose, nrenal, nroutes;
    cds_strmap dose_by, renal_by, routes_by;   /* drug key -> first row; chains in *_next */
    uint32_t *dose_next, *renal_next, *routes_next;
};

/* --- u64 map ------------------------------------------------------------------------------ */

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
}

static bool u64_put(u64map *m, uint64_t key, uint32_t val)
{
    if ((m->count + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        uint64_t *k = malloc(cap * sizeof *k);
        uint32_t *v = malloc(cap * sizeof *v);
        if (!k || !v) { free(k); free(v); return false; }
        memset(k, 0xff, cap * sizeof *k);
        for (size_t i = 0; i < m->cap; i++) {
            if (m->keys[i] == UINT64_MAX) continue;
            size_t j = mix(m->keys[i]) & (cap - 1);
            while (k[j] != UINT64_MAX) j = (j + 1) & (cap - 1);
            k[j] = m->keys[i];
            v[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = k;
        m->vals = v;
        m->cap = cap;
    }
    size_t j = mix(key) & (m->cap - 1);
    while (m->keys[j] != UINT64_MAX && m->keys[j] != key) j = (j + 1) & (m->cap - 1);
    if (m->keys[j] == UINT64_MAX) m->count++;
    m->keys[j] = key;
    m->vals[j] = val;
    return true;
}

static bool u64_get(const u64map *m, uint64_t key, uint32_t *val)
{
    if (!m->cap) return false;
    size_t j = mix(key) & (m->cap - 1);
    while (m->keys[j] != UINT64_MAX) {
        if (m->keys[j] == key) { *val = m->vals[j]; return true; }
        j = (j + 1) & (m->cap - 1);
    }
    return false;
}

/* --- helpers ------------------------------------------------------------------------------ */

/* A column's text copied into the kb (NULL for SQL NULL). Out of memory gives "" and marks the
 * arena failed, which fails the whole load: an index with a hole would answer "no such fact". */
static const char *col(cds_kb *kb, sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    if (!s) return NULL;
    const char *c = cds_arena_strdup(&kb->arena, (const char *)s);
    return c ? c : "";
}

/* cds_strmap_put that marks the load failed when the key or the map could not be stored. */
static void put(cds_kb *kb, cds_strmap *m, const char *key, uint32_t value)
{
    if (!key || !cds_strmap_put(m, key, strlen(key), value)) kb->arena.failed = true;
}

static bool pool_push(cds_kb *kb, uint32_t v)
{
    if (kb->npool == kb->cappool) {
        size_t cap = kb->cappool ? kb->cappool * 2 : 4096;
        uint32_t *p = realloc(kb->pool, cap * sizeof *p);
        if (!p) return false;
        kb->pool = p;
        kb->cappool = cap;
    }
    kb->pool[kb->npool++] = v;
    return true;
}

/* The rows of a table into *n; false (err names the table) when it cannot be read. */
static bool count_rows(sqlite3 *db, const char *table, size_t *n, cds_error *err)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *n = (size_t)sqlite3_column_int64(st, 0);
    else cds_error_set(err, CDS_EIO, NULL, "knowledge database: table '%s': %s", table, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW;
}

/* Lowercases and joins alphanumeric words with single spaces; returns the word count. */
static size_t normalise(const char *in, char *out, size_t cap)
{
    size_t o = 0, words = 0;
    bool inword = false;
    for (const char *p = in; *p && o + 2 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        if (isalnum(c) || c >= 0x80) {
            if (!inword && o) out[o++] = ' ';
            if (!inword) words++;
            out[o++] = (char)tolower(c);
            inword = true;
        } else {
            inword = false;
        }
    }
    out[o] = '\0';
    return words;
}

static uint32_t parse_target(cds_kb *kb, const char *v)
{
    uint32_t idx;
    if (!v) return CDS_KB_NONE;
    if (strncmp(v, "class:", 6) == 0)
        return cds_strmap_get(&kb->cls_by_id, v + 6, strlen(v + 6), &idx) ? idx | CDS_KB_CLASS : CDS_KB_NONE;
    return cds_kb_ingredient_by_code(kb, v);
}

static cds_rc fail(cds_kb *kb, sqlite3 *db, cds_error *err)
{
    cds_error_set(err, CDS_EIO, NULL, "knowledge database: %s", sqlite3_errmsg(db));
    cds_kb_free(kb);
    return CDS_EIO;
}

/* Row loops keep the last prepare/step result in `step`: SQLITE_DONE at the end of the rows (or
 * SQLITE_ROW after a break), anything else an error (a failing disk, a damaged file, no memory)
 * that END_ROWS turns into a failed load naming the table - never a table read in part. */
#define NEXT_ROW(st) ((step == SQLITE_OK || step == SQLITE_ROW) && (step = sqlite3_step(st)) == SQLITE_ROW)
#define FOR_ROWS(st, db, sql) for (step = sqlite3_prepare_v2(db, sql, -1, &st, NULL); NEXT_ROW(st);)
#define END_ROWS(table) \
    do { \
        if (!rows_end(db, st, step, table, err)) { cds_kb_free(kb); return CDS_EIO; } \
    } while (0)
#define COUNT_ROWS(table) \
    do { \
        if (!count_rows(db, table, &n, err)) { cds_kb_free(kb); return CDS_EIO; } \
    } while (0)

/* Finalizes st; false (err names the table) when its rows ended in an error. */
static bool rows_end(sqlite3 *db, sqlite3_stmt *st, int step, const char *table, cds_error *err)
{
    bool ok = step == SQLITE_DONE || step == SQLITE_ROW;
    if (!ok) cds_error_set(err, CDS_EIO, NULL, "knowledge database: table '%s': %s", table, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return ok;
}

/* --- dosing knowledge ---------------------------------------------------------------------- */

static double num(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* A drug key as the lookups use it: a precise ingredient's code becomes its base's code. */
static const char *drug_key(cds_kb *kb, const char *drug)
{
    if (!drug || strncmp(drug, "product:", 8) == 0) return drug;
    uint32_t g = cds_kb_ingredient_by_code(kb, drug);
    return g == CDS_KB_NONE ? drug : kb->ingr[g].rxcui;
}

/* Chains rows with the same key, in table order: head in *by, next row in next[]. */
static bool chain(cds_kb *kb, cds_strmap *by, uint32_t **next, size_t n, const char *(*key)(const void *, size_t),
                  const void *rows)
{
    *next = malloc((n ? n : 1) * sizeof **next);
    if (!*next) return false;
    for (size_t i = n; i-- > 0;) {
        const char *k = drug_key(kb, key(rows, i));
        uint32_t head;
        (*next)[i] = k && cds_strmap_get(by, k, strlen(k), &head) ? head : CDS_KB_NONE;
        put(kb, by, k, (uint32_t)i);
    }
    return true;
}

static const char *dose_drug(const void *r, size_t i) { return ((const cds_kb_dose_limit *)r)[i].drug; }
static const char *renal_drug(const void *r, size_t i) { return ((const cds_kb_renal *)r)[i].drug; }
static const char *route_drug(const void *r, size_t i) { return ((const cds_kb_route_rule *)r)[i].drug; }

static cds_rc load_dosing(cds_kb *kb, sqlite3 *db, cds_error *err)
{
    sqlite3_stmt *st = NULL;
    int step;
    size_t n;
/* the loader's own row macros: the caller frees the kb on failure */
#define D_END_ROWS(table) \
    do { \
        if (!rows_end(db, st, step, table, err)) return CDS_EIO; \
    } while (0)
#define D_COUNT_ROWS(table) \
    do { \
        if (!count_rows(db, table, &n, err)) return CDS_EIO; \
    } while (0)
#define OOM() cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory loading the knowledge base")

    FOR_ROWS(st, db, "SELECT rxcui, route FROM product WHERE route IS NOT NULL") {
        uint32_t pi;
        const char *p = (const char *)sqlite3_column_text(st, 0);
        if (p && cds_strmap_get(&kb->prod_by_code, p, strlen(p), &pi)) kb->prod[pi].route = cds_route_group_name((const char *)sqlite3_column_text(st, 1));
    }
    D_END_ROWS("product");

    D_COUNT_ROWS("product_strength");
    kb->strength = calloc(n ? n : 1, sizeof *kb->strength);
    kb->strength_n = calloc(n ? n : 1, sizeof *kb->strength_n);
    if (!kb->strength || !kb->strength_n) return OOM();
    const char *last = NULL;
    uint32_t head = 0;
    FOR_ROWS(st, db, "SELECT product, ingredient, amount, unit, per_volume_ml FROM product_strength ORDER BY product, rowid") {
        const char *p = (const char *)sqlite3_column_text(st, 0);
        uint32_t g = cds_kb_ingredient_by_code(kb, (const char *)sqlite3_column_text(st, 1));
        if (kb->nstrength >= n || !p || g == CDS_KB_NONE) continue;
        if (!last || strcmp(last, p) != 0) {
            last = col(kb, st, 0);
            head = (uint32_t)kb->nstrength;
            put(kb, &kb->strength_by_prod, last, head);
        }
        double per = num(st, 4);
        kb->strength[kb->nstrength++] = (cds_kb_strength){g, sqlite3_column_double(st, 2), col(kb, st, 3),
                                                          isnan(per) ? 0 : per};
        kb->strength_n[head]++;
    }
    D_END_ROWS("product_strength");

    D_COUNT_ROWS("dose_limit");
    kb->dose = calloc(n ? n : 1, sizeof *kb->dose);
    if (!kb->dose) return OOM();
    FOR_ROWS(st, db, "SELECT id, drug, drug_label, route, unit, schedule, indication, note, source, age_min_days,"
                     " age_max_days, weight_min_kg, weight_max_kg, max_single, max_daily, min_daily, max_single_per_kg,"
                     " max_daily_per_kg FROM dose_limit ORDER BY rowid") {
        if (kb->ndose >= n) break;
        cds_kb_dose_limit *d = &kb->dose[kb->ndose++];
        *d = (cds_kb_dose_limit){col(kb, st, 0), col(kb, st, 1), col(kb, st, 2), col(kb, st, 3), col(kb, st, 4),
                                 col(kb, st, 5), col(kb, st, 6), col(kb, st, 7), col(kb, st, 8), num(st, 9),
                                 num(st, 10), num(st, 11), num(st, 12), num(st, 13), num(st, 14), num(st, 15),
                                 num(st, 16), num(st, 17)};
    }
    D_END_ROWS("dose_limit");

    D_COUNT_ROWS("renal_dosing");
    kb->renal = calloc(n ? n : 1, sizeof *kb->renal);
    if (!kb->renal) return OOM();
    FOR_ROWS(st, db, "SELECT id, drug, drug_label, route, measure, action, unit, note, source, min, max, max_daily,"
                     " interval_h FROM renal_dosing ORDER BY rowid") {
        if (kb->nrenal >= n) break;
        kb->renal[kb->nrenal++] = (cds_kb_renal){col(kb, st, 0), col(kb, st, 1), col(kb, st, 2), col(kb, st, 3),
                                                 col(kb, st, 4), col(kb, st, 5), col(kb, st, 6), col(kb, st, 7),
                                                 col(kb, st, 8), num(st, 9), num(st, 10), num(st, 11), num(st, 12)};
    }
    D_END_ROWS("renal_dosing");

    D_COUNT_ROWS("route_rule");
    kb->routes = calloc(n ? n : 1, sizeof *kb->routes);
    if (!kb->routes) return OOM();
    FOR_ROWS(st, db, "SELECT id, drug, drug_label, allowed, forbidden, severity, note, source FROM route_rule ORDER BY rowid") {
        if (kb->nroutes >= n) break;
        kb->routes[kb->nroutes++] = (cds_kb_route_rule){col(kb, st, 0), col(kb, st, 1), col(kb, st, 2), col(kb, st, 3),
                                                        col(kb, st, 4), col(kb, st, 5), col(kb, st, 6), col(kb, st, 7)};
    }
    D_END_ROWS("route_rule");

    if (!chain(kb, &kb->dose_by, &kb->dose_next, kb->ndose, dose_drug, kb->dose) ||
        !chain(kb, &kb->renal_by, &kb->renal_next, kb->nrenal, renal_drug, kb->renal) ||
        !chain(kb, &kb->routes_by, &kb->routes_next, kb->nroutes, route_drug, kb->routes))
        return OOM();
#undef OOM
#undef D_END_ROWS
#undef D_COUNT_ROWS
    return CDS_OK;
}

cds_rc cds_kb_load(sqlite3 *db, cds_kb **out, cds_error *err)
{
    cds_kb *kb = calloc(1, sizeof *kb);
    if (!kb) return cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory");
    cds_arena_init(&kb->arena);
    sqlite3_stmt *st = NULL;
    int step;
    size_t n;

    FOR_ROWS(st, db, "SELECT value FROM meta WHERE key='digest'")
        snprintf(kb->digest, sizeof kb->digest, "%s", (const char *)sqlite3_column_text(st, 0));
    END_ROWS("meta");
    if (!kb->digest[0]) {
        cds_kb_free(kb);
        return cds_error_set(err, CDS_EIO, NULL, "knowledge database has no digest: was it built by 'cdsd kb build'?");
    }

    /* Ingredients: bases first so that precise ingredients can point at them. */
    COUNT_ROWS("ingredient");
    kb->ingr = calloc(n ? n : 1, sizeof *kb->ingr);
    if (!kb->ingr) return fail(kb, db, err);
    FOR_ROWS(st, db, "SELECT rxcui, name, status FROM ingredient WHERE base IS NULL ORDER BY rowid") {
        if (kb->ningr >= n) break;
        cds_kb_ingredient *g = &kb->ingr[kb->ningr];
        g->rxcui = col(kb, st, 0);
        g->name = col(kb, st, 1);
        const char *s = (const char *)sqlite3_column_text(st, 2);
        g->verified = !s || strcmp(s, "unverified") != 0;
        put(kb, &kb->ingr_by_code, g->rxcui, (uint32_t)kb->ningr);
        kb->ningr++;
    }
    END_ROWS("ingredient");
    FOR_ROWS(st, db, "SELECT rxcui, base FROM ingredient WHERE base IS NOT NULL") {
        uint32_t b;
        const char *base = (const char *)sqlite3_column_text(st, 1);
        if (cds_strmap_get(&kb->ingr_by_code, base, strlen(base), &b)) {
            const char *code = col(kb, st, 0);
            put(kb, &kb->ingr_by_code, code, b);
        }
    }
    END_ROWS("ingredient");

    /* Products. */
    COUNT_ROWS("product");
    kb->prod = calloc(n ? n : 1, sizeof *kb->prod);
    if (!kb->prod) return fail(kb, db, err);
    const char *last = NULL;
    FOR_ROWS(st, db, "SELECT product, ingredient FROM product_ingredient ORDER BY product, rowid") {
        const char *p = (const char *)sqlite3_column_text(st, 0);
        uint32_t g = cds_kb_ingredient_by_code(kb, (const char *)sqlite3_column_text(st, 1));
        if (!last || strcmp(last, p) != 0) {
            if (kb->nprod >= n) break;
            last = col(kb, st, 0);
            put(kb, &kb->prod_by_code, last, (uint32_t)kb->nprod);
            kb->prod[kb->nprod++] = (product){(uint32_t)kb->npool, 0, NULL, NULL};
        }
        product *pr = &kb->prod[kb->nprod - 1];
        bool dup = false;
        for (uint32_t i = 0; i < pr->n; i++) dup |= kb->pool[pr->off + i] == g;
        if (g == CDS_KB_NONE || dup) continue;
        if (!pool_push(kb, g)) {
            sqlite3_finalize(st);
            cds_kb_free(kb);
            return cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory");
        }
        pr->n++;
    }
    END_ROWS("product_ingredient");
    /* Ingredients of a product that the vocabulary does not know (never screened). */
    FOR_ROWS(st, db, "SELECT rxcui, unscreened FROM product WHERE unscreened IS NOT NULL") {
        uint32_t v;
        const char *p = (const char *)sqlite3_column_text(st, 0);
        if (p && cds_strmap_get(&kb->prod_by_code, p, strlen(p), &v)) kb->prod[v].unscreened = col(kb, st, 1);
    }
    END_ROWS("product");

    /* Classes and their members. */
    COUNT_ROWS("drug_class");
    kb->cls = calloc(n ? n : 1, sizeof *kb->cls);
    if (!kb->cls) return fail(kb, db, err);
    FOR_ROWS(st, db, "SELECT id, name, kind FROM drug_class ORDER BY rowid") {
        if (kb->ncls >= n) break;
        cds_kb_class *c = &kb->cls[kb->ncls];
        c->id = col(kb, st, 0);
        c->name = col(kb, st, 1);
        const char *kind = (const char *)sqlite3_column_text(st, 2);
        c->allergen = kind && strstr(kind, "allergen") != NULL;
        put(kb, &kb->cls_by_id, c->id, (uint32_t)kb->ncls);
        kb->ncls++;
    }
    END_ROWS("drug_class");
    uint32_t *cls_off = calloc(kb->ncls + 1, sizeof *cls_off);
    uint32_t *ingr_ncls = calloc(kb->ningr + 1, sizeof *ingr_ncls);
    if (!cls_off || !ingr_ncls) { free(cls_off); free(ingr_ncls); return fail(kb, db, err); }
    size_t members_start = kb->npool;
    for (size_t c = 0; c < kb->ncls; c++) {
        cls_off[c] = (uint32_t)kb->npool;
        step = sqlite3_prepare_v2(db, "SELECT ingredient FROM class_member WHERE class=? ORDER BY rowid", -1, &st, NULL);
        if (step == SQLITE_OK) sqlite3_bind_text(st, 1, kb->cls[c].id, -1, SQLITE_STATIC);
        bool pushed = true;
        while (pushed && NEXT_ROW(st)) {
            uint32_t g = cds_kb_ingredient_by_code(kb, (const char *)sqlite3_column_text(st, 0));
            if (g == CDS_KB_NONE) continue;
            bool dup = false;
            for (uint32_t i = cls_off[c]; i < kb->npool; i++) dup |= kb->pool[i] == g;
            if (!dup && (pushed = pool_push(kb, g))) ingr_ncls[g]++;
        }
        if (!rows_end(db, st, step, "class_member", err) || !pushed) {
            free(cls_off);
            free(ingr_ncls);
            cds_kb_free(kb);
            return pushed ? CDS_EIO : cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory");
        }
    }
    cls_off[kb->ncls] = (uint32_t)kb->npool;
    /* Per-ingredient class lists (a counting sort over the member lists). */
    size_t ic_start = kb->npool;
    uint32_t *ic_off = calloc(kb->ningr + 1, sizeof *ic_off);
    if (!ic_off) { free(cls_off); free(ingr_ncls); return fail(kb, db, err); }
    for (size_t g = 0, acc = 0; g < kb->ningr; g++) { ic_off[g] = (uint32_t)acc; acc += ingr_ncls[g]; }
    for (size_t i = members_start; i < cls_off[kb->ncls]; i++)
        if (!pool_push(kb, 0)) { free(ic_off); free(cls_off); free(ingr_ncls); return fail(kb, db, err); }
    uint32_t *fill = calloc(kb->ningr + 1, sizeof *fill);
    for (size_t c = 0; fill && c < kb->ncls; c++) {
        for (uint32_t i = cls_off[c]; i < cls_off[c + 1]; i++) {
            uint32_t g = kb->pool[i];
            kb->pool[ic_start + ic_off[g] + fill[g]++] = (uint32_t)c;
        }
    }
    for (size_t c = 0; c < kb->ncls; c++) {
        kb->cls[c].members = (const uint32_t *)(uintptr_t)cls_off[c];   /* offsets until the pool stops moving */
        kb->cls[c].nmembers = cls_off[c + 1] - cls_off[c];
    }
    for (size_t g = 0; g < kb->ningr; g++) {
        kb->ingr[g].classes = (const uint32_t *)(uintptr_t)(ic_start + ic_off[g]);
        kb->ingr[g].nclasses = ingr_ncls[g];
    }
    free(fill);
    free(ic_off);
    free(cls_off);
    free(ingr_ncls);
    for (size_t c = 0; c < kb->ncls; c++) kb->cls[c].members = kb->pool + (uintptr_t)kb->cls[c].members;
    for (size_t g = 0; g < kb->ningr; g++) kb->ingr[g].classes = kb->pool + (uintptr_t)kb->ingr[g].classes;

    /* Names and synonyms. */
    FOR_ROWS(st, db, "SELECT name, target FROM synonym") {
        char norm[512];
        size_t words = normalise((const char *)sqlite3_column_text(st, 0), norm, sizeof norm);
        uint32_t t = parse_target(kb, (const char *)sqlite3_column_text(st, 1));
        if (!words || t == CDS_KB_NONE) continue;
        uint32_t prev;
        if (cds_strmap_get(&kb->names, norm, strlen(norm), &prev) && !(prev & CDS_KB_CLASS)) continue;
        char *k = cds_arena_strdup(&kb->arena, norm);
        put(kb, &kb->names, k, t);
        if (words > kb->max_name_words) kb->max_name_words = words;
    }
    END_ROWS("synonym");

    /* Interactions. */
    COUNT_ROWS("interaction");
    kb->ix = calloc(n ? n : 1, sizeof *kb->ix);
    if (!kb->ix) return fail(kb, db, err);
    FOR_ROWS(st, db, "SELECT id, a, b, a_label, b_label, severity, list, mechanism, consequence, management,"
                     " alternative, source, applies_if FROM interaction ORDER BY rowid") {
        if (kb->nix >= n) break;
        cds_kb_interaction *x = &kb->ix[kb->nix];
        x->id = col(kb, st, 0);
        x->a = parse_target(kb, (const char *)sqlite3_column_text(st, 1));
        x->b = parse_target(kb, (const char *)sqlite3_column_text(st, 2));
        x->a_label = col(kb, st, 3);
        x->b_label = col(kb, st, 4);
        x->severity = col(kb, st, 5);
        x->list = col(kb, st, 6);
        x->mechanism = col(kb, st, 7);
        x->consequence = col(kb, st, 8);
        x->management = col(kb, st, 9);
        x->alternative = col(kb, st, 10);
        x->source = col(kb, st, 11);
        x->applies_if = col(kb, st, 12);
        if (x->a == CDS_KB_NONE || x->b == CDS_KB_NONE) continue;
        if (!u64_put(&kb->pairs, ((uint64_t)x->a << 32) | x->b, (uint32_t)kb->nix) ||
            !u64_put(&kb->pairs, ((uint64_t)x->b << 32) | x->a, (uint32_t)kb->nix))
            return fail(kb, db, err);
        kb->nix++;
    }
    END_ROWS("interaction");

    COUNT_ROWS("cross_sensitivity");
    kb->cross = calloc(n ? n : 1, sizeof *kb->cross);
    if (!kb->cross) return fail(kb, db, err);
    FOR_ROWS(st, db, "SELECT from_class, to_class, level, note, source FROM cross_sensitivity ORDER BY rowid") {
        if (kb->ncross >= n) break;
        uint32_t f = parse_target(kb, cds_arena_printf(&kb->arena, "class:%s", sqlite3_column_text(st, 0)));
        uint32_t t = parse_target(kb, cds_arena_printf(&kb->arena, "class:%s", sqlite3_column_text(st, 1)));
        if (f == CDS_KB_NONE || t == CDS_KB_NONE) continue;
        kb->cross[kb->ncross++] = (cds_kb_cross){f & ~CDS_KB_CLASS, t & ~CDS_KB_CLASS, col(kb, st, 2), col(kb, st, 3),
                                                 col(kb, st, 4)};
    }
    END_ROWS("cross_sensitivity");

    FOR_ROWS(st, db, "SELECT system, code, target FROM allergen_code") {
        uint32_t t = parse_target(kb, (const char *)sqlite3_column_text(st, 2));
        if (t == CDS_KB_NONE) continue;
        char *k = cds_arena_printf(&kb->arena, "%s|%s", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1));
        put(kb, &kb->allergen, k, t);
    }
    END_ROWS("allergen_code");
    cds_rc rc = load_dosing(kb, db, err);
    if (rc) {
        cds_kb_free(kb);
        return rc;
    }
    if (kb->arena.failed) {
        cds_kb_free(kb);
        return cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory loading the knowledge base");
    }
    *out = kb;
    return CDS_OK;
}

void cds_kb_free(cds_kb *kb)
{
    if (!kb) return;
    cds_strmap_free(&kb->ingr_by_code);
    cds_strmap_free(&kb->prod_by_code);
    cds_strmap_free(&kb->cls_by_id);
    cds_strmap_free(&kb->names);
    cds_strmap_free(&kb->allergen);
    free(kb->pairs.keys);
    free(kb->pairs.vals);
    free(kb->ingr);
    free(kb->prod);
    free(kb->pool);
    free(kb->cls);
    free(kb->ix);
    free(kb->cross);
    cds_strmap_free(&kb->strength_by_prod);
    cds_strmap_free(&kb->dose_by);
    cds_strmap_free(&kb->renal_by);
    cds_strmap_free(&kb->routes_by);
    free(kb->strength);
    free(kb->strength_n);
    free(kb->dose);
    free(kb->renal);
    free(kb->routes);
    free(kb->dose_next);
    free(kb->renal_next);
    free(kb->routes_next);
    cds_arena_free(&kb->arena);
    free(kb);
}

const char *cds_kb_digest(const cds_kb *kb) { return kb->digest; }
size_t cds_kb_ningredients(const cds_kb *kb) { return kb->ningr; }
size_t cds_kb_ninteractions(const cds_kb *kb) { return kb->nix; }

const cds_kb_ingredient *cds_kb_ingredient_at(const cds_kb *kb, uint32_t i)
{
    return i < kb->ningr ? &kb->ingr[i] : NULL;
}

const cds_kb_class *cds_kb_class_at(const cds_kb *kb, uint32_t i)
{
    i &= ~CDS_KB_CLASS;
    return i < kb->ncls ? &kb->cls[i] : NULL;
}

const cds_kb_interaction *cds_kb_interaction_at(const cds_kb *kb, uint32_t i) { return i < kb->nix ? &kb->ix[i] : NULL; }

uint32_t cds_kb_ingredient_by_code(const cds_kb *kb, const char *rxcui)
{
    uint32_t v;
    if (!rxcui) return CDS_KB_NONE;
    return cds_strmap_get(&kb->ingr_by_code, rxcui, strlen(rxcui), &v) ? v : CDS_KB_NONE;
}

size_t cds_kb_product_ingredients(const cds_kb *kb, const char *rxcui, const uint32_t **out)
{
    uint32_t v;
    if (!rxcui || !cds_strmap_get(&kb->prod_by_code, rxcui, strlen(rxcui), &v)) return 0;
    *out = kb->pool + kb->prod[v].off;
    return kb->prod[v].n;
}

const char *cds_kb_product_unscreened(const cds_kb *kb, const char *rxcui)
{
    uint32_t v;
    if (!rxcui || !cds_strmap_get(&kb->prod_by_code, rxcui, strlen(rxcui), &v)) return NULL;
    return kb->prod[v].unscreened;
}

uint32_t cds_kb_class_by_id(const cds_kb *kb, const char *id)
{
    uint32_t v;
    return id && cds_strmap_get(&kb->cls_by_id, id, strlen(id), &v) ? v : CDS_KB_NONE;
}

bool cds_kb_in_class(const cds_kb *kb, uint32_t g, uint32_t cls)
{
    if (g >= kb->ningr || cls == CDS_KB_NONE) return false;
    cls &= ~CDS_KB_CLASS;
    const cds_kb_ingredient *in = &kb->ingr[g];
    for (uint32_t i = 0; i < in->nclasses; i++)
        if (in->classes[i] == cls) return true;
    return false;
}

static bool is_salt(const char *w, size_t n)
{
    static const char *const salts[] = {"sodium", "potassium", "hydrochloride", "hcl", "sulfate", "carbonate",
                                        "citrate", "maleate", "mesylate", "besylate", "succinate", "tartrate",
                                        "fumarate", "acetate", "phosphate", "bromide", "chloride", "calcium",
                                        "magnesium", "disodium", "hyclate", "hydrobromide", "bitartrate",
                                        "monohydrate", "dihydrate", "trihydrate", "anhydrous", "tromethamine",
                                        "furoate", "mesilate", "pamoate", "nitrate"};
    for (size_t i = 0; i < sizeof salts / sizeof salts[0]; i++)
        if (strlen(salts[i]) == n && memcmp(salts[i], w, n) == 0) return true;
    return false;
}

size_t cds_kb_match_names(const cds_kb *kb, const char *text, bool classes, uint32_t *out, size_t max)
{
    char norm[2048];
    if (!text || !normalise(text, norm, sizeof norm)) return 0;
    /* word start offsets */
    size_t starts[256], nw = 0, len = strlen(norm);
    for (size_t i = 0; i < len && nw < 255; i++)
        if (i == 0 || norm[i - 1] == ' ') starts[nw++] = i;
    starts[nw] = len + 1;
    size_t found = 0;
    for (size_t w = 0; w < nw;) {
        size_t took = 0;
        for (size_t k = kb->max_name_words < nw - w ? kb->max_name_words : nw - w; k >= 1; k--) {
            size_t l = starts[w + k] - 1 - starts[w];
            uint32_t t;
            if (!cds_strmap_get(&kb->names, norm + starts[w], l, &t)) continue;
            if ((t & CDS_KB_CLASS) && !classes) continue;
            bool dup = false;
            for (size_t i = 0; i < found; i++) dup |= out[i] == t;
            if (!dup && found < max) out[found++] = t;
            took = k;
            break;
        }
        if (!took) { w++; continue; }
        w += took;
        while (w < nw && is_salt(norm + starts[w], starts[w + 1] - 1 - starts[w])) w++;
    }
    return found;
}

uint32_t cds_kb_allergen_code(const cds_kb *kb, const char *system, const char *code)
{
    char key[512];
    uint32_t v;
    if (!system || !code) return CDS_KB_NONE;
    int n = snprintf(key, sizeof key, "%s|%s", system, code);
    if (n < 0 || (size_t)n >= sizeof key) return CDS_KB_NONE;
    return cds_strmap_get(&kb->allergen, key, (size_t)n, &v) ? v : CDS_KB_NONE;
}

size_t cds_kb_interactions(const cds_kb *kb, uint32_t a, uint32_t b, uint32_t *out, size_t max)
{
    if (a >= kb->ningr || b >= kb->ningr || !kb->nix) return 0;
    const cds_kb_ingredient *ia = &kb->ingr[a], *ib = &kb->ingr[b];
    size_t found = 0;
    for (uint32_t i = 0; i <= ia->nclasses; i++) {
        uint32_t ta = i == ia->nclasses ? a : ia->classes[i] | CDS_KB_CLASS;
        for (uint32_t j = 0; j <= ib->nclasses; j++) {
            uint32_t tb = j == ib->nclasses ? b : ib->classes[j] | CDS_KB_CLASS;
            uint32_t x;
            if (!u64_get(&kb->pairs, ((uint64_t)ta << 32) | tb, &x)) continue;
            bool dup = false;
            for (size_t k = 0; k < found; k++) dup |= out[k] == x;
            if (!dup && found < max) out[found++] = x;
        }
    }
    return found;
}

size_t cds_kb_cross_all(const cds_kb *kb, const cds_kb_cross **out)
{
    *out = kb->cross;
    return kb->ncross;
}

const char *cds_kb_target_name(const cds_kb *kb, uint32_t t)
{
    if (t == CDS_KB_NONE) return "?";
    if (t & CDS_KB_CLASS) {
        const cds_kb_class *c = cds_kb_class_at(kb, t);
        return c ? c->name : "?";
    }
    const cds_kb_ingredient *g = cds_kb_ingredient_at(kb, t);
    return g ? g->name : "?";
}

size_t cds_kb_product_strengths(const cds_kb *kb, const char *rxcui, const cds_kb_strength **out)
{
    uint32_t i;
    *out = NULL;
    if (!rxcui || !cds_strmap_get(&kb->strength_by_prod, rxcui, strlen(rxcui), &i)) return 0;
    *out = &kb->strength[i];
    return kb->strength_n[i];
}

/* The first row of a drug's chain, or CDS_KB_NONE; a precise ingredient's code is looked up
 * under its base. */
static uint32_t chain_head(const cds_kb *kb, const cds_strmap *by, const char *drug)
{
    if (!drug) return CDS_KB_NONE;
    if (strncmp(drug, "product:", 8) != 0) {
        uint32_t g = cds_kb_ingredient_by_code(kb, drug);
        if (g != CDS_KB_NONE) drug = kb->ingr[g].rxcui;
    }
    uint32_t i;
    return cds_strmap_get(by, drug, strlen(drug), &i) ? i : CDS_KB_NONE;
}

#define ROWS_FOR(by, next, rows) \
    size_t n = 0; \
    for (uint32_t i = chain_head(kb, &kb->by, drug); i != CDS_KB_NONE; i = kb->next[i], n++) \
        if (n < max) out[n] = &kb->rows[i]; \
    return n

size_t cds_kb_dose_limits(const cds_kb *kb, const char *drug, const cds_kb_dose_limit **out, size_t max)
{
    ROWS_FOR(dose_by, dose_next, dose);
}

size_t cds_kb_renal_dosing(const cds_kb *kb, const char *drug, const cds_kb_renal **out, size_t max)
{
    ROWS_FOR(renal_by, renal_next, renal);
}

size_t cds_kb_route_rules(const cds_kb *kb, const char *drug, const cds_kb_route_rule **out, size_t max)
{
    ROWS_FOR(routes_by, routes_next, routes);
}

const char *cds_kb_product_route(const cds_kb *kb, const char *rxcui)
{
    uint32_t v;
    if (!rxcui || !cds_strmap_get(&kb->prod_by_code, rxcui, strlen(rxcui), &v)) return NULL;
    return kb->prod[v].route;
}
