/* interaction_pairs.c — counting a rule set's interaction knowledge (see interaction_pairs.h). */
#include "interaction_pairs.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "kb.h"
#include "rule_tables.h"
#include "ruleset.h"

typedef struct pair_set {
    uint64_t *v;
    size_t n, cap;
    int oom;
} pair_set;

static void add(pair_set *s, uint32_t a, uint32_t b)
{
    if (a == b || a == CDS_KB_NONE || b == CDS_KB_NONE) return;
    if (!cds_grow(&s->v, &s->cap, s->n + 1, sizeof *s->v)) { s->oom = 1; return; }
    s->v[s->n++] = a < b ? (uint64_t)a << 32 | b : (uint64_t)b << 32 | a;
}

static int cmp(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static size_t distinct(pair_set *s)
{
    if (!s->n) return 0;
    qsort(s->v, s->n, sizeof *s->v, cmp);
    size_t k = 1;
    for (size_t i = 1; i < s->n; i++)
        if (s->v[i] != s->v[k - 1]) s->v[k++] = s->v[i];
    return s->n = k;
}

/* The ingredients a curated target stands for: itself, or its class's members. */
static size_t members(const cds_kb *kb, uint32_t t, const uint32_t **out, uint32_t *one)
{
    if (t == CDS_KB_NONE) return 0;
    if (t & CDS_KB_CLASS) {
        const cds_kb_class *c = cds_kb_class_at(kb, t & ~CDS_KB_CLASS);
        if (!c) return 0;
        *out = c->members;
        return c->nmembers;
    }
    *one = t;
    *out = one;
    return 1;
}

/* "rules/interactions/tables/ddi_va_ndfrt.tsv" is a public pair table (ddi_policy.tsv is not) */
static int is_pair_table(const cds_source_file *f)
{
    const char *base = strrchr(f->path, '/');
    base = base ? base + 1 : f->path;
    return strncmp(base, "ddi_", 4) == 0 && strcmp(base, "ddi_policy.tsv") != 0;
}

/* The code at the start of s (after blanks), as an ingredient index. */
static uint32_t code_at(const cds_kb *kb, const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\t')) s++;
    char code[16];
    size_t n = 0;
    while (s < end && *s >= '0' && *s <= '9' && n + 1 < sizeof code) code[n++] = *s++;
    code[n] = '\0';
    return n ? cds_kb_ingredient_by_code(kb, code) : CDS_KB_NONE;
}

/* Rows of one public table into *rows, their pairs into both sets (header columns a, interacts_with). */
static void count_table(const cds_kb *kb, const cds_source_file *f, size_t *rows, pair_set *listed, pair_set *reach)
{
    int col_a = -1, col_with = -1;
    const char *p = f->src, *end = f->src + f->len, *start, *stop;
    uint32_t line = 0;
    while (cds_table_next_line(&p, end, &start, &stop, &line)) {
        const char *cell[16], *cell_end[16];
        int nc = 0;
        for (const char *c = start; nc < 16;) {
            const char *tab = memchr(c, '\t', (size_t)(stop - c));
            cell[nc] = c;
            cell_end[nc++] = tab ? tab : stop;
            if (!tab) break;
            c = tab + 1;
        }
        if (col_a < 0) {
            for (int i = 0; i < nc; i++) {
                size_t n = (size_t)(cell_end[i] - cell[i]);
                if (n == 1 && cell[i][0] == 'a') col_a = i;
                if (n == 14 && memcmp(cell[i], "interacts_with", 14) == 0) col_with = i;
            }
            if (col_a < 0 || col_with < 0) return;
        } else if (col_a < nc && col_with < nc) {
            (*rows)++;
            uint32_t a = code_at(kb, cell[col_a], cell_end[col_a]);
            for (const char *item = cell[col_with]; item < cell_end[col_with];) {
                const char *semi = memchr(item, ';', (size_t)(cell_end[col_with] - item));
                uint32_t b = code_at(kb, item, semi ? semi : cell_end[col_with]);
                add(listed, a, b);
                add(reach, a, b);
                item = semi ? semi + 1 : cell_end[col_with];
            }
        }
    }
}

int interaction_pairs_count(const cds_ruleset *rs, interaction_pairs *out)
{
    memset(out, 0, sizeof *out);
    pair_set listed = {0}, reach = {0};
    const cds_kb *kb = rs->kb;
    size_t n = kb ? cds_kb_ninteractions(kb) : 0;
    for (size_t i = 0; i < n; i++) {
        const cds_kb_interaction *x = cds_kb_interaction_at(kb, (uint32_t)i);
        out->curated_rows++;
        if (!(x->a & CDS_KB_CLASS) && !(x->b & CDS_KB_CLASS)) add(&listed, x->a, x->b);
        const uint32_t *ma = NULL, *mb = NULL;
        uint32_t one_a, one_b;
        size_t na = members(kb, x->a, &ma, &one_a), nb = members(kb, x->b, &mb, &one_b);
        for (size_t j = 0; j < na; j++)
            for (size_t k = 0; k < nb; k++) add(&reach, ma[j], mb[k]);
    }
    for (size_t t = 0; kb && t < rs->ntables; t++)
        if (is_pair_table(&rs->tables[t])) count_table(kb, &rs->tables[t], &out->public_rows, &listed, &reach);
    out->listed = distinct(&listed);
    out->reachable = distinct(&reach);
    int ok = !listed.oom && !reach.oom;
    free(listed.v);
    free(reach.v);
    return ok;
}
