/* json_lines.c — a position index of a JSON text: path, line and byte span of every value. */
#include "json_lines.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct scanner {
    const char *s;
    size_t len, i;
    int line;
    char path[2048];
    size_t plen;
    int depth;
    cds_json_lines *out;
} scanner;

static void ws(scanner *sc)
{
    while (sc->i < sc->len) {
        char c = sc->s[sc->i];
        if (c == '\n') sc->line++;
        else if (c != ' ' && c != '\t' && c != '\r') return;
        sc->i++;
    }
}

static bool string(scanner *sc)
{
    if (sc->i >= sc->len || sc->s[sc->i] != '"') return false;
    for (sc->i++; sc->i < sc->len; sc->i++) {
        char c = sc->s[sc->i];
        if (c == '\\') sc->i++;
        else if (c == '"') { sc->i++; return true; }
        else if (c == '\n') return false;
    }
    return false;
}

static cds_json_pos *record(scanner *sc, int line, size_t key_start)
{
    cds_json_lines *o = sc->out;
    if (o->n == o->cap) {
        size_t cap = o->cap * 2 + 32;
        cds_json_pos *p = realloc(o->pos, cap * sizeof *p);
        if (!p) return NULL;
        o->pos = p;
        o->cap = cap;
    }
    char *path = strndup(sc->path, sc->plen);
    if (!path) return NULL;
    cds_json_pos *p = &o->pos[o->n++];
    *p = (cds_json_pos){.path = path, .line = line, .key_start = key_start, .start = sc->i, .end = sc->i};
    return p;
}

static bool value(scanner *sc, int line, size_t key_start);

static bool push(scanner *sc, const char *text, size_t n)
{
    if (sc->plen + n >= sizeof sc->path) return false;
    memcpy(sc->path + sc->plen, text, n);
    sc->plen += n;
    return true;
}

static bool object(scanner *sc)
{
    sc->i++;   /* '{' */
    ws(sc);
    if (sc->i < sc->len && sc->s[sc->i] == '}') { sc->i++; return true; }
    for (;;) {
        ws(sc);
        size_t ks = sc->i;
        int kline = sc->line;
        if (!string(sc)) return false;
        size_t saved = sc->plen;
        if ((sc->plen && !push(sc, ".", 1)) || !push(sc, sc->s + ks + 1, sc->i - ks - 2)) return false;
        ws(sc);
        if (sc->i >= sc->len || sc->s[sc->i] != ':') return false;
        sc->i++;
        ws(sc);
        if (!value(sc, kline, ks)) return false;
        sc->plen = saved;
        ws(sc);
        if (sc->i >= sc->len) return false;
        if (sc->s[sc->i] == '}') { sc->i++; return true; }
        if (sc->s[sc->i++] != ',') return false;
    }
}

static bool array(scanner *sc)
{
    sc->i++;   /* '[' */
    ws(sc);
    if (sc->i < sc->len && sc->s[sc->i] == ']') { sc->i++; return true; }
    for (int k = 0;; k++) {
        ws(sc);
        size_t saved = sc->plen;
        char idx[24];
        int w = snprintf(idx, sizeof idx, "[%d]", k);
        if (!push(sc, idx, (size_t)w)) return false;
        if (!value(sc, sc->line, sc->i)) return false;
        sc->plen = saved;
        ws(sc);
        if (sc->i >= sc->len) return false;
        if (sc->s[sc->i] == ']') { sc->i++; return true; }
        if (sc->s[sc->i++] != ',') return false;
    }
}

static bool value(scanner *sc, int line, size_t key_start)
{
    if (sc->i >= sc->len || ++sc->depth > 512) return false;
    cds_json_pos *p = record(sc, line, key_start);
    if (!p) return false;
    size_t idx = (size_t)(p - sc->out->pos);
    bool ok;
    char c = sc->s[sc->i];
    if (c == '{') ok = object(sc);
    else if (c == '[') ok = array(sc);
    else if (c == '"') ok = string(sc);
    else {   /* number, true, false, null */
        size_t b = sc->i;
        while (sc->i < sc->len && !strchr(",]} \t\r\n", sc->s[sc->i])) sc->i++;
        ok = sc->i > b;
    }
    sc->out->pos[idx].end = sc->i;   /* the array may have moved */
    sc->depth--;
    return ok;
}

bool cds_json_lines_scan(const char *text, size_t len, cds_json_lines *out)
{
    memset(out, 0, sizeof *out);
    scanner sc = {.s = text, .len = len, .line = 1, .out = out};
    ws(&sc);
    if (!value(&sc, sc.line, sc.i)) return false;
    ws(&sc);
    return sc.i == len;
}

const cds_json_pos *cds_json_lines_find(const cds_json_lines *jl, const char *path)
{
    for (size_t i = 0; i < jl->n; i++)
        if (strcmp(jl->pos[i].path, path) == 0) return &jl->pos[i];
    return NULL;
}

int cds_json_lines_line(const cds_json_lines *jl, const char *path)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", path);
    for (;;) {
        const cds_json_pos *p = cds_json_lines_find(jl, buf);
        if (p) return p->line;
        char *dot = strrchr(buf, '.'), *br = strrchr(buf, '[');
        char *cut = dot > br ? dot : br;
        if (!cut) return 1;
        *cut = '\0';
    }
}

void cds_json_lines_free(cds_json_lines *jl)
{
    for (size_t i = 0; i < jl->n; i++) free(jl->pos[i].path);
    free(jl->pos);
    memset(jl, 0, sizeof *jl);
}
