/* mp.c — bounded MessagePack pre-check, unpacking, and accessors. */
#include "mp.h"

#include <stdio.h>
#include <string.h>

#include "utf8.h"

/* One pass over the bytes both validates and builds the msgpack_object tree (when a zone is
 * given). msgpack-c 4.0's unpacker allocates count*24 bytes from a container header before
 * reading any element; here a count must first fit in the bytes that remain (each element takes
 * at least one byte, each map pair two), so allocation is bounded by the message size. Strings,
 * bin and ext payloads point into the input buffer, as msgpack_unpack_next's do.
 *
 * The walker records where it is as a stack of frames and formats a path only on error, so
 * decoding a valid message costs no string work. */
typedef struct frame { const unsigned char *key; uint32_t klen; uint64_t index; bool is_map; } frame;

typedef struct walker {
    const unsigned char *p, *end;
    int max_depth, depth;
    msgpack_zone *zone;
    frame stack[CDS_MP_MAX_DEPTH + 2];
    cds_error *err;
} walker;

static void path_of(const walker *w, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < w->depth && o + 1 < cap; i++) {
        const frame *f = &w->stack[i];
        int n;
        if (f->is_map) {
            if (!f->key) break;
            int show = f->klen > 60 ? 60 : (int)f->klen;
            n = snprintf(out + o, cap - o, "%s%.*s", o ? "." : "", show, (const char *)f->key);
        } else {
            n = snprintf(out + o, cap - o, "[%llu]", (unsigned long long)f->index);
        }
        if (n < 0) break;
        o += (size_t)n;
        if (o >= cap) { out[cap - 1] = '\0'; break; }
    }
    if (!out[0]) snprintf(out, cap, "$");
}

static cds_rc fail(walker *w, const char *fmt, const char *detail)
{
    char msg[200], path[256];
    snprintf(msg, sizeof msg, fmt, detail);
    path_of(w, path, sizeof path);
    return cds_error_set(w->err, CDS_EBADREQ, path, "%s", msg);
}

/* What is wrong with the n string bytes at p (inside a buffer ending at end): a NUL byte (cut
 * short where it becomes a C string: two patient ids, or a drug code and that code with junk
 * after it, collapsing into one; FHIR strings may not hold one), or malformed UTF-8 (it would
 * reach the JSON the HTTP gateway writes); NULL when fine. Eight bytes at a time, both at once,
 * inline - a memchr call per string cost 4 us of a 34 us evaluation - and the last partial
 * word with the bytes past the string forced to 0x01 (they are still inside the message). Only
 * a string with a byte >= 0x80 goes through the full UTF-8 check. */
static inline const char *bad_string(const unsigned char *p, uint64_t n, const unsigned char *end)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    const unsigned char *s = p;
    uint64_t v, zero = 0, high = 0, left = n;
    for (; left >= 8; p += 8, left -= 8) {
        memcpy(&v, p, 8);
        zero |= (v - ones) & ~v;
        high |= v;
    }
    if (left) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (end - p >= 8) {
            memcpy(&v, p, 8);
            uint64_t past = ~(uint64_t)0 << (8 * left);
            v = (v & ~past) | (ones & past);
            zero |= (v - ones) & ~v;
            high |= v;
            left = 0;
        }
#endif
        for (; left; p++, left--) {
            if (!*p) return "string contains a NUL byte%s";
            high |= *p;
        }
    }
    (void)end;
    if (zero & highs) return "string contains a NUL byte%s";
    if ((high & highs) && !cds_utf8_valid(s, (size_t)n)) return "string is not valid UTF-8%s";
    return NULL;
}

static bool need(walker *w, size_t n) { return (size_t)(w->end - w->p) >= n; }

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

static void set_int(msgpack_object *o, int64_t v)
{
    if (v < 0) { o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER; o->via.i64 = v; }
    else { o->type = MSGPACK_OBJECT_POSITIVE_INTEGER; o->via.u64 = (uint64_t)v; }
}

/* Scalar payload at p (already bounds-checked) for format byte c, into o. */
static void scalar(unsigned c, const unsigned char *p, msgpack_object *o)
{
    switch (c) {
    case 0xca: { uint32_t u = (uint32_t)be(p, 4); float f; memcpy(&f, &u, 4); o->type = MSGPACK_OBJECT_FLOAT32; o->via.f64 = f; break; }
    case 0xcb: { uint64_t u = be(p, 8); double d; memcpy(&d, &u, 8); o->type = MSGPACK_OBJECT_FLOAT64; o->via.f64 = d; break; }
    case 0xcc: case 0xcd: case 0xce: case 0xcf:
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.u64 = be(p, 1 << (c - 0xcc));
        break;
    case 0xd0: set_int(o, (int8_t)p[0]); break;
    case 0xd1: set_int(o, (int16_t)be(p, 2)); break;
    case 0xd2: set_int(o, (int32_t)be(p, 4)); break;
    case 0xd3: set_int(o, (int64_t)be(p, 8)); break;
    default: break;
    }
}

/* Reads a header; returns kind: 0 scalar (fully consumed, and decoded into o when o is given),
 * 1 array, 2 map, 3 string (len in *n, payload not yet consumed). */
static cds_rc header(walker *w, int *kind, uint64_t *n, msgpack_object *o)
{
    if (!need(w, 1)) return fail(w, "truncated MessagePack%s: value expected", "");
    unsigned c = *w->p++;
    int lenbytes = 0;
    uint64_t skip = 0;
    *kind = 0;
    if (c <= 0x7f) { if (o) set_int(o, (int64_t)c); return CDS_OK; }
    if (c >= 0xe0) { if (o) set_int(o, (int8_t)c); return CDS_OK; }
    if (c == 0xc0) { if (o) o->type = MSGPACK_OBJECT_NIL; return CDS_OK; }
    if (c == 0xc2 || c == 0xc3) {
        if (o) { o->type = MSGPACK_OBJECT_BOOLEAN; o->via.boolean = c == 0xc3; }
        return CDS_OK;
    }
    if (c >= 0x80 && c <= 0x8f) { *kind = 2; *n = c & 0x0f; return CDS_OK; }
    if (c >= 0x90 && c <= 0x9f) { *kind = 1; *n = c & 0x0f; return CDS_OK; }
    if (c >= 0xa0 && c <= 0xbf) { *kind = 3; *n = c & 0x1f; return CDS_OK; }
    switch (c) {
    case 0xc1: return fail(w, "invalid MessagePack byte 0xc1%s", "");
    case 0xc4: case 0xc5: case 0xc6: /* bin: accepted as opaque bytes */
        lenbytes = 1 << (c - 0xc4);
        if (!need(w, (size_t)lenbytes)) return fail(w, "truncated MessagePack%s: bin length", "");
        skip = be(w->p, lenbytes);
        w->p += lenbytes;
        if (!need(w, skip)) return fail(w, "value claims more bytes than the message holds%s", "");
        if (o) { o->type = MSGPACK_OBJECT_BIN; o->via.bin.size = (uint32_t)skip; o->via.bin.ptr = (const char *)w->p; }
        w->p += skip;
        return CDS_OK;
    case 0xc7: case 0xc8: case 0xc9:
        lenbytes = 1 << (c - 0xc7);
        if (!need(w, (size_t)lenbytes + 1)) return fail(w, "truncated MessagePack%s: ext length", "");
        skip = be(w->p, lenbytes) + 1;
        w->p += lenbytes;
        break;
    case 0xca: skip = 4; break;
    case 0xcb: skip = 8; break;
    case 0xcc: case 0xd0: skip = 1; break;
    case 0xcd: case 0xd1: skip = 2; break;
    case 0xce: case 0xd2: skip = 4; break;
    case 0xcf: case 0xd3: skip = 8; break;
    case 0xd4: skip = 2; break;
    case 0xd5: skip = 3; break;
    case 0xd6: skip = 5; break;
    case 0xd7: skip = 9; break;
    case 0xd8: skip = 17; break;
    case 0xd9: case 0xda: case 0xdb:
        lenbytes = 1 << (c - 0xd9);
        if (!need(w, (size_t)lenbytes)) return fail(w, "truncated MessagePack%s: string length", "");
        *n = be(w->p, lenbytes);
        w->p += lenbytes;
        *kind = 3;
        return CDS_OK;
    case 0xdc: case 0xdd:
        lenbytes = c == 0xdc ? 2 : 4;
        if (!need(w, (size_t)lenbytes)) return fail(w, "truncated MessagePack%s: array length", "");
        *n = be(w->p, lenbytes);
        w->p += lenbytes;
        *kind = 1;
        return CDS_OK;
    case 0xde: case 0xdf:
        lenbytes = c == 0xde ? 2 : 4;
        if (!need(w, (size_t)lenbytes)) return fail(w, "truncated MessagePack%s: map length", "");
        *n = be(w->p, lenbytes);
        w->p += lenbytes;
        *kind = 2;
        return CDS_OK;
    default: return fail(w, "invalid MessagePack byte%s", "");
    }
    if (!need(w, skip)) return fail(w, "value claims more bytes than the message holds%s", "");
    if (o) {
        if ((c >= 0xc7 && c <= 0xc9) || (c >= 0xd4 && c <= 0xd8)) {   /* ext, fixext: type byte + payload */
            o->type = MSGPACK_OBJECT_EXT;
            o->via.ext.type = (int8_t)w->p[0];
            o->via.ext.size = (uint32_t)(skip - 1);
            o->via.ext.ptr = (const char *)w->p + 1;
        } else {
            scalar(c, w->p, o);
        }
    }
    w->p += skip;
    return CDS_OK;
}

/* The string header at p when it is fixstr or str8 (nearly every key and string in FHIR):
 * consumed, length in *n. Anything else is left to header(). */
static inline bool short_str(walker *w, uint64_t *n)
{
    const unsigned char *p = w->p;
    if (p >= w->end) return false;
    if ((*p & 0xe0) == 0xa0) {
        *n = *p & 0x1f;
        w->p = p + 1;
        return true;
    }
    if (*p == 0xd9 && w->end - p >= 2) {
        *n = p[1];
        w->p = p + 2;
        return true;
    }
    return false;
}

static cds_rc walk(walker *w, msgpack_object *o)
{
    int kind;
    uint64_t n = 0;
    cds_rc rc;
    if (short_str(w, &n)) kind = 3;
    else if ((rc = header(w, &kind, &n, o))) return rc;
    if (kind == 0) return CDS_OK;
    size_t left = (size_t)(w->end - w->p);
    if (kind == 3) {
        if (n > left) return fail(w, "string claims more bytes than the message holds%s", "");
        /* strings become C strings downstream, where a NUL would silently cut them (two patient
         * ids collapsing into one); FHIR strings may not hold one either */
        const char *bad = bad_string(w->p, n, w->end);
        if (bad) return fail(w, bad, "");
        if (o) { o->type = MSGPACK_OBJECT_STR; o->via.str.size = (uint32_t)n; o->via.str.ptr = (const char *)w->p; }
        w->p += n;
        return CDS_OK;
    }
    if (w->depth >= w->max_depth) {
        char path[256];
        path_of(w, path, sizeof path);
        return cds_error_set(w->err, CDS_EBADREQ, path, "nesting deeper than %d levels", w->max_depth);
    }
    /* Each array element takes at least 1 byte, each map pair at least 2. */
    if ((kind == 1 && n > left) || (kind == 2 && n > left / 2))
        return fail(w, "%s claims more elements than the message holds", kind == 1 ? "array" : "map");
    msgpack_object *elems = NULL;
    msgpack_object_kv *pairs = NULL;
    if (o) {
        size_t bytes = (size_t)n * (kind == 1 ? sizeof *elems : sizeof *pairs);
        void *mem = n ? msgpack_zone_malloc(w->zone, bytes) : NULL;
        if (n && !mem) return cds_error_set(w->err, CDS_EINTERNAL, "$", "out of memory decoding MessagePack");
        if (kind == 1) {
            elems = mem;
            o->type = MSGPACK_OBJECT_ARRAY;
            o->via.array.size = (uint32_t)n;
            o->via.array.ptr = elems;
        } else {
            pairs = mem;
            o->type = MSGPACK_OBJECT_MAP;
            o->via.map.size = (uint32_t)n;
            o->via.map.ptr = pairs;
        }
    }
    frame *f = &w->stack[w->depth++];
    f->is_map = kind == 2;
    f->key = NULL;
    for (uint64_t i = 0; i < n; i++) {
        f->index = i;
        if (kind == 2) {
            int kk;
            uint64_t kn = 0;
            f->key = NULL;
            if (short_str(w, &kn)) kk = 3;
            else if ((rc = header(w, &kk, &kn, NULL))) return rc;
            if (kk != 3) return fail(w, "map key is not a string%s", "");
            if (kn > (size_t)(w->end - w->p)) return fail(w, "string claims more bytes than the message holds%s", "");
            const char *bad = bad_string(w->p, kn, w->end);
            if (bad) return fail(w, bad, " (a map key)");
            f->key = w->p;
            f->klen = (uint32_t)(kn > UINT32_MAX ? UINT32_MAX : kn);
            if (pairs) {
                pairs[i].key.type = MSGPACK_OBJECT_STR;
                pairs[i].key.via.str.size = (uint32_t)kn;
                pairs[i].key.via.str.ptr = (const char *)w->p;
            }
            w->p += kn;
        }
        if ((rc = walk(w, pairs ? &pairs[i].val : elems ? &elems[i] : NULL))) return rc;
    }
    w->depth--;
    return CDS_OK;
}

static cds_rc run(const char *buf, size_t len, msgpack_zone *zone, msgpack_object *out, cds_error *err)
{
    walker w = {.p = (const unsigned char *)buf, .end = (const unsigned char *)buf + len,
                .max_depth = CDS_MP_MAX_DEPTH, .zone = zone, .err = err};
    if (len == 0) return cds_error_set(err, CDS_EBADREQ, "$", "empty message: a MessagePack map was expected");
    cds_rc rc = walk(&w, out);
    if (rc) return rc;
    if (w.p != w.end)
        return cds_error_set(err, CDS_EBADREQ, "$", "%zu trailing bytes after the MessagePack value",
                             (size_t)(w.end - w.p));
    return CDS_OK;
}

cds_rc cds_mp_decode(const char *buf, size_t len, msgpack_unpacked *out, cds_error *err)
{
    msgpack_unpacked_init(out);
    out->zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE);
    if (!out->zone) return cds_error_set(err, CDS_EINTERNAL, "$", "out of memory decoding MessagePack");
    cds_rc rc = run(buf, len, out->zone, &out->data, err);
    if (rc) {
        msgpack_unpacked_destroy(out);
        msgpack_unpacked_init(out);
    }
    return rc;
}

cds_rc cds_mp_decode_zone(const char *buf, size_t len, msgpack_zone *zone, msgpack_object *out, cds_error *err)
{
    return run(buf, len, zone, out, err);
}

const msgpack_object *cds_mp_getn(const msgpack_object *map, const char *key, size_t kl)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP) return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == kl &&
            memcmp(kv->key.via.str.ptr, key, kl) == 0)
            return &kv->val;
    }
    return NULL;
}

bool cds_mp_is_str(const msgpack_object *o) { return o && o->type == MSGPACK_OBJECT_STR; }

bool cds_mp_str_eqn(const msgpack_object *o, const char *s, size_t n)
{
    return cds_mp_is_str(o) && o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
}

char *cds_mp_strdup(cds_arena *a, const msgpack_object *o)
{
    if (!cds_mp_is_str(o)) return NULL;
    return cds_arena_strndup(a, o->via.str.ptr, o->via.str.size);
}

bool cds_mp_number(const msgpack_object *o, double *out)
{
    if (!o) return false;
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double)o->via.u64; return true;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double)o->via.i64; return true;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *out = o->via.f64; return true;
    default: return false;
    }
}

void cds_mp_pack_str(msgpack_packer *pk, const char *s)
{
    if (!s) { msgpack_pack_nil(pk); return; }
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

int cds_mp_pack_object(msgpack_packer *pk, const msgpack_object *o)
{
    return msgpack_pack_object(pk, *o);
}
