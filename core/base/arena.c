/* arena.c — bump allocator over a list of chunks. */
#include "arena.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_MIN (64u * 1024u)

struct cds_arena_chunk {
    cds_arena_chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

void cds_arena_init(cds_arena *a) { a->head = NULL; a->used_total = 0; a->failed = false; }

void *cds_arena_alloc(cds_arena *a, size_t n)
{
    n = (n + 15u) & ~(size_t)15u;
    if (n == 0) n = 16;
    cds_arena_chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t sz = n > CHUNK_MIN ? n : CHUNK_MIN;
        if (c && c->size * 2 > sz && c->size < (1u << 20)) sz = c->size * 2;
        c = malloc(sizeof *c + sz);
        if (!c) {
            a->failed = true;
            return NULL;
        }
        c->size = sz;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    a->used_total += n;
    memset(p, 0, n);
    return p;
}

void *cds_arena_grow(cds_arena *a, void *ptr, uint32_t n, uint32_t *cap, size_t size)
{
    if (n < *cap) return ptr;
    uint32_t ncap = *cap ? *cap * 2 : 8;
    void *p = cds_arena_alloc(a, (size_t)ncap * size);
    if (!p) return NULL;
    if (ptr && n) memcpy(p, ptr, (size_t)n * size);
    *cap = ncap;
    return p;
}

char *cds_arena_strndup(cds_arena *a, const char *s, size_t n)
{
    char *p = cds_arena_alloc(a, n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *cds_arena_strdup(cds_arena *a, const char *s) { return cds_arena_strndup(a, s, strlen(s)); }

char *cds_arena_join(cds_arena *a, const char *x, const char *sep, const char *y)
{
    size_t nx = strlen(x), ns = strlen(sep), ny = strlen(y);
    char *p = cds_arena_alloc(a, nx + ns + ny + 1);
    if (!p) return NULL;
    memcpy(p, x, nx);
    memcpy(p + nx, sep, ns);
    memcpy(p + nx + ns, y, ny + 1);
    return p;
}

char *cds_arena_printf(cds_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *p = cds_arena_alloc(a, (size_t)n + 1);
    if (!p) return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void cds_arena_reset(cds_arena *a)
{
    a->failed = false;
    cds_arena_chunk *c = a->head;
    if (!c) return;
    while (c->next) {
        cds_arena_chunk *n = c->next;
        c->next = n->next;
        free(n);
    }
    c->used = 0;
    a->used_total = 0;
}

void cds_arena_free(cds_arena *a)
{
    cds_arena_chunk *c = a->head;
    while (c) {
        cds_arena_chunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
    a->used_total = 0;
    a->failed = false;
}
