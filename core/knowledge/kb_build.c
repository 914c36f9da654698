/* kb_build.c — import of the knowledge TSV tables into SQLite, with validation.
 * Each table kind is a file name under <pack>/knowledge/: ingredients, products, classes,
 * interactions, cross_sensitivity, allergen_codes, dose_limits, renal_dosing, routes (.tsv).
 * Kinds are imported in that order across all packs, so later tables can be checked against
 * earlier ones. Product strengths are parsed from the product names here (strength.c). */
#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arena.h"
#include "digest.h"
#include "json.h"
#include "kb.h"
#include "route_group.h"
#include "strength.h"
#include "strmap.h"
#include "tsv.h"

static const char SCHEMA[] =
    "PRAGMA foreign_keys=OFF;"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE source_file(path TEXT PRIMARY KEY, sha256 TEXT NOT NULL, rows INTEGER NOT NULL);"
    "CREATE TABLE ingredient(rxcui TEXT PRIMARY KEY, name TEXT NOT NULL, base TEXT, status TEXT, source TEXT);"
    "CREATE TABLE synonym(name TEXT NOT NULL, target TEXT NOT NULL);"
    "CREATE TABLE product(rxcui TEXT PRIMARY KEY, name TEXT, tty TEXT, source TEXT, unscreened TEXT, route TEXT);"
    "CREATE TABLE product_ingredient(product TEXT NOT NULL, ingredient TEXT NOT NULL);"
    "CREATE TABLE drug_class(id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT, source TEXT);"
    "CREATE TABLE class_member(class TEXT NOT NULL, ingredient TEXT NOT NULL);"
    "CREATE TABLE interaction(id TEXT PRIMARY KEY, a TEXT NOT NULL, b TEXT NOT NULL, a_label TEXT, b_label TEXT,"
    " severity TEXT NOT NULL, list TEXT, mechanism TEXT, consequence TEXT, management TEXT, alternative TEXT,"
    " source TEXT, applies_if TEXT, provenance TEXT);"
    "CREATE TABLE cross_sensitivity(from_class TEXT NOT NULL, to_class TEXT NOT NULL, level TEXT NOT NULL,"
    " note TEXT, source TEXT);"
    "CREATE TABLE allergen_code(system TEXT NOT NULL, code TEXT NOT NULL, display TEXT, target TEXT NOT NULL,"
    " source TEXT, PRIMARY KEY(system, code));"
    /* amount per dose unit (per_volume_ml NULL) or per per_volume_ml mL; unit mg, unit, mEq or mmol */
    "CREATE TABLE product_strength(product TEXT NOT NULL, ingredient TEXT NOT NULL, amount REAL NOT NULL,"
    " unit TEXT NOT NULL, per_volume_ml REAL);"
    "CREATE TABLE dose_limit(id TEXT PRIMARY KEY, drug TEXT NOT NULL, drug_label TEXT, route TEXT NOT NULL,"
    " age_min_days REAL, age_max_days REAL, weight_min_kg REAL, weight_max_kg REAL, unit TEXT, max_single REAL,"
    " max_daily REAL, min_daily REAL, max_single_per_kg REAL, max_daily_per_kg REAL, schedule TEXT,"
    " indication TEXT, note TEXT, source TEXT);"
    "CREATE TABLE renal_dosing(id TEXT PRIMARY KEY, drug TEXT NOT NULL, drug_label TEXT, route TEXT NOT NULL,"
    " measure TEXT NOT NULL, min REAL, max REAL, action TEXT NOT NULL, max_daily REAL, unit TEXT, interval_h REAL,"
    " note TEXT, source TEXT);"
    "CREATE TABLE route_rule(id TEXT PRIMARY KEY, drug TEXT NOT NULL, drug_label TEXT, allowed TEXT,"
    " forbidden TEXT, severity TEXT NOT NULL, note TEXT, source TEXT);";

enum { K_INGR, K_PROD, K_CLASS, K_IX, K_CROSS, K_ALLERGEN, K_DOSE, K_RENAL, K_ROUTES, K_COUNT };
static const char *const kind_names[K_COUNT] = {"ingredients", "products", "classes", "interactions",
                                                "cross_sensitivity", "allergen_codes", "dose_limits",
                                                "renal_dosing", "routes"};
#define NSTMT 4   /* prepared statements per kind */

typedef struct importer {
    sqlite3 *db;
    cds_strbuf *diag;
    int errors;
    bool progress;
    cds_arena keys;          /* owns the strings of the maps below */
    cds_strmap ingr, prod, cls, pairs, ids, acodes, dose_ids;
    cds_tsv *t;              /* current table, for file:line */
} importer;

static void problem(importer *im, const char *fmt, const char *a, const char *b)
{
    im->errors++;
    if (im->errors > 200) return;
    cds_strbuf_printf(im->diag, "%s:%d: ", im->t->path, im->t->line);
    cds_strbuf_printf(im->diag, fmt, a, b);
    cds_strbuf_putc(im->diag, '\n');
}

static bool remember(importer *im, cds_strmap *m, const char *key)
{
    char *k = cds_arena_strdup(&im->keys, key);
    return k && cds_strmap_put(m, k, strlen(k), 1);
}

static bool known(cds_strmap *m, const char *key) { return cds_strmap_get(m, key, strlen(key), NULL); }

static bool digits(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return false;
    return true;
}

/* Calls fn on each ';'-separated, trimmed, non-empty item of s (copied). Returns count. */
static int each_item(const char *s, void (*fn)(importer *, const char *, void *), importer *im, void *ud)
{
    char *buf = strdup(s);   /* a list may be long (class members): never cut it */
    if (!buf) return 0;
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        while (isspace((unsigned char)*tok)) tok++;
        char *e = tok + strlen(tok);
        while (e > tok && isspace((unsigned char)e[-1])) *--e = '\0';
        if (!*tok) continue;
        fn(im, tok, ud);
        n++;
    }
    free(buf);
    return n;
}

static sqlite3_stmt *prep(importer *im, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(im->db, sql, -1, &st, NULL) != SQLITE_OK) {
        im->errors++;
        cds_strbuf_printf(im->diag, "knowledge database: %s\n", sqlite3_errmsg(im->db));
    }
    return st;
}

static void run(importer *im, sqlite3_stmt *st, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *v = va_arg(ap, const char *);
        if (v && *v) sqlite3_bind_text(st, i + 1, v, -1, SQLITE_TRANSIENT);
        else sqlite3_bind_null(st, i + 1);
    }
    va_end(ap);
    if (sqlite3_step(st) != SQLITE_DONE) {
        im->errors++;
        cds_strbuf_printf(im->diag, "%s:%d: database: %s\n", im->t->path, im->t->line, sqlite3_errmsg(im->db));
    }
    sqlite3_reset(st);
}

/* --- per-kind row handlers ---------------------------------------------------------------- */

typedef struct ctx { sqlite3_stmt *st; const char *owner; } ctx;

static void add_synonym(importer *im, const char *name, void *ud)
{
    ctx *c = ud;
    char low[512];
    size_t i = 0;
    for (; name[i] && i < sizeof low - 1; i++) low[i] = (char)tolower((unsigned char)name[i]);
    low[i] = '\0';
    run(im, c->st, 2, low, c->owner);
}

static void check_ingr_ref(importer *im, const char *code, void *ud)
{
    ctx *c = ud;
    if (!known(&im->ingr, code)) problem(im, "unknown ingredient code '%s'%s", code, "");
    else run(im, c->st, 2, c->owner, code);
}

static void import_ingredients(importer *im, sqlite3_stmt **st)
{
    cds_tsv *t = im->t;
    const char *code = cds_tsv_get(t, "rxcui"), *name = cds_tsv_get(t, "name");
    const char *status = cds_tsv_get(t, "status");
    if (!digits(code)) { problem(im, "ingredient code '%s' is not an RxNorm RxCUI%s", code, ""); return; }
    if (!*name) { problem(im, "ingredient %s has no name%s", code, ""); return; }
    if (*status && strcmp(status, "verified") && strcmp(status, "unverified"))
        problem(im, "status '%s' must be verified or unverified%s", status, "");
    if (known(&im->ingr, code)) { problem(im, "duplicate ingredient %s%s", code, ""); return; }
    remember(im, &im->ingr, code);
    run(im, st[0], 5, code, name, cds_tsv_get(t, "base"), status, cds_tsv_get(t, "source"));
    ctx c = {st[1], code};
    add_synonym(im, name, &c);
    each_item(cds_tsv_get(t, "synonyms"), add_synonym, im, &c);
}

static void product_strengths(importer *im, sqlite3_stmt **st, const char *code, const char *name, const char *ingr);

static void import_products(importer *im, sqlite3_stmt **st)
{
    cds_tsv *t = im->t;
    const char *code = cds_tsv_get(t, "rxcui");
    if (!digits(code)) { problem(im, "product code '%s' is not an RxNorm RxCUI%s", code, ""); return; }
    if (known(&im->prod, code)) { problem(im, "duplicate product %s%s", code, ""); return; }
    if (known(&im->ingr, code)) { problem(im, "product %s is also listed as an ingredient%s", code, ""); return; }
    remember(im, &im->prod, code);
    /* unscreened: ingredients the vocabulary does not know (the view reports the product as not fully screened) */
    /* route: the group the dose form names ("Oral Tablet"), for orders that give no route */
    run(im, st[0], 6, code, cds_tsv_get(t, "name"), cds_tsv_get(t, "tty"), cds_tsv_get(t, "source"),
        cds_tsv_get(t, "unscreened"), cds_route_group_text(cds_tsv_get(t, "name")));
    ctx c = {st[1], code};
    if (each_item(cds_tsv_get(t, "ingredients"), check_ingr_ref, im, &c) == 0)
        problem(im, "product %s is mapped to no ingredient%s", code, "");
    else
        product_strengths(im, st, code, cds_tsv_get(t, "name"), cds_tsv_get(t, "ingredients"));
}

static void import_classes(importer *im, sqlite3_stmt **st)
{
    cds_tsv *t = im->t;
    const char *id = cds_tsv_get(t, "id"), *name = cds_tsv_get(t, "name");
    if (!*id || strchr(id, ' ') || strchr(id, ':')) { problem(im, "class id '%s' must be one word without ':'%s", id, ""); return; }
    if (known(&im->cls, id)) { problem(im, "duplicate class '%s'%s", id, ""); return; }
    remember(im, &im->cls, id);
    run(im, st[0], 4, id, *name ? name : id, cds_tsv_get(t, "kind"), cds_tsv_get(t, "source"));
    ctx c = {st[1], id};
    if (each_item(cds_tsv_get(t, "members"), check_ingr_ref, im, &c) == 0)
        problem(im, "class '%s' has no members%s", id, "");
    char target[300];
    snprintf(target, sizeof target, "class:%s", id);
    ctx s = {st[2], target};
    add_synonym(im, *name ? name : id, &s);
    each_item(cds_tsv_get(t, "synonyms"), add_synonym, im, &s);
}

static bool check_target(importer *im, const char *what, const char *v)
{
    if (strncmp(v, "class:", 6) == 0) {
        if (known(&im->cls, v + 6)) return true;
        problem(im, "%s: unknown class '%s'", what, v + 6);
        return false;
    }
    if (known(&im->ingr, v)) return true;
    problem(im, *v ? "%s: unknown ingredient code '%s'" : "%s is empty%s", what, v);
    return false;
}

static void import_interactions(importer *im, sqlite3_stmt **st)
{
    cds_tsv *t = im->t;
    const char *id = cds_tsv_get(t, "id"), *a = cds_tsv_get(t, "a"), *b = cds_tsv_get(t, "b");
    const char *sev = cds_tsv_get(t, "severity");
    if (!*id) { problem(im, "interaction has no id%s%s", "", ""); return; }
    if (known(&im->ids, id)) { problem(im, "duplicate interaction id '%s'%s", id, ""); return; }
    remember(im, &im->ids, id);
    bool ok_a = check_target(im, "column a", a), ok_b = check_target(im, "column b", b);   /* report both */
    bool ok = ok_a && ok_b;
    static const char *const sevs[] = {"contraindicated", "major", "moderate", "minor"};
    bool sev_ok = false;
    for (size_t i = 0; i < 4; i++) sev_ok |= strcmp(sev, sevs[i]) == 0;
    if (!sev_ok) { problem(im, "bad severity '%s' (use contraindicated, major, moderate or minor)%s", sev, ""); ok = false; }
    if (!ok) return;
    char pair[600];
    if (strcmp(a, b) <= 0) snprintf(pair, sizeof pair, "%s|%s", a, b);
    else snprintf(pair, sizeof pair, "%s|%s", b, a);
    if (known(&im->pairs, pair)) { problem(im, "duplicate pair %s (interaction '%s')", pair, id); return; }
    remember(im, &im->pairs, pair);
    /* applies_if: conditions under which the pair matters, ';'-separated, all must hold */
    const char *cond = cds_tsv_get(t, "applies_if");
    char buf[512];
    snprintf(buf, sizeof buf, "%s", cond);
    for (char *save = NULL, *term = strtok_r(buf, ";", &save); term; term = strtok_r(NULL, ";", &save)) {
        while (*term == ' ') term++;
        int n = 0;
        double v;
        char code[64];
        bool ok = (sscanf(term, "age>=%lf%n", &v, &n) == 1 || sscanf(term, "age<%lf%n", &v, &n) == 1 ||
                   sscanf(term, "condition:%63[0-9]%n", code, &n) == 1 ||
                   sscanf(term, "obs:%63[0-9-]<%lf%n", code, &v, &n) == 2 || sscanf(term, "obs:%63[0-9-]>%lf%n", code, &v, &n) == 2) &&
                  (term[n] == '\0' || term[n] == ' ');
        if (!ok) {
            problem(im, "bad applies_if term '%s' (use age>=N, age<N, condition:SNOMED, obs:LOINC<N or obs:LOINC>N)%s", term, "");
            return;
        }
    }
    run(im, st[0], 14, id, a, b, cds_tsv_get(t, "a_label"), cds_tsv_get(t, "b_label"), sev, cds_tsv_get(t, "list"),
        cds_tsv_get(t, "mechanism"), cds_tsv_get(t, "consequence"), cds_tsv_get(t, "management"),
        cds_tsv_get(t, "alternative"), cds_tsv_get(t, "source"), cond, cds_tsv_get(t, "provenance"));
}

static void import_cross(importer *im, sqlite3_stmt **st)
{
    cds_tsv *t = im->t;
    const char *from = cds_tsv_get(t, "from"), *to = cds_tsv_get(t, "to"), *level = cds_tsv_get(t, "level");
    bool ok = true;
    if (!known(&im->cls, from)) { problem(im, "unknown class '%s'%s", from, ""); ok = false; }
    if (!known(&im->cls, to)) { problem(im, "unknown class '%s'%s", to, ""); ok = false; }
    if (strcmp(level, "high") && strcmp(level, "moderate") && strcmp(level, "low")) {
        problem(im, "bad level '%s' (use high, moderate or low)%s", level, "");
        ok = false;
    }
    if (ok) run(im, st[0], 5, from, to, level, cds_tsv_get(t, "note"), cds_tsv_get(t, "source"));
}

static void import_allergen(importer *im, sqlite3_stmt **st)
{
    cds_tsv *t = im->t;
    const char *sys = cds_tsv_get(t, "system"), *code = cds_tsv_get(t, "code"), *target = cds_tsv_get(t, "target");
    if (!*sys || !*code) { problem(im, "system and code are required%s%s", "", ""); return; }
    char key[600];
    snprintf(key, sizeof key, "%s|%s", sys, code);
    if (known(&im->acodes, key)) { problem(im, "duplicate allergen code %s%s", key, ""); return; }
    remember(im, &im->acodes, key);
    if (check_target(im, "target", target))
        run(im, st[0], 5, sys, code, cds_tsv_get(t, "display"), target, cds_tsv_get(t, "source"));
}

/* --- product strengths -------------------------------------------------------------------- */

typedef struct ingr_list { char codes[CDS_STRENGTH_MAX][32]; size_t n; } ingr_list;

static void collect_ingr(importer *im, const char *code, void *ud)
{
    ingr_list *l = ud;
    if (l->n < CDS_STRENGTH_MAX && known(&im->ingr, code) && strlen(code) < sizeof l->codes[0])
        strcpy(l->codes[l->n++], code);
}

/* Does the strength's substance name the ingredient, as whole words ("metoprolol" in
 * "Metoprolol Tartrate", "hydrocodone" in "24 HR hydrocodone bitartrate")? names: SELECT name FROM ingredient WHERE rxcui=? */
static bool names_substance(sqlite3_stmt *names, const char *code, const char *substance)
{
    bool hit = false;
    sqlite3_bind_text(names, 1, code, -1, SQLITE_STATIC);
    if (sqlite3_step(names) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(names, 0);
        size_t n = name ? strlen(name) : 0;
        for (const char *p = substance; n && *p && !hit; p++)
            hit = (p == substance || p[-1] == ' ') && strncasecmp(p, name, n) == 0 && (p[n] == '\0' || p[n] == ' ');
    }
    sqlite3_reset(names);
    sqlite3_clear_bindings(names);
    return hit;
}

/* Strengths from the product's name, each matched to one of its ingredients: by the ingredient's
 * name at the start of the component, else by position when the counts agree. A strength that
 * matches no ingredient is left out (the order is then "dose not checked", never guessed). */
static void product_strengths(importer *im, sqlite3_stmt **st, const char *code, const char *name, const char *ingr)
{
    cds_strength s[CDS_STRENGTH_MAX];
    size_t n = cds_strength_parse(name, s, CDS_STRENGTH_MAX);
    if (!n || !st[2] || !st[3]) return;
    ingr_list l = {0};
    each_item(ingr, collect_ingr, im, &l);
    for (size_t i = 0; i < n; i++) {
        const char *g = NULL;
        for (size_t j = 0; j < l.n && !g; j++)
            if (names_substance(st[3], l.codes[j], s[i].substance)) g = l.codes[j];
        if (!g && n == l.n) g = l.codes[i];
        if (!g) continue;
        char amount[32], per[32];
        snprintf(amount, sizeof amount, "%.17g", s[i].amount);
        snprintf(per, sizeof per, "%.17g", s[i].per_volume_ml);
        run(im, st[2], 5, code, g, amount, s[i].unit, s[i].per_volume_ml > 0 ? per : NULL);
    }
}

/* --- dosing tables ------------------------------------------------------------------------ */

/* A number column: true with *v set (NAN when blank and allowed); false (reported) otherwise. */
static bool num_col(importer *im, const char *col, bool required, double *v)
{
    const char *s = cds_tsv_get(im->t, col);
    *v = NAN;
    if (!*s) {
        if (required) problem(im, "column %s is required%s", col, "");
        return !required;
    }
    char *end;
    double x = strtod(s, &end);
    if (end == s || *end || !isfinite(x) || x < 0) {
        problem(im, "bad number '%s' in column %s (a number >= 0)", s, col);
        return false;
    }
    *v = x;
    return true;
}

static bool band(importer *im, const char *lo, const char *hi)
{
    double a, b;
    bool ok = num_col(im, lo, false, &a) & num_col(im, hi, false, &b);
    if (ok && !isnan(a) && !isnan(b) && a >= b) {
        problem(im, "%s must be below %s", lo, hi);
        return false;
    }
    return ok;
}

/* drug: an ingredient RxCUI, or product:<rxcui>. */
static bool check_drug(importer *im)
{
    const char *d = cds_tsv_get(im->t, "drug");
    if (strncmp(d, "product:", 8) == 0) {
        if (known(&im->prod, d + 8)) return true;
        problem(im, "unknown drug code '%s' (not a product in the vocabulary)%s", d, "");
        return false;
    }
    if (known(&im->ingr, d)) return true;
    problem(im, *d ? "unknown drug code '%s' (use an ingredient RxCUI or product:RXCUI)%s" : "column drug is required%s%s", d, "");
    return false;
}

static bool check_route(importer *im, const char *col, bool any_ok)
{
    const char *r = cds_tsv_get(im->t, col);
    if ((any_ok && strcmp(r, "any") == 0) || (cds_route_group_name(r) && strcmp(cds_route_group_name(r), r) == 0)) return true;
    problem(im, "unknown route group '%s' in column %s", r, col);
    return false;
}

static bool check_unit(importer *im, bool required)
{
    static const char *const units[] = {"mg", "mcg", "g", "unit", "mEq", "mmol", NULL};
    const char *u = cds_tsv_get(im->t, "unit");
    if (!*u && !required) return true;
    for (size_t i = 0; units[i]; i++)
        if (strcmp(u, units[i]) == 0) return true;
    problem(im, "unknown unit '%s' (use mg, mcg, g, unit, mEq or mmol)%s", u, "");
    return false;
}

static bool check_id(importer *im, const char *table)
{
    const char *id = cds_tsv_get(im->t, "id");
    char key[300];
    snprintf(key, sizeof key, "%s|%s", table, id);
    if (!*id) { problem(im, "row has no id%s%s", "", ""); return false; }
    if (known(&im->dose_ids, key)) { problem(im, "duplicate id '%s' in %s", id, table); return false; }
    remember(im, &im->dose_ids, key);
    return true;
}

#define G(col) cds_tsv_get(t, col)

static void import_dose_limits(importer *im, sqlite3_stmt **st)
{
    cds_tsv *t = im->t;
    bool ok = check_id(im, "dose_limits");
    ok &= check_drug(im);
    ok &= check_route(im, "route", true);
    ok &= band(im, "age_min_days", "age_max_days");
    ok &= band(im, "weight_min_kg", "weight_max_kg");
    static const char *const amounts[] = {"max_single", "max_daily", "min_daily", "max_single_per_kg", "max_daily_per_kg"};
    double v[5];
    int given = 0;
    for (int i = 0; i < 5; i++) {
        ok &= num_col(im, amounts[i], false, &v[i]);
        given += !isnan(v[i]);
    }
    if (!given) { problem(im, "no limit on the row (give max_single, max_daily, min_daily or a per-kg limit)%s%s", "", ""); ok = false; }
    ok &= check_unit(im, given > 0);
    if (!isnan(v[2]) && !isnan(v[1]) && v[2] >= v[1]) { problem(im, "min_daily must be below max_daily%s%s", "", ""); ok = false; }
    const char *sched = G("schedule");
    if (*sched && strcmp(sched, "weekly")) { problem(im, "unknown schedule '%s' (leave blank or use weekly)%s", sched, ""); ok = false; }
    if (!*G("source")) { problem(im, "column source is required%s%s", "", ""); ok = false; }
    if (ok)
        run(im, st[0], 18, G("id"), G("drug"), G("drug_label"), G("route"), G("age_min_days"), G("age_max_days"),
            G("weight_min_kg"), G("weight_max_kg"), G("unit"), G("max_single"), G("max_daily"), G("min_daily"),
            G("max_single_per_kg"), G("max_daily_per_kg"), sched, G("indication"), G("note"), G("source"));
}

static void import_renal(importer *im, sqlite3_stmt **st)
{
    cds_tsv *t = im->t;
    bool ok = check_id(im, "renal_dosing");
    ok &= check_drug(im);
    ok &= check_route(im, "route", true);
    const char *measure = G("measure"), *action = G("action");
    if (strcmp(measure, "egfr") && strcmp(measure, "crcl") && strcmp(measure, "dialysis")) {
        problem(im, "unknown measure '%s' (use egfr, crcl or dialysis)%s", measure, "");
        ok = false;
    }
    ok &= band(im, "min", "max");
    double md, ih;
    ok &= num_col(im, "max_daily", strcmp(action, "max_daily") == 0, &md);
    ok &= num_col(im, "interval_h", strcmp(action, "interval") == 0, &ih);
    if (!isnan(ih) && ih <= 0) { problem(im, "interval_h must be above 0%s%s", "", ""); ok = false; }
    ok &= check_unit(im, !isnan(md));
    if (strcmp(action, "avoid") && strcmp(action, "max_daily") && strcmp(action, "interval") && strcmp(action, "caution")) {
        problem(im, "unknown action '%s' (use avoid, max_daily, interval or caution)%s", action, "");
        ok = false;
    }
    if (!*G("source")) { problem(im, "column source is required%s%s", "", ""); ok = false; }
    if (ok)
        run(im, st[0], 13, G("id"), G("drug"), G("drug_label"), G("route"), measure, G("min"), G("max"), action,
            G("max_daily"), G("unit"), G("interval_h"), G("note"), G("source"));
}

static void check_route_item(importer *im, const char *r, void *ud)
{
    bool *ok = ud;
    if (cds_route_group_name(r) && strcmp(cds_route_group_name(r), r) == 0) return;
    problem(im, "unknown route group '%s'%s", r, "");
    *ok = false;
}

static void import_routes(importer *im, sqlite3_stmt **st)
{
    cds_tsv *t = im->t;
    bool ok = check_id(im, "routes");
    ok &= check_drug(im);
    int n = each_item(G("allowed"), check_route_item, im, &ok) + each_item(G("forbidden"), check_route_item, im, &ok);
    if (!n) { problem(im, "give allowed or forbidden route groups%s%s", "", ""); ok = false; }
    const char *sev = G("severity");
    if (strcmp(sev, "critical") && strcmp(sev, "warning")) {
        problem(im, "unknown severity '%s' (use critical or warning)%s", sev, "");
        ok = false;
    }
    if (!*G("source")) { problem(im, "column source is required%s%s", "", ""); ok = false; }
    if (ok) run(im, st[0], 8, G("id"), G("drug"), G("drug_label"), G("allowed"), G("forbidden"), sev, G("note"), G("source"));
}

#undef G

/* Every column each table may have: anything else in a header is a load error, so a column
 * typed in a table is never silently ignored. */
static const char *const known_columns[K_COUNT][20] = {
    [K_INGR] = {"rxcui", "name", "base", "synonyms", "status", "source", NULL},
    [K_PROD] = {"rxcui", "name", "tty", "ingredients", "unscreened", "source", NULL},
    [K_CLASS] = {"id", "name", "kind", "members", "synonyms", "source", NULL},
    [K_IX] = {"id", "a", "a_label", "b", "b_label", "severity", "list", "mechanism", "consequence", "management",
              "alternative", "source", "applies_if", "provenance", NULL},
    [K_CROSS] = {"from", "to", "level", "note", "source", NULL},
    [K_ALLERGEN] = {"system", "code", "display", "target", "source", NULL},
    [K_DOSE] = {"id", "drug", "drug_label", "route", "age_min_days", "age_max_days", "weight_min_kg", "weight_max_kg",
                "unit", "max_single", "max_daily", "min_daily", "max_single_per_kg", "max_daily_per_kg", "schedule",
                "indication", "note", "source", NULL},
    [K_RENAL] = {"id", "drug", "drug_label", "route", "measure", "min", "max", "action", "max_daily", "unit",
                 "interval_h", "note", "source", NULL},
    [K_ROUTES] = {"id", "drug", "drug_label", "allowed", "forbidden", "severity", "note", "source", NULL},
};

typedef void (*row_fn)(importer *, sqlite3_stmt **);
static const struct kind_def {
    row_fn fn;
    const char *required[6];
    const char *sql[NSTMT];
} kinds[K_COUNT] = {
    [K_INGR] = {import_ingredients, {"rxcui", "name", NULL},
                {"INSERT INTO ingredient VALUES(?,?,?,?,?)", "INSERT INTO synonym VALUES(?,?)"}},
    [K_PROD] = {import_products, {"rxcui", "ingredients", NULL},
                {"INSERT INTO product VALUES(?,?,?,?,?,?)", "INSERT INTO product_ingredient VALUES(?,?)",
                 "INSERT INTO product_strength VALUES(?,?,?,?,?)", "SELECT name FROM ingredient WHERE rxcui=?"}},
    [K_CLASS] = {import_classes, {"id", "members", NULL},
                 {"INSERT INTO drug_class VALUES(?,?,?,?)", "INSERT INTO class_member VALUES(?,?)",
                  "INSERT INTO synonym VALUES(?,?)"}},
    [K_IX] = {import_interactions, {"id", "a", "b", "severity", NULL},
              {"INSERT INTO interaction VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)"}},
    [K_CROSS] = {import_cross, {"from", "to", "level", NULL}, {"INSERT INTO cross_sensitivity VALUES(?,?,?,?,?)"}},
    [K_ALLERGEN] = {import_allergen, {"system", "code", "target", NULL},
                    {"INSERT INTO allergen_code VALUES(?,?,?,?,?)"}},
    [K_DOSE] = {import_dose_limits, {"id", "drug", "route", "source", NULL},
                {"INSERT INTO dose_limit VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"}},
    [K_RENAL] = {import_renal, {"id", "drug", "route", "measure", "action", NULL},
                 {"INSERT INTO renal_dosing VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)"}},
    [K_ROUTES] = {import_routes, {"id", "drug", "allowed", "forbidden", "severity", NULL},
                  {"INSERT INTO route_rule VALUES(?,?,?,?,?,?,?,?)"}},
};

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Lists <pack>/knowledge/<kind>.tsv files; unknown table names are problems. */
static void find_tables(importer *im, const char *const *packs, size_t npacks, char **files[K_COUNT], size_t nf[K_COUNT])
{
    for (size_t p = 0; p < npacks; p++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/knowledge", packs[p]);
        DIR *d = opendir(dir);
        if (!d) continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l < 5 || strcmp(e->d_name + l - 4, ".tsv")) continue;
            int k = -1;
            /* "products.tsv" or "products-<anything>.tsv": several files may feed one table */
            for (int i = 0; i < K_COUNT; i++) {
                size_t kl = strlen(kind_names[i]);
                if (strncmp(e->d_name, kind_names[i], kl) == 0 && (e->d_name[kl] == '.' || e->d_name[kl] == '-')) k = i;
            }
            char *path = cds_arena_printf(&im->keys, "%s/%s", dir, e->d_name);
            if (k < 0 && path) {
                im->errors++;
                cds_strbuf_printf(im->diag, "%s:1: unknown knowledge table (expected ingredients, products, classes, "
                                            "interactions, cross_sensitivity, allergen_codes, dose_limits, renal_dosing or routes, "
                                            "optionally NAME-suffix.tsv)\n", path);
                continue;
            }
            char **nfiles = path ? realloc(files[k], (nf[k] + 1) * sizeof *nfiles) : NULL;
            if (!nfiles) {   /* a table left out would load as "no such facts" */
                im->errors++;
                cds_strbuf_printf(im->diag, "%s/%s: out of memory listing the knowledge tables\n", dir, e->d_name);
                continue;
            }
            files[k] = nfiles;
            files[k][nf[k]++] = path;
        }
        closedir(d);
    }
    for (int k = 0; k < K_COUNT; k++)
        if (nf[k]) qsort(files[k], nf[k], sizeof *files[k], cmp_str);
}

cds_rc cds_kb_import(sqlite3 *db, const char *const *packs, size_t npacks, cds_strbuf *diag, bool progress)
{
    importer im = {.db = db, .diag = diag, .progress = progress};
    cds_arena_init(&im.keys);
    char **files[K_COUNT] = {0};
    size_t nf[K_COUNT] = {0};
    char *errmsg = NULL;
    cds_digest *all = cds_digest_new();
    if (sqlite3_exec(db, SCHEMA, NULL, NULL, &errmsg) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN", NULL, NULL, &errmsg) != SQLITE_OK) {
        cds_strbuf_printf(diag, "knowledge database: %s\n", errmsg ? errmsg : sqlite3_errmsg(db));
        sqlite3_free(errmsg);
        im.errors++;
        goto done;
    }
    find_tables(&im, packs, npacks, files, nf);
    sqlite3_stmt *srcst = prep(&im, "INSERT INTO source_file VALUES(?,?,?)");
    for (int k = 0; k < K_COUNT; k++) {
        sqlite3_stmt *st[NSTMT] = {0};
        for (int i = 0; i < NSTMT && kinds[k].sql[i]; i++) st[i] = prep(&im, kinds[k].sql[i]);
        for (size_t f = 0; f < nf[k]; f++) {
            cds_tsv t;
            cds_error err;
            cds_error_clear(&err);
            if (cds_tsv_open(&t, files[k][f], kinds[k].required, &err)) {
                im.errors++;
                cds_strbuf_printf(diag, "%s\n", err.message);
                continue;
            }
            if (cds_tsv_check_columns(&t, known_columns[k], &err)) {
                im.errors++;
                cds_strbuf_printf(diag, "%s\n", err.message);
                cds_tsv_close(&t);
                continue;
            }
            char sha[65];
            cds_sha256_hex(t.buf, t.len, sha);
            /* digest under "pack/knowledge/file.tsv": independent of where the rules live */
            const char *rel = files[k][f], *kn = strstr(rel, "/knowledge/");
            if (kn) {
                while (kn > rel && kn[-1] != '/') kn--;
                rel = kn;
            }
            cds_digest_update(all, rel, strlen(rel) + 1);
            cds_digest_update(all, sha, 64);
            im.t = &t;
            int rows = 0;
            while (cds_tsv_next(&t)) {
                int over = cds_tsv_overflow(&t);
                if (over && ++im.errors <= 200)
                    cds_strbuf_printf(diag, "%s:%d: a value in column %d ('%s'), but the header names %d columns: "
                                            "name the column in the header, or remove the value\n",
                                      t.path, t.line, over, t.fields[over - 1], t.ncols);
                kinds[k].fn(&im, st);
                if (++rows % 5000 == 0 && progress) fprintf(stderr, "\r  %s: %d rows", files[k][f], rows);
            }
            if (progress) fprintf(stderr, "\r  %s: %d rows\n", files[k][f], rows);
            char nrows[32];
            snprintf(nrows, sizeof nrows, "%d", rows);
            if (srcst) run(&im, srcst, 3, files[k][f], sha, nrows);
            cds_tsv_close(&t);
            im.t = NULL;
        }
        for (int i = 0; i < NSTMT; i++) sqlite3_finalize(st[i]);
    }
    sqlite3_finalize(srcst);
    /* Base codes of precise ingredients must be ingredients themselves. */
    sqlite3_stmt *q = prep(&im, "SELECT rxcui, base FROM ingredient WHERE base IS NOT NULL AND base NOT IN "
                                "(SELECT rxcui FROM ingredient)");
    while (q && sqlite3_step(q) == SQLITE_ROW) {
        im.errors++;
        cds_strbuf_printf(diag, "ingredients: %s has unknown base ingredient %s\n", sqlite3_column_text(q, 0),
                          sqlite3_column_text(q, 1));
    }
    sqlite3_finalize(q);
    if (im.errors > 200) cds_strbuf_printf(diag, "... and %d more problems\n", im.errors - 200);
    char digest[65];
    cds_digest_final(all, digest);
    all = NULL;
    sqlite3_stmt *m = prep(&im, "INSERT INTO meta VALUES('schema_version','1'),('digest',?)");
    if (m) {
        sqlite3_bind_text(m, 1, digest, -1, SQLITE_TRANSIENT);
        sqlite3_step(m);
        sqlite3_finalize(m);
    }
    sqlite3_exec(db, im.errors ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL);
done:
    if (all) cds_digest_final(all, (char[65]){0});
    for (int k = 0; k < K_COUNT; k++) free(files[k]);
    cds_strmap_free(&im.ingr);
    cds_strmap_free(&im.prod);
    cds_strmap_free(&im.cls);
    cds_strmap_free(&im.pairs);
    cds_strmap_free(&im.ids);
    cds_strmap_free(&im.acodes);
    cds_strmap_free(&im.dose_ids);
    cds_arena_free(&im.keys);
    return im.errors ? CDS_ELOAD : CDS_OK;
}
