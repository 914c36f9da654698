/* arena.h — per-request bump allocator: many small allocations, one free.
 * Everything allocated from an arena lives until cds_arena_reset/cds_arena_free. */
#ifndef CDS_ARENA_H
#define CDS_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cds_arena_chunk cds_arena_chunk;
typedef struct cds_arena {
    cds_arena_chunk *head;
    size_t used_total;
    bool failed;              /* an allocation failed since init/reset: whatever was being built
                                 is incomplete (checked by the view and the engine) */
} cds_arena;

void cds_arena_init(cds_arena *a);
/* Returns NULL only when malloc fails (and sets a->failed). Memory is 16-byte aligned and zeroed. */
void *cds_arena_alloc(cds_arena *a, size_t n);
char *cds_arena_strndup(cds_arena *a, const char *s, size_t n);
char *cds_arena_strdup(cds_arena *a, const char *s);
/* x sep y, without printf (built for every medication and order of every request) */
char *cds_arena_join(cds_arena *a, const char *x, const char *sep, const char *y);
char *cds_arena_printf(cds_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An array in the arena with room for element n: ptr itself while n < *cap, else a copy with
 * twice the room (*cap updated). NULL when out of memory (a->failed is set). */
void *cds_arena_grow(cds_arena *a, void *ptr, uint32_t n, uint32_t *cap, size_t size);
/* Frees all but the first chunk, keeping it for reuse by the next request. */
void cds_arena_reset(cds_arena *a);
void cds_arena_free(cds_arena *a);

#endif
