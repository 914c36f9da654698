/* pair_index.c — a C index of a pack's ingredient-pair tables (see pair_index.h).
 *
 * Each table row is one ingredient a and severity with the list of its partners
 * ("RXCUI name" or "RXCUI name (citation)"; "; " between items). The index numbers ingredients
 * by name (ctx.meds names a medication by its ingredient names), keys a pair by its two numbers
 * (smaller first) and keeps each pair's rows as one slice of a packed text, best rank first:
 * "rank\tsource\tseverity\tcitation\ta\ta_name\tb\tb_name" lines, "\n" between them. Everything
 * lives in malloc'd arrays owned by a userdata whose __gc frees them, so a load error (raised
 * with luaL_error part-way through) leaks nothing. */
#include "pair_index.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "strbuf.h"
#include "rule_tables.h"

#define MAX_TIERS 16
#define MAX_TABLES 16
static const char INDEX_MT[] = "cdsd.pair_index";

typedef struct tier {
    const char *source, *severity, *cite_prefix;
    int rank;
} tier;

typedef struct pair_slot {   /* key 0 = empty */
    uint64_t key;
    uint32_t table, line;    /* while loading: where the pair was last seen (conflicting rows) */
    int rank;                /* its severity's rank there; after packing: the pair's best rank */
    size_t off, len;         /* its rows in the packed text */
} pair_slot;

typedef struct pair_row {    /* one pair's one row while loading */
    uint64_t key;
    size_t off, len;         /* in the row text */
    const char *text;        /* set once the row text stops moving, for sorting */
} pair_row;

typedef struct pair_index {
    cds_strbuf names;        /* NUL-terminated ingredient names, one after another */
    size_t *name_off, nnames, name_cap;
    uint32_t *name_slots;    /* open addressing: name number + 1, 0 = empty */
    size_t name_mask;
    pair_slot *slots;
    size_t slot_mask, npairs;
    pair_row *rows;          /* freed once packed */
    size_t nrows, row_cap;
    cds_strbuf row_text;     /* freed once packed */
    cds_strbuf packed;
    char *line;              /* the file line being parsed, split in place */
    size_t line_cap;
} pair_index;

static void index_free(pair_index *x)
{
    cds_strbuf_free(&x->names);
    free(x->name_off);
    free(x->name_slots);
    free(x->slots);
    free(x->rows);
    cds_strbuf_free(&x->row_text);
    cds_strbuf_free(&x->packed);
    free(x->line);
    memset(x, 0, sizeof *x);
}

static int index_gc(lua_State *L)
{
    index_free(luaL_checkudata(L, 1, INDEX_MT));
    return 0;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static uint64_t hash_key(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

static void oom(lua_State *L)
{
    luaL_error(L, "out of memory building the pair index");
}

/* The number of name s[0..n), or -1 when it has none. */
static long name_find(const pair_index *x, const char *s, size_t n)
{
    if (!x->name_slots) return -1;
    for (size_t i = hash_bytes(s, n) & x->name_mask;; i = (i + 1) & x->name_mask) {
        uint32_t v = x->name_slots[i];
        if (!v) return -1;
        const char *name = x->names.data + x->name_off[v - 1];
        if (strncmp(name, s, n) == 0 && name[n] == '\0') return (long)(v - 1);
    }
}

static void name_rehash(lua_State *L, pair_index *x, size_t cap)
{
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots) oom(L);
    for (size_t id = 0; id < x->nnames; id++) {
        const char *name = x->names.data + x->name_off[id];
        size_t i = hash_bytes(name, strlen(name)) & (cap - 1);
        while (slots[i]) i = (i + 1) & (cap - 1);
        slots[i] = (uint32_t)id + 1;
    }
    free(x->name_slots);
    x->name_slots = slots;
    x->name_mask = cap - 1;
}

static uint32_t name_intern(lua_State *L, pair_index *x, const char *s)
{
    size_t n = strlen(s);
    long id = name_find(x, s, n);
    if (id >= 0) return (uint32_t)id;
    if (!cds_grow(&x->name_off, &x->name_cap, x->nnames + 1, sizeof *x->name_off)) oom(L);
    x->name_off[x->nnames++] = x->names.len;
    cds_strbuf_append(&x->names, s, n + 1);
    if (x->names.oom) oom(L);
    if (!x->name_slots || x->nnames * 2 > x->name_mask + 1)
        name_rehash(L, x, x->name_slots ? (x->name_mask + 1) * 2 : 256);
    else {
        size_t i = hash_bytes(s, n) & x->name_mask;
        while (x->name_slots[i]) i = (i + 1) & x->name_mask;
        x->name_slots[i] = (uint32_t)x->nnames;
    }
    return (uint32_t)(x->nnames - 1);
}

static pair_slot *slot_find(const pair_index *x, uint64_t key)
{
    if (!x->slots) return NULL;
    for (size_t i = hash_key(key) & x->slot_mask;; i = (i + 1) & x->slot_mask) {
        if (x->slots[i].key == key) return &x->slots[i];
        if (!x->slots[i].key) return NULL;
    }
}

static pair_slot *slot_add(lua_State *L, pair_index *x, uint64_t key)
{
    if (!x->slots || (x->npairs + 1) * 2 > x->slot_mask + 1) {
        size_t cap = x->slots ? (x->slot_mask + 1) * 2 : 1024;
        pair_slot *slots = calloc(cap, sizeof *slots);
        if (!slots) oom(L);
        for (size_t j = 0; x->slots && j <= x->slot_mask; j++) {
            if (!x->slots[j].key) continue;
            size_t i = hash_key(x->slots[j].key) & (cap - 1);
            while (slots[i].key) i = (i + 1) & (cap - 1);
            slots[i] = x->slots[j];
        }
        free(x->slots);
        x->slots = slots;
        x->slot_mask = cap - 1;
    }
    size_t i = hash_key(key) & x->slot_mask;
    while (x->slots[i].key) i = (i + 1) & x->slot_mask;
    x->slots[i].key = key;
    x->npairs++;
    return &x->slots[i];
}

static uint64_t pair_key(uint32_t a, uint32_t b)
{
    uint32_t lo = a < b ? a : b, hi = a < b ? b : a;
    return ((uint64_t)lo + 1) << 32 | ((uint64_t)hi + 1);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) e--;
    *e = '\0';
    return s;
}

static bool all_digits(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

/* One list item "RXCUI name" or "RXCUI name (citation)": false when it is neither. */
static bool parse_item(char *item, char **code, char **name, char **cite)
{
    char *p = item;
    while (*p == ' ' || *p == '\t') p++;
    *code = p;
    while (*p >= '0' && *p <= '9') p++;
    if (p == *code || (*p != ' ' && *p != '\t')) return false;
    *p++ = '\0';
    char *rest = trim(p);
    *cite = NULL;
    size_t n = strlen(rest);
    char *open = strchr(rest, '(');
    if (n > 0 && rest[n - 1] == ')' && open && !strchr(open + 1, '(') && strchr(open + 1, ')') == rest + n - 1) {
        rest[n - 1] = '\0';
        *open = '\0';
        *cite = open + 1;
        rest = trim(rest);
    }
    *name = rest;
    return *rest != '\0';
}

typedef struct spec {
    tier tiers[MAX_TIERS];
    int ntiers;
    int check;         /* stack index of the caller's check_ingredient(code, name), or 0 */
    int seen;          /* stack index of a set of "code\tname" already checked */
} spec;

static const tier *tier_of(const spec *sp, const char *source, const char *severity, bool *source_known)
{
    *source_known = false;
    for (int i = 0; i < sp->ntiers; i++) {
        if (strcmp(sp->tiers[i].source, source) != 0) continue;
        *source_known = true;
        if (strcmp(sp->tiers[i].severity, severity) == 0) return &sp->tiers[i];
    }
    return NULL;
}

/* "a, b, c": the sources (first) or one source's severities, in the spec's order */
static void push_choices(lua_State *L, const spec *sp, const char *source)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int n = 0;
    for (int i = 0; i < sp->ntiers; i++) {
        const char *v = source ? sp->tiers[i].severity : sp->tiers[i].source;
        if (source && strcmp(sp->tiers[i].source, source) != 0) continue;
        bool dup = false;
        for (int j = 0; j < i && !source; j++) dup |= strcmp(sp->tiers[j].source, v) == 0;
        if (dup) continue;
        if (n++) luaL_addstring(&b, ", ");
        luaL_addstring(&b, v);
    }
    luaL_pushresult(&b);
}

/* The caller's vocabulary check of (code, name), the first time the pair is seen: a problem is
 * raised at the row's file:line, after `where` (the column, and the list item). */
static void check_ingredient(lua_State *L, const spec *sp, const char *code, const char *name, const char *path,
                             uint32_t line, const char *where)
{
    if (!sp->check) return;
    lua_pushfstring(L, "%s\t%s", code, name);
    if (lua_rawget(L, sp->seen) != LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    lua_pushvalue(L, sp->check);
    lua_pushstring(L, code);
    lua_pushstring(L, name);
    lua_call(L, 2, 1);
    if (lua_isstring(L, -1)) luaL_error(L, "%s:%d: %s: %s", path, (int)line, where, lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_pushfstring(L, "%s\t%s", code, name);
    lua_pushboolean(L, 1);
    lua_rawset(L, sp->seen);
}

enum { COL_A, COL_A_NAME, COL_SEVERITY, COL_SOURCE, COL_CITATION, COL_WITH, NCOLS };
static const char *const COLUMNS[NCOLS] = {"a", "a_name", "severity", "source", "citation", "interacts_with"};

static void add_row(lua_State *L, pair_index *x, uint64_t key, const tier *t, const char *cite,
                    const char *a, const char *a_name, const char *b, const char *b_name)
{
    if (!cds_grow(&x->rows, &x->row_cap, x->nrows + 1, sizeof *x->rows)) oom(L);
    size_t off = x->row_text.len;
    cds_strbuf_printf(&x->row_text, "%d\t%s\t%s\t%s%s\t%s\t%s\t%s\t%s", t->rank, t->source, t->severity,
                      t->cite_prefix, cite, a, a_name, b, b_name);
    if (x->row_text.oom) oom(L);
    x->rows[x->nrows++] = (pair_row){key, off, x->row_text.len - off, NULL};
}

static void load_row(lua_State *L, pair_index *x, const spec *sp, const char *path, uint32_t table, uint32_t line,
                     char **cell, int ncells, const int *col_of)
{
    char *v[NCOLS];
    for (int c = 0; c < NCOLS; c++) {
        v[c] = col_of[c] < ncells ? cell[col_of[c]] : (char *)"";
        if (!*v[c]) luaL_error(L, "%s:%d: column '%s' is empty (required)", path, (int)line, COLUMNS[c]);
    }
    bool known;
    const tier *t = tier_of(sp, v[COL_SOURCE], v[COL_SEVERITY], &known);
    if (!known) {
        push_choices(L, sp, NULL);
        luaL_error(L, "%s:%d: column 'source': '%s' must be one of %s", path, (int)line, v[COL_SOURCE],
                   lua_tostring(L, -1));
    }
    if (!t) {
        push_choices(L, sp, v[COL_SOURCE]);
        luaL_error(L, "%s:%d: column 'severity': '%s' is not a severity of %s (use %s)", path, (int)line,
                   v[COL_SEVERITY], v[COL_SOURCE], lua_tostring(L, -1));
    }
    if (!all_digits(v[COL_A])) luaL_error(L, "%s:%d: column 'a': '%s' is not an RxNorm code", path, (int)line, v[COL_A]);
    check_ingredient(L, sp, v[COL_A], v[COL_A_NAME], path, line, "column 'a'");
    uint32_t ia = name_intern(L, x, v[COL_A_NAME]);
    int n = 0;
    for (char *item = v[COL_WITH], *next; item; item = next) {
        next = strchr(item, ';');
        if (next) *next++ = '\0';
        if (!*item) continue;
        n++;
        char raw[256];
        snprintf(raw, sizeof raw, "%s", item);
        char *b = NULL, *b_name = NULL, *cite = NULL;
        if (!parse_item(item, &b, &b_name, &cite))
            luaL_error(L, "%s:%d: column 'interacts_with': item %d '%s' is not 'RXCUI name' or 'RXCUI name (citation)'",
                       path, (int)line, n, raw);
        if (strcmp(b, v[COL_A]) == 0)
            luaL_error(L, "%s:%d: column 'interacts_with': item %d: a pair of %s (%s) with itself", path, (int)line, n,
                       b, b_name);
        char where[64];
        snprintf(where, sizeof where, "column 'interacts_with': item %d: interacts_with", n);
        check_ingredient(L, sp, b, b_name, path, line, where);
        uint64_t key = pair_key(ia, name_intern(L, x, b_name));
        pair_slot *s = slot_find(x, key);
        if (s && s->table == table) {
            const char *other = NULL;
            for (int i = 0; i < sp->ntiers; i++)
                if (sp->tiers[i].rank == s->rank && strcmp(sp->tiers[i].source, t->source) == 0)
                    other = sp->tiers[i].severity;
            if (other && strcmp(other, t->severity) != 0)
                luaL_error(L, "%s:%d: column 'interacts_with': item %d: pair %s+%s is already on line %d with severity %s "
                           "(conflicting rows)", path, (int)line, n, v[COL_A], b, (int)s->line, other);
            luaL_error(L, "%s:%d: column 'interacts_with': item %d: pair %s+%s is already on line %d (one row per pair)",
                       path, (int)line, n, v[COL_A], b, (int)s->line);
        }
        if (!s) s = slot_add(L, x, key);
        s->table = table;
        s->line = line;
        s->rank = t->rank;
        add_row(L, x, key, t, cite ? cite : v[COL_CITATION], v[COL_A], v[COL_A_NAME], b, b_name);
    }
    if (n == 0) luaL_error(L, "%s:%d: column 'interacts_with': no ingredient listed", path, (int)line);
}

/* Splits x->line (NUL-terminated) at tabs into at most max cells, each trimmed. */
static int split_cells(char *line, char **cell, int max)
{
    int n = 0;
    for (char *p = line, *tab; p; p = tab) {
        tab = strchr(p, '\t');
        if (tab) *tab++ = '\0';
        if (n == max) return max + 1;
        cell[n++] = trim(p);
    }
    return n;
}

static void load_table(lua_State *L, pair_index *x, const spec *sp, const cds_source_file *f, uint32_t table)
{
    int col_of[NCOLS];
    bool header = false;
    uint32_t line = 0;
    const char *p = f->src, *end = f->src + f->len, *start, *stop;
    while (cds_table_next_line(&p, end, &start, &stop, &line)) {
        size_t n = (size_t)(stop - start);
        if (!cds_grow(&x->line, &x->line_cap, n + 1, 1)) oom(L);
        memcpy(x->line, start, n);
        x->line[n] = '\0';
        char *cell[NCOLS + 1];
        int ncells = split_cells(x->line, cell, NCOLS);
        if (!header) {
            for (int c = 0; c < NCOLS; c++) col_of[c] = -1;
            if (ncells > NCOLS) ncells = NCOLS;
            for (int i = 0; i < ncells; i++) {
                int c = 0;
                while (c < NCOLS && strcmp(cell[i], COLUMNS[c]) != 0) c++;
                if (c == NCOLS)
                    luaL_error(L, "%s:%d: unknown column '%s' (columns: a, a_name, citation, interacts_with, "
                               "severity, source)", f->path, (int)line, cell[i]);
                col_of[c] = i;
            }
            for (int c = 0; c < NCOLS; c++)
                if (col_of[c] < 0)
                    luaL_error(L, "%s:%d: the required column '%s' is missing", f->path, (int)line, COLUMNS[c]);
            header = true;
        } else {
            if (ncells > NCOLS)
                luaL_error(L, "%s:%d: a value in column %d but the header names %d columns", f->path, (int)line,
                           NCOLS + 1, NCOLS);
            load_row(L, x, sp, f->path, table, line, cell, ncells, col_of);
        }
    }
    if (!header) luaL_error(L, "%s:1: no header line", f->path);
}

static int row_cmp(const void *pa, const void *pb)
{
    const pair_row *a = pa, *b = pb;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->text, b->text, n);
    if (c) return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

/* Sorts the rows by pair, best rank first (each line starts with its rank), and packs each pair's
 * rows into one slice of x->packed. */
static void pack(lua_State *L, pair_index *x)
{
    for (size_t i = 0; i < x->nrows; i++) x->rows[i].text = x->row_text.data + x->rows[i].off;
    if (x->nrows) qsort(x->rows, x->nrows, sizeof *x->rows, row_cmp);
    for (size_t i = 0; i < x->nrows;) {
        pair_slot *s = slot_find(x, x->rows[i].key);
        s->off = x->packed.len;
        s->rank = atoi(x->rows[i].text);
        size_t j = i;
        for (; j < x->nrows && x->rows[j].key == x->rows[i].key; j++) {
            if (j > i) cds_strbuf_putc(&x->packed, '\n');
            cds_strbuf_append(&x->packed, x->rows[j].text, x->rows[j].len);
        }
        s->len = x->packed.len - s->off;
        i = j;
    }
    if (x->packed.oom) oom(L);
    free(x->rows);
    x->rows = NULL;
    x->nrows = x->row_cap = 0;
    cds_strbuf_free(&x->row_text);
    free(x->line);
    x->line = NULL;
    x->line_cap = 0;
}

static void read_spec(lua_State *L, spec *sp)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    memset(sp, 0, sizeof *sp);
    lua_getfield(L, 1, "tiers");
    luaL_checktype(L, -1, LUA_TTABLE);
    int tiers = lua_gettop(L);
    lua_getfield(L, 1, "cite_prefix");
    int prefixes = lua_gettop(L);
    for (lua_Integer i = 1; lua_rawgeti(L, tiers, i) == LUA_TTABLE; i++) {
        if (sp->ntiers == MAX_TIERS) luaL_error(L, "pair_index: more than %d tiers", MAX_TIERS);
        tier *t = &sp->tiers[sp->ntiers++];
        lua_getfield(L, -1, "source");
        t->source = luaL_checkstring(L, -1);
        lua_getfield(L, -2, "severity");
        t->severity = luaL_checkstring(L, -1);
        lua_getfield(L, -3, "rank");
        t->rank = (int)luaL_checkinteger(L, -1);
        t->cite_prefix = "";
        if (lua_istable(L, prefixes)) {
            lua_getfield(L, prefixes, t->source);
            if (lua_isstring(L, -1)) t->cite_prefix = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
        lua_pop(L, 3);   /* the strings stay alive: the tiers table holds them */
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* __pair_index{ tables = {NAME...}, tiers = {{source =, severity =, rank =}...}, cite_prefix = {[source] = text},
 *                check_ingredient = function(code, name) -> problem | nil }
 *   -> index. Raises "file:line: ..." for the first bad row. */
int cds_pair_index_build(lua_State *L)
{
    spec sp;
    read_spec(L, &sp);   /* leaves tiers and cite_prefix at 2, 3 (their strings stay referenced) */
    pair_index *x = lua_newuserdatauv(L, sizeof *x, 0);
    memset(x, 0, sizeof *x);
    cds_strbuf_init(&x->names);
    cds_strbuf_init(&x->row_text);
    cds_strbuf_init(&x->packed);
    if (luaL_newmetatable(L, INDEX_MT)) {
        lua_pushcfunction(L, index_gc);
        lua_setfield(L, -2, "__gc");
        lua_newtable(L);
        lua_pushcfunction(L, cds_pair_index_lookup);
        lua_setfield(L, -2, "lookup");
        lua_pushcfunction(L, cds_pair_index_among);
        lua_setfield(L, -2, "among");
        lua_pushcfunction(L, cds_pair_index_count);
        lua_setfield(L, -2, "count");
        lua_setfield(L, -2, "__index");
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
    }
    lua_setmetatable(L, -2);
    int idx = lua_gettop(L);
    if (lua_getfield(L, 1, "check_ingredient") == LUA_TFUNCTION) sp.check = lua_gettop(L);
    lua_newtable(L);
    sp.seen = lua_gettop(L);
    lua_getfield(L, 1, "tables");
    luaL_checktype(L, -1, LUA_TTABLE);
    int tables = lua_gettop(L);
    for (lua_Integer i = 1; lua_rawgeti(L, tables, i) == LUA_TSTRING; i++) {
        const char *name = lua_tostring(L, -1);
        const cds_source_file *f = cds_rule_table_find(L, name);
        if (!f) luaL_error(L, "no table '%s' (a file tables/%s.tsv in a pack)", name, name);
        if (i > MAX_TABLES) luaL_error(L, "pair_index: more than %d tables", MAX_TABLES);
        load_table(L, x, &sp, f, (uint32_t)i);
        lua_pop(L, 1);
    }
    pack(L, x);
    lua_pushvalue(L, idx);
    return 1;
}

/* index:lookup(a_name, b_name) -> rank, rows (best first) | nil */
int cds_pair_index_lookup(lua_State *L)
{
    const pair_index *x = luaL_checkudata(L, 1, INDEX_MT);
    size_t na, nb;
    const char *a = luaL_checklstring(L, 2, &na), *b = luaL_checklstring(L, 3, &nb);
    long ia = name_find(x, a, na), ib = ia < 0 ? -1 : name_find(x, b, nb);
    const pair_slot *s = ib < 0 ? NULL : slot_find(x, pair_key((uint32_t)ia, (uint32_t)ib));
    if (!s) return 0;
    lua_pushinteger(L, s->rank);
    lua_pushlstring(L, x->packed.data + s->off, s->len);
    return 2;
}

#define MAX_PARTS 8

/* The numbers of a medication's listed ingredients: its whole name, else each part of "a / b". */
static int med_ids(const pair_index *x, const char *name, size_t len, uint32_t *ids)
{
    long id = name_find(x, name, len);
    if (id >= 0) {
        ids[0] = (uint32_t)id;
        return 1;
    }
    int n = 0;
    for (const char *p = name, *end = name + len; p < end && n < MAX_PARTS;) {
        const char *sep = p;
        while (sep + 3 <= end && memcmp(sep, " / ", 3) != 0) sep++;
        if (sep + 3 > end) sep = end;
        id = name_find(x, p, (size_t)(sep - p));
        if (id >= 0) ids[n++] = (uint32_t)id;
        p = sep == end ? end : sep + 3;
    }
    return n;
}

/* index:among(names, screened, order_hook) -> {{i, j, rank, rows, first}...} | nil: for each pair of
 * medications i < j screened at the hook (order hooks: either is a selected draft, screened[k]
 * true; patient-view: both active), the best pair of their listed ingredients (lowest rank; first
 * is medication i's ingredient name in it). One call per request: the pairs are looked up in C. */
int cds_pair_index_among(lua_State *L)
{
    const pair_index *x = luaL_checkudata(L, 1, INDEX_MT);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    bool order_hook = lua_toboolean(L, 4);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
    if (n < 2) return 0;
    if (n > (1 << 20)) return luaL_error(L, "among: too many medications");
    uint32_t *ids = lua_newuserdatauv(L, (size_t)n * (MAX_PARTS * sizeof(uint32_t) + 2), 0);
    unsigned char *nids = (unsigned char *)(ids + (size_t)n * MAX_PARTS), *screened = nids + n;
    for (lua_Integer i = 0; i < n; i++) {
        size_t len = 0;
        lua_rawgeti(L, 2, i + 1);
        const char *name = lua_tolstring(L, -1, &len);
        nids[i] = name ? (unsigned char)med_ids(x, name, len, ids + i * MAX_PARTS) : 0;
        lua_pop(L, 1);
        lua_rawgeti(L, 3, i + 1);
        screened[i] = (unsigned char)lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    int hits = 0;
    for (lua_Integer i = 0; i < n; i++) {
        for (lua_Integer j = i + 1; j < n && nids[i]; j++) {
            if (!nids[j] || !(order_hook ? (screened[i] || screened[j]) : (screened[i] && screened[j]))) continue;
            const pair_slot *best = NULL;
            uint32_t first = 0;
            for (int a = 0; a < nids[i]; a++)
                for (int b = 0; b < nids[j]; b++) {
                    const pair_slot *s = slot_find(x, pair_key(ids[i * MAX_PARTS + a], ids[j * MAX_PARTS + b]));
                    if (s && (!best || s->rank < best->rank)) best = s, first = ids[i * MAX_PARTS + a];
                }
            if (!best) continue;
            if (!hits) lua_newtable(L);
            lua_createtable(L, 5, 0);
            lua_pushinteger(L, i + 1);
            lua_rawseti(L, -2, 1);
            lua_pushinteger(L, j + 1);
            lua_rawseti(L, -2, 2);
            lua_pushinteger(L, best->rank);
            lua_rawseti(L, -2, 3);
            lua_pushlstring(L, x->packed.data + best->off, best->len);
            lua_rawseti(L, -2, 4);
            lua_pushstring(L, x->names.data + x->name_off[first]);
            lua_rawseti(L, -2, 5);
            lua_rawseti(L, -2, ++hits);
        }
    }
    return hits ? 1 : 0;
}

/* index:count() -> pairs, ingredients */
int cds_pair_index_count(lua_State *L)
{
    const pair_index *x = luaL_checkudata(L, 1, INDEX_MT);
    lua_pushinteger(L, (lua_Integer)x->npairs);
    lua_pushinteger(L, (lua_Integer)x->nnames);
    return 2;
}
