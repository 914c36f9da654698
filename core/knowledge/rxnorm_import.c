/* rxnorm_import.c — RXNCONSO/RXNREL -> ingredient and product tables. */
#include "rxnorm_import.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "arena.h"
#include "strmap.h"

enum { T_IN, T_PIN, T_MIN, T_BN, T_SCD, T_SBD, T_GPCK, T_BPCK, T_SCDC, T_SBDC, T_SCDF, T_SBDF, T_OTHER };
static const char *const TTYS[] = {"IN", "PIN", "MIN", "BN", "SCD", "SBD", "GPCK", "BPCK", "SCDC", "SBDC", "SCDF", "SBDF"};

enum { R_FORM_OF, R_TRADENAME_OF, R_HAS_PART, R_CONSISTS_OF, R_HAS_INGREDIENT, R_CONTAINS, R_COUNT };
static const char *const RELAS[R_COUNT] = {"form_of", "tradename_of", "has_part", "consists_of", "has_ingredient",
                                           "contains"};

typedef struct concept { const char *rxcui, *name; int tty; } concept;
typedef struct edge { uint32_t from, to; int rela; } edge;

typedef struct importer {
    cds_arena a;
    cds_strmap by_code;
    concept *c;
    size_t nc, capc;
    edge *e;
    size_t ne, cape;
    cds_strbuf *diag;
    int errors;
} importer;

/* Splits a pipe-delimited line in place; returns the field count. */
static int split(char *line, char **f, int max)
{
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == '|') { *p = '\0'; f[n++] = p + 1; }
    return n;
}

static int tty_of(const char *s)
{
    for (int i = 0; i < T_OTHER; i++)
        if (strcmp(s, TTYS[i]) == 0) return i;
    return T_OTHER;
}

typedef void (*row_fn)(importer *, char **f, int n, const char *file, long line);

static bool each_line(importer *im, const char *path, int want, row_fn fn, bool progress)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        cds_strbuf_printf(im->diag, "%s: %s\n", path, strerror(errno));
        im->errors++;
        return false;
    }
    char buf[65536], *f[24];
    long line = 0;
    while (fgets(buf, sizeof buf, fp)) {
        line++;
        size_t l = strlen(buf);
        while (l && (buf[l - 1] == '\n' || buf[l - 1] == '\r')) buf[--l] = '\0';
        if (!l) continue;
        int n = split(buf, f, 24);
        if (n < want) {
            if (++im->errors <= 50)
                cds_strbuf_printf(im->diag, "%s:%ld: expected %d '|'-separated fields, found %d\n", path, line, want, n);
            continue;
        }
        fn(im, f, n, path, line);
        if (progress && line % 200000 == 0) fprintf(stderr, "\r  %s: %ld lines", path, line);
    }
    if (progress) fprintf(stderr, "\r  %s: %ld lines\n", path, line);
    fclose(fp);
    return true;
}

static void conso_row(importer *im, char **f, int n, const char *file, long line)
{
    (void)n, (void)file, (void)line;
    if (strcmp(f[11], "RXNORM") != 0 || (f[16][0] && strcmp(f[16], "N") != 0)) return;
    int tty = tty_of(f[12]);
    if (tty == T_OTHER) return;
    uint32_t idx;
    if (cds_strmap_get(&im->by_code, f[0], strlen(f[0]), &idx)) return;   /* first name per concept */
    if (im->nc == im->capc) {
        concept *p = realloc(im->c, (im->capc = im->capc * 2 + 4096) * sizeof *p);
        if (!p) return;
        im->c = p;
    }
    concept *c = &im->c[im->nc];
    c->rxcui = cds_arena_strdup(&im->a, f[0]);
    c->name = cds_arena_strdup(&im->a, f[14]);
    c->tty = tty;
    cds_strmap_put(&im->by_code, c->rxcui, strlen(c->rxcui), (uint32_t)im->nc);
    im->nc++;
}

static void rel_row(importer *im, char **f, int n, const char *file, long line)
{
    (void)n, (void)file, (void)line;
    if (strcmp(f[9], "RXNORM") != 0) return;
    int r = -1;
    for (int i = 0; i < R_COUNT; i++)
        if (strcmp(f[7], RELAS[i]) == 0) r = i;
    if (r < 0) return;
    uint32_t c1, c2;
    if (!cds_strmap_get(&im->by_code, f[0], strlen(f[0]), &c1) || !cds_strmap_get(&im->by_code, f[4], strlen(f[4]), &c2))
        return;
    if (im->ne == im->cape) {
        edge *p = realloc(im->e, (im->cape = im->cape * 2 + 4096) * sizeof *p);
        if (!p) return;
        im->e = p;
    }
    im->e[im->ne++] = (edge){c2, c1, r};   /* "c2 RELA c1" */
}

static int cmp_edge(const void *a, const void *b)
{
    const edge *x = a, *y = b;
    if (x->from != y->from) return x->from < y->from ? -1 : 1;
    return x->rela - y->rela;
}

/* First edge index for (from), edges sorted by from. */
static size_t first_edge(const importer *im, uint32_t from)
{
    size_t lo = 0, hi = im->ne;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (im->e[mid].from < from) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static void add_unique(uint32_t *list, size_t *n, size_t max, uint32_t v)
{
    for (size_t i = 0; i < *n; i++)
        if (list[i] == v) return;
    if (*n < max) list[(*n)++] = v;
}

/* Ingredients (IN concept indices) of a concept, following the relations down. */
static void ingredients(const importer *im, uint32_t c, uint32_t *out, size_t *n, size_t max, int depth)
{
    if (depth > 6) return;
    int tty = im->c[c].tty;
    if (tty == T_IN) { add_unique(out, n, max, c); return; }
    for (size_t i = first_edge(im, c); i < im->ne && im->e[i].from == c; i++) {
        const edge *e = &im->e[i];
        int tt = im->c[e->to].tty;
        bool follow = (tty == T_PIN && e->rela == R_FORM_OF) || (tty == T_MIN && e->rela == R_HAS_PART) ||
                      (e->rela == R_HAS_INGREDIENT && (tt == T_IN || tt == T_PIN)) ||
                      ((tty == T_SCD || tty == T_SBD) && e->rela == R_CONSISTS_OF) ||
                      ((tty == T_SBD || tty == T_SBDC || tty == T_SBDF) && e->rela == R_TRADENAME_OF) ||
                      ((tty == T_GPCK || tty == T_BPCK) && e->rela == R_CONTAINS);
        if (follow) ingredients(im, e->to, out, n, max, depth + 1);
    }
}

static void tsv_field(FILE *f, const char *s)
{
    for (; *s; s++) fputc(*s == '\t' || *s == '\n' ? ' ' : *s, f);
}

cds_rc cds_rxnorm_import(const char *conso, const char *rel, const char *out_dir, bool progress, cds_strbuf *diag,
                         cds_rxnorm_counts *counts)
{
    importer im = {.diag = diag};
    cds_arena_init(&im.a);
    memset(counts, 0, sizeof *counts);
    FILE *fi = NULL, *fp = NULL;
    if (!each_line(&im, conso, 18, conso_row, progress) || !each_line(&im, rel, 16, rel_row, progress)) goto done;
    if (im.errors) goto done;
    if (im.ne) qsort(im.e, im.ne, sizeof *im.e, cmp_edge);
    char path[1024];
    snprintf(path, sizeof path, "%s/knowledge", out_dir);
    mkdir(out_dir, 0755);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/knowledge/ingredients.tsv", out_dir);
    fi = fopen(path, "w");
    snprintf(path, sizeof path, "%s/knowledge/products.tsv", out_dir);
    fp = fopen(path, "w");
    if (!fi || !fp) {
        cds_strbuf_printf(diag, "%s: cannot write: %s\n", path, strerror(errno));
        im.errors++;
        goto done;
    }
    fprintf(fi, "# Generated by 'cdsd kb import-rxnorm' from %s and %s.\nrxcui\tname\tbase\tsynonyms\tstatus\tsource\n", conso, rel);
    fprintf(fp, "# Generated by 'cdsd kb import-rxnorm' from %s and %s.\nrxcui\tname\ttty\tingredients\tsource\n", conso, rel);
    /* brand names: BN tradename_of exactly one IN */
    for (size_t c = 0; c < im.nc; c++) {
        if (im.c[c].tty != T_IN && im.c[c].tty != T_PIN) continue;
        uint32_t base[4];
        size_t nb = 0;
        if (im.c[c].tty == T_PIN) {
            ingredients(&im, (uint32_t)c, base, &nb, 4, 0);
            if (nb != 1) { counts->unmapped++; continue; }
        }
        fprintf(fi, "%s\t", im.c[c].rxcui);
        tsv_field(fi, im.c[c].name);
        fprintf(fi, "\t%s\t", nb ? im.c[base[0]].rxcui : "");
        int syn = 0;
        /* brands pointing at this IN (edges are sorted by 'from' = the BN, so scan all) */
        for (size_t i = 0; im.c[c].tty == T_IN && i < im.ne; i++) {
            const edge *e = &im.e[i];
            if (e->to != c || e->rela != R_TRADENAME_OF || im.c[e->from].tty != T_BN) continue;
            uint32_t ins[4];
            size_t ni = 0;
            for (size_t k = first_edge(&im, e->from); k < im.ne && im.e[k].from == e->from; k++)
                if (im.e[k].rela == R_TRADENAME_OF) add_unique(ins, &ni, 4, im.e[k].to);
            if (ni != 1) continue;
            if (syn++) fputc(';', fi);
            tsv_field(fi, im.c[e->from].name);
            counts->brands++;
        }
        fprintf(fi, "\tverified\tRxNorm release\n");
        if (im.c[c].tty == T_IN) counts->ingredients++;
        else counts->precise++;
    }
    for (size_t c = 0; c < im.nc; c++) {
        int t = im.c[c].tty;
        if (t == T_IN || t == T_PIN || t == T_BN) continue;
        uint32_t ins[32];
        size_t n = 0;
        ingredients(&im, (uint32_t)c, ins, &n, 32, 0);
        if (!n) { counts->unmapped++; continue; }
        fprintf(fp, "%s\t", im.c[c].rxcui);
        tsv_field(fp, im.c[c].name);
        fprintf(fp, "\t%s\t", TTYS[t]);
        for (size_t i = 0; i < n; i++) fprintf(fp, "%s%s", i ? ";" : "", im.c[ins[i]].rxcui);
        fprintf(fp, "\tRxNorm release\n");
        counts->products++;
    }
done:
    if (fi) fclose(fi);
    if (fp) fclose(fp);
    free(im.c);
    free(im.e);
    cds_strmap_free(&im.by_code);
    cds_arena_free(&im.a);
    return im.errors ? CDS_ELOAD : CDS_OK;
}
