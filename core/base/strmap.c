/* strmap.c — linear-probing hash map (FNV-1a), load factor <= 1/2. */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

uint32_t cds_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h ? h : 1;
}

void cds_strmap_init(cds_strmap *m) { memset(m, 0, sizeof *m); }
void cds_strmap_free(cds_strmap *m) { free(m->slots); memset(m, 0, sizeof *m); }

static bool rehash(cds_strmap *m, size_t cap)
{
    cds_strmap_slot *s = calloc(cap, sizeof *s);
    if (!s) return false;
    for (size_t i = 0; i < m->cap; i++) {
        cds_strmap_slot *o = &m->slots[i];
        if (!o->key) continue;
        size_t j = o->hash & (cap - 1);
        while (s[j].key) j = (j + 1) & (cap - 1);
        s[j] = *o;
    }
    free(m->slots);
    m->slots = s;
    m->cap = cap;
    return true;
}

bool cds_strmap_put(cds_strmap *m, const char *key, size_t klen, uint32_t value)
{
    if ((m->count + 1) * 2 > m->cap && !rehash(m, m->cap ? m->cap * 2 : 64)) return false;
    uint32_t h = cds_hash(key, klen);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].key) {
        cds_strmap_slot *s = &m->slots[j];
        if (s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0) {
            s->value = value;
            return true;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->slots[j] = (cds_strmap_slot){key, (uint32_t)klen, h, value};
    m->count++;
    return true;
}

bool cds_strmap_get(const cds_strmap *m, const char *key, size_t klen, uint32_t *value)
{
    if (!m->cap) return false;
    uint32_t h = cds_hash(key, klen);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].key) {
        const cds_strmap_slot *s = &m->slots[j];
        if (s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0) {
            if (value) *value = s->value;
            return true;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return false;
}
