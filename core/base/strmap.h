/* strmap.h — open-addressing hash map from borrowed strings to 32-bit values.
 * Keys are not copied: they must outlive the map (the knowledge base keeps them in its arena).
 * Built once, then read concurrently by many threads without locks (no lookup mutates). */
#ifndef CDS_STRMAP_H
#define CDS_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cds_strmap_slot { const char *key; uint32_t klen, hash, value; } cds_strmap_slot;

typedef struct cds_strmap {
    cds_strmap_slot *slots;
    size_t cap, count;   /* cap is a power of two */
} cds_strmap;

void cds_strmap_init(cds_strmap *m);
void cds_strmap_free(cds_strmap *m);
/* Insert or replace. Returns false on allocation failure. */
bool cds_strmap_put(cds_strmap *m, const char *key, size_t klen, uint32_t value);
/* Returns true and sets *value when found. */
bool cds_strmap_get(const cds_strmap *m, const char *key, size_t klen, uint32_t *value);
uint32_t cds_hash(const char *s, size_t n);

#endif
