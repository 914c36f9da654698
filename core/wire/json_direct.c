/* json_direct.c — JSON text straight to MessagePack, without a cJSON tree (see json.h).
 *
 * The HTTP gateway converts every request body; through cJSON that cost more than evaluating
 * the request (a node and several mallocs per value, then a walk of the tree). Here a first pass
 * checks the text and counts each container's elements (MessagePack headers carry the count),
 * a second pass writes. Only a conservative subset of well-formed JSON is taken: anything else
 * (malformed text, nesting deeper than DIRECT_MAX_DEPTH, a byte-order mark, a control character,
 * an escape that is not plainly valid, a number longer than cJSON reads) returns false and
 * cds_json_to_mp falls back to cJSON, whose result and error messages stay the reference. What
 * is converted here is byte for byte what cds_cjson_pack writes (tests/unit/test_json_direct.c,
 * and fuzz_json checks every input it converts). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define DIRECT_MAX_DEPTH 128
#define NUMBER_MAX 63   /* cJSON reads at most this many characters of a number */

typedef struct direct {
    const char *p, *end;
    uint32_t *counts;         /* elements of each container, in the order the containers open */
    size_t ncounts, cap, next;
    /* each string's length in the text (top bit: it holds an escape), in the order met, so the
     * second pass does not scan it again (the scan was the gateway's hottest function) */
    uint32_t *strings;
    size_t nstrings, strings_cap, next_string;
    int depth;
    char *scratch;            /* an unescaped string */
    size_t scratch_cap;
} direct;

static void skip_ws(direct *d)
{
    while (d->p < d->end && (*d->p == ' ' || *d->p == '\n' || *d->p == '\r' || *d->p == '\t')) d->p++;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* \uXXXX at p (p[0] == '\\'): its code unit, or -1 */
static long hex4(const char *p, const char *end)
{
    if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return -1;
    long v = 0;
    for (int i = 2; i < 6; i++) {
        int h = hex_digit(p[i]);
        if (h < 0) return -1;
        v = v << 4 | h;
    }
    return v;
}

/* One \u escape (with its low surrogate when it is a high one) at p: its code point and the
 * bytes it spans, or -1 for what this file leaves to cJSON (U+0000, an unpaired surrogate). */
static long unicode_escape(const char *p, const char *end, size_t *span)
{
    long hi = hex4(p, end);
    if (hi <= 0 || (hi >= 0xDC00 && hi <= 0xDFFF)) return -1;
    if (hi < 0xD800 || hi > 0xDBFF) {
        *span = 6;
        return hi;
    }
    long lo = hex4(p + 6, end);
    if (lo < 0xDC00 || lo > 0xDFFF) return -1;
    *span = 12;
    return 0x10000 + ((hi & 0x3FF) << 10 | (lo & 0x3FF));
}

#define STRING_ESCAPED 0x80000000u

/* Notes a string's length and whether it is escaped for the second pass. */
static bool note_string(direct *d, size_t len, bool escaped)
{
    if (len >= STRING_ESCAPED) return false;   /* 2 GiB: left to cJSON, which refuses it */
    if (d->nstrings == d->strings_cap) {
        size_t cap = d->strings_cap ? d->strings_cap * 2 : 256;
        uint32_t *s = realloc(d->strings, cap * sizeof *s);
        if (!s) return false;
        d->strings = s;
        d->strings_cap = cap;
    }
    d->strings[d->nstrings++] = (uint32_t)len | (escaped ? STRING_ESCAPED : 0);
    return true;
}

/* A string at d->p (the opening quote): checked, skipped and noted. */
static bool check_string(direct *d)
{
    bool escaped = false;
    for (const char *p = d->p + 1; p < d->end;) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            size_t len = (size_t)(p - d->p - 1);
            d->p = p + 1;
            return note_string(d, len, escaped);
        }
        if (c < 0x20) return false;
        if (c != '\\') {
            p++;
            continue;
        }
        escaped = true;
        if (d->end - p < 2) return false;
        char e = p[1];
        if (e == 'u') {
            size_t span;
            if (unicode_escape(p, d->end, &span) < 0) return false;
            p += span;
        } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
            p += 2;
        } else {
            return false;
        }
    }
    return false;
}

/* A number in JSON's grammar at d->p: its length, or 0. */
static size_t number_length(const direct *d)
{
    const char *p = d->p, *e = d->end;
    if (p < e && *p == '-') p++;
    if (p >= e) return 0;
    if (*p == '0') p++;
    else if (*p >= '1' && *p <= '9') while (p < e && *p >= '0' && *p <= '9') p++;
    else return 0;
    if (p < e && *p == '.') {
        const char *f = ++p;
        while (p < e && *p >= '0' && *p <= '9') p++;
        if (p == f) return 0;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        const char *x = p;
        while (p < e && *p >= '0' && *p <= '9') p++;
        if (p == x) return 0;
    }
    size_t n = (size_t)(p - d->p);
    return n <= NUMBER_MAX ? n : 0;
}

static bool literal(direct *d, const char *word, size_t n)
{
    if ((size_t)(d->end - d->p) < n || memcmp(d->p, word, n)) return false;
    d->p += n;
    return true;
}

static bool check_value(direct *d);

/* An array or object at d->p: checked, skipped, and its element count recorded. */
static bool check_container(direct *d, bool object)
{
    if (++d->depth > DIRECT_MAX_DEPTH) return false;
    if (d->ncounts == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        uint32_t *c = realloc(d->counts, cap * sizeof *c);
        if (!c) return false;
        d->counts = c;
        d->cap = cap;
    }
    size_t slot = d->ncounts++;
    uint32_t n = 0;
    d->p++;
    skip_ws(d);
    char close = object ? '}' : ']';
    if (d->p < d->end && *d->p == close) {
        d->p++;
    } else {
        for (;;) {
            if (object) {
                if (d->p >= d->end || *d->p != '"' || !check_string(d)) return false;
                skip_ws(d);
                if (d->p >= d->end || *d->p != ':') return false;
                d->p++;
                skip_ws(d);
            }
            if (!check_value(d) || n == UINT32_MAX) return false;
            n++;
            skip_ws(d);
            if (d->p >= d->end) return false;
            if (*d->p == close) {
                d->p++;
                break;
            }
            if (*d->p != ',') return false;
            d->p++;
            skip_ws(d);
        }
    }
    d->counts[slot] = n;
    d->depth--;
    return true;
}

static bool check_value(direct *d)
{
    if (d->p >= d->end) return false;
    switch (*d->p) {
    case '{': return check_container(d, true);
    case '[': return check_container(d, false);
    case '"': return check_string(d);
    case 'n': return literal(d, "null", 4);
    case 't': return literal(d, "true", 4);
    case 'f': return literal(d, "false", 5);
    default: {
        size_t n = number_length(d);
        d->p += n;
        return n > 0;
    }
    }
}

/* --- second pass: the text is known to be good ----------------------------------------------- */

static size_t put_utf8(char *o, long cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static bool emit_string(direct *d, msgpack_packer *pk)
{
    const char *start = d->p + 1;
    uint32_t noted = d->strings[d->next_string++];   /* known good: its length from the first pass */
    bool escaped = noted & STRING_ESCAPED;
    size_t raw = noted & ~STRING_ESCAPED;
    d->p = start + raw + 1;
    if (!escaped) {
        msgpack_pack_str(pk, raw);
        msgpack_pack_str_body(pk, start, raw);
        return true;
    }
    if (raw > d->scratch_cap) {   /* unescaped text is never longer than its source */
        char *s = realloc(d->scratch, raw);
        if (!s) return false;
        d->scratch = s;
        d->scratch_cap = raw;
    }
    size_t n = 0;
    for (const char *p = start, *e = start + raw; p < e;) {
        if (*p != '\\') {
            d->scratch[n++] = *p++;
            continue;
        }
        char c = p[1];
        if (c == 'u') {
            size_t span;
            n += put_utf8(d->scratch + n, unicode_escape(p, e, &span));
            p += span;
            continue;
        }
        d->scratch[n++] = c == 'b' ? '\b' : c == 'f' ? '\f' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
        p += 2;
    }
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, d->scratch, n);
    return true;
}

/* As cds_cjson_pack: an integral value below 2^53 as an integer, else a double. */
static void emit_number(direct *d, msgpack_packer *pk)
{
    char text[NUMBER_MAX + 1];
    size_t n = number_length(d);
    memcpy(text, d->p, n);
    text[n] = '\0';
    d->p += n;
    double v = strtod(text, NULL);
    if (v == floor(v) && fabs(v) < 9007199254740992.0) msgpack_pack_int64(pk, (int64_t)v);
    else msgpack_pack_double(pk, v);
}

static bool emit_value(direct *d, msgpack_packer *pk)
{
    char c = *d->p;
    if (c == '{' || c == '[') {
        bool object = c == '{';
        uint32_t n = d->counts[d->next++];
        if (object) msgpack_pack_map(pk, n);
        else msgpack_pack_array(pk, n);
        d->p++;
        for (uint32_t i = 0; i < n; i++) {
            skip_ws(d);
            if (*d->p == ',') d->p++;
            skip_ws(d);
            if (object) {
                if (!emit_string(d, pk)) return false;
                skip_ws(d);
                d->p++;   /* ':' */
                skip_ws(d);
            }
            if (!emit_value(d, pk)) return false;
        }
        skip_ws(d);
        d->p++;   /* the closing bracket */
        return true;
    }
    if (c == '"') return emit_string(d, pk);
    if (c == 'n') msgpack_pack_nil(pk), d->p += 4;
    else if (c == 't') msgpack_pack_true(pk), d->p += 4;
    else if (c == 'f') msgpack_pack_false(pk), d->p += 5;
    else emit_number(d, pk);
    return true;
}

bool cds_json_to_mp_direct(const char *json, size_t len, msgpack_sbuffer *out)
{
    direct d = {.p = json, .end = json + len};
    skip_ws(&d);
    bool ok = check_value(&d);
    skip_ws(&d);
    ok = ok && d.p == d.end;
    if (ok) {
        size_t before = out->size;
        msgpack_packer pk;
        msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
        d.p = json;
        skip_ws(&d);
        ok = emit_value(&d, &pk);
        if (!ok) out->size = before;   /* out of memory: nothing half-written is left */
    }
    free(d.counts);
    free(d.strings);
    free(d.scratch);
    return ok;
}
