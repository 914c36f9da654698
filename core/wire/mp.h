/* mp.h — safe MessagePack decoding and small accessors over msgpack_object.
 *
 * msgpack-c 4.0's C unpacker allocates count*24 bytes from a container header before reading
 * any element, and reports nesting beyond 32 as out-of-memory. cds_mp_decode therefore does not
 * call it: one pass over the bytes checks that every count and length fits in the bytes that
 * remain, caps nesting, requires string map keys (the protocol mirrors JSON) and rejects
 * trailing bytes, and builds the same msgpack_object tree as it goes (payloads point into the
 * input buffer, which must outlive the object). Packing still uses msgpack-c. */
#ifndef CDS_MP_H
#define CDS_MP_H

#include <msgpack.h>
#include <string.h>
#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "error.h"

#define CDS_MP_MAX_DEPTH 30   /* below msgpack-c's fixed unpack stack of 32, which other readers of our output may use */

/* Validates then unpacks `buf`. On success `out` holds the object (owned by out's zone;
 * release with msgpack_unpacked_destroy). Errors are CDS_EBADREQ with a path. */
cds_rc cds_mp_decode(const char *buf, size_t len, msgpack_unpacked *out, cds_error *err);

/* The same, unpacking into a caller-owned zone that is reused across requests (cleared by the
 * caller with msgpack_zone_clear): a worker allocates its zone once. `out` lives in the zone. */
cds_rc cds_mp_decode_zone(const char *buf, size_t len, msgpack_zone *zone, msgpack_object *out, cds_error *err);

/* Map lookup by string key; NULL when `map` is not a map or the key is absent. */
const msgpack_object *cds_mp_getn(const msgpack_object *map, const char *key, size_t keylen);
/* Inline so that the length of a literal key is folded at compile time (strlen per lookup was
 * a visible cost: the view looks up thousands of keys per request). */
static inline const msgpack_object *cds_mp_get(const msgpack_object *map, const char *key)
{
    return cds_mp_getn(map, key, strlen(key));
}
/* Like cds_mp_get, but treats a nil value as absent. */
static inline const msgpack_object *cds_mp_get_nn(const msgpack_object *map, const char *key)
{
    const msgpack_object *o = cds_mp_get(map, key);
    return o && o->type != MSGPACK_OBJECT_NIL ? o : NULL;
}
bool cds_mp_is_str(const msgpack_object *o);
bool cds_mp_str_eqn(const msgpack_object *o, const char *s, size_t n);
static inline bool cds_mp_str_eq(const msgpack_object *o, const char *s) { return cds_mp_str_eqn(o, s, strlen(s)); }
/* NUL-terminated copy of a str value in `a`; NULL if `o` is not a str. */
char *cds_mp_strdup(cds_arena *a, const msgpack_object *o);
/* Convenience: cds_mp_strdup(a, cds_mp_get(map, key)). */
static inline char *cds_mp_getstr(cds_arena *a, const msgpack_object *map, const char *key)
{
    return cds_mp_strdup(a, cds_mp_get(map, key));
}
/* Numeric value of an int or float object. */
bool cds_mp_number(const msgpack_object *o, double *out);

/* Packs a NUL-terminated string (or nil when s is NULL). */
void cds_mp_pack_str(msgpack_packer *pk, const char *s);
/* Packs the object verbatim (deep). */
int cds_mp_pack_object(msgpack_packer *pk, const msgpack_object *o);

#endif
