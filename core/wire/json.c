/* json.c — cJSON-based JSON <-> MessagePack conversion. */
#include "json.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cds_cjson_pack(msgpack_packer *pk, const cJSON *j)
{
    if (cJSON_IsNull(j)) msgpack_pack_nil(pk);
    else if (cJSON_IsTrue(j)) msgpack_pack_true(pk);
    else if (cJSON_IsFalse(j)) msgpack_pack_false(pk);
    else if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (d == floor(d) && fabs(d) < 9007199254740992.0) msgpack_pack_int64(pk, (int64_t)d);
        else msgpack_pack_double(pk, d);
    } else if (cJSON_IsString(j)) {
        size_t n = strlen(j->valuestring);
        msgpack_pack_str(pk, n);
        msgpack_pack_str_body(pk, j->valuestring, n);
    } else if (cJSON_IsArray(j)) {
        msgpack_pack_array(pk, (size_t)cJSON_GetArraySize(j));
        for (const cJSON *c = j->child; c; c = c->next) cds_cjson_pack(pk, c);
    } else if (cJSON_IsObject(j)) {
        msgpack_pack_map(pk, (size_t)cJSON_GetArraySize(j));
        for (const cJSON *c = j->child; c; c = c->next) {
            size_t n = strlen(c->string);
            msgpack_pack_str(pk, n);
            msgpack_pack_str_body(pk, c->string, n);
            cds_cjson_pack(pk, c);
        }
    } else {
        msgpack_pack_nil(pk);
    }
}

/* Line and column (1-based) of byte off. */
static void line_col(const char *json, size_t off, int *line, int *col)
{
    *line = 1, *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (json[i] == '\n') { (*line)++; *col = 1; } else (*col)++;
    }
}

/* Offset of a \u0000 escape (cJSON would cut the string there: "p\u0000x" became "p"), or -1. */
static long nul_escape(const char *json, size_t len)
{
    for (const char *p = json, *end = json + len; (p = memchr(p, '\\', (size_t)(end - p))) != NULL;) {
        size_t run = 0;
        while (p + run < end && p[run] == '\\') run++;
        const char *e = p + run - 1;   /* the last backslash of the run escapes what follows */
        if (run % 2 == 1 && end - e >= 6 && (e[1] == 'u' || e[1] == 'U') && !memcmp(e + 2, "0000", 4))
            return (long)(e - json);
        p += run;
    }
    return -1;
}

#define PATH_DEPTH 32   /* levels named in a path; deeper ones are left out */

/* The path ($.context.patientId, $.prefetch.meds.entry[2]) of what is being read at byte off,
 * from a scan of the text before it (which cJSON has not judged yet: a best effort). */
static void path_at(const char *json, size_t off, char *out, size_t cap)
{
    struct { bool object; size_t index; const char *key; size_t keylen; } st[PATH_DEPTH];
    size_t depth = 0;
    bool in_str = false, want_key = false;
    const char *str = NULL;
    for (size_t i = 0; i < off; i++) {
        char c = json[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') {
                in_str = false;
                if (want_key && depth && depth <= PATH_DEPTH) {
                    st[depth - 1].key = str;
                    st[depth - 1].keylen = (size_t)(json + i - str);
                }
                want_key = false;
            }
            continue;
        }
        bool top = depth && depth <= PATH_DEPTH;
        if (c == '"') in_str = true, str = json + i + 1;
        else if (c == '{' || c == '[') {
            if (depth < PATH_DEPTH) st[depth].object = c == '{', st[depth].index = 0, st[depth].key = NULL;
            depth++;
            want_key = c == '{';
        } else if ((c == '}' || c == ']') && depth) depth--, want_key = false;
        else if (c == ',' && top && st[depth - 1].object) want_key = true, st[depth - 1].key = NULL;
        else if (c == ',' && top) st[depth - 1].index++;
    }
    if (in_str && want_key && depth && depth <= PATH_DEPTH) {   /* inside a key: name it as far as it goes */
        st[depth - 1].key = str;
        st[depth - 1].keylen = (size_t)(json + off - str);
    }
    size_t n = (size_t)snprintf(out, cap, "$");
    for (size_t d = 0; d < depth && d < PATH_DEPTH && n < cap; d++) {
        int w = 0;
        if (!st[d].object) w = snprintf(out + n, cap - n, "[%zu]", st[d].index);
        else if (st[d].key) w = snprintf(out + n, cap - n, ".%.*s", (int)(st[d].keylen < 64 ? st[d].keylen : 64), st[d].key);
        if (w > 0) n += (size_t)w;
    }
}

cds_rc cds_json_to_mp(const char *json, size_t len, const char *what, msgpack_sbuffer *out, cds_error *err)
{
    /* A raw NUL (never valid in JSON text) would end a string early in cJSON's copy, or hide
     * what follows it; \u0000 would cut the string the same way. Both are refused with the
     * path of the field. */
    const char *raw = memchr(json, '\0', len);
    long nul = raw ? (long)(raw - json) : nul_escape(json, len);
    if (nul >= 0) {
        int line, col;
        char path[160];
        line_col(json, (size_t)nul, &line, &col);
        path_at(json, (size_t)nul, path, sizeof path);
        return cds_error_set(err, CDS_EBADREQ, path, "%s: line %d column %d: %s", what ? what : "JSON", line, col,
                             raw ? "a raw NUL byte (not allowed in JSON text)" : "strings may not contain \\u0000");
    }
    if (cds_json_to_mp_direct(json, len, out)) return CDS_OK;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        /* the parse end, not cJSON_GetErrorPtr(): that is one global shared by every thread */
        size_t off = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
        int line, col, depth = 0;
        line_col(json, off, &line, &col);
        bool in_str = false;
        for (size_t i = 0; i < off; i++) {
            char c = json[i];
            if (in_str) {
                if (c == '\\') i++;
                else if (c == '"') in_str = false;
            } else if (c == '"') in_str = true;
            else if (c == '[' || c == '{') depth++;
            else if (c == ']' || c == '}') depth--;
        }
        if (depth >= CJSON_NESTING_LIMIT)   /* cJSON stops there; say so rather than "malformed" */
            return cds_error_set(err, CDS_EBADREQ, "$", "%s: line %d column %d: nesting deeper than %d levels",
                                 what ? what : "JSON", line, col, CJSON_NESTING_LIMIT);
        return cds_error_set(err, CDS_EBADREQ, "$", "%s: line %d column %d: malformed JSON", what ? what : "JSON",
                             line, col);
    }
    /* cJSON accepts a leading value and stops; anything but whitespace after it is an error. */
    if (end) {
        while (end < json + len && (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t')) end++;
        if (end < json + len) {
            cJSON_Delete(root);
            return cds_error_set(err, CDS_EBADREQ, "$", "%s: trailing characters after the JSON value",
                                 what ? what : "JSON");
        }
    }
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    cds_cjson_pack(&pk, root);
    cJSON_Delete(root);
    return CDS_OK;
}

static void newline(cds_strbuf *b, int indent, int level)
{
    if (indent < 0) return;
    cds_strbuf_putc(b, '\n');
    for (int i = 0; i < indent * level; i++) cds_strbuf_putc(b, ' ');
}

static void emit(cds_strbuf *b, const msgpack_object *o, int indent, int level)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: cds_strbuf_puts(b, "null"); break;
    case MSGPACK_OBJECT_BOOLEAN: cds_strbuf_puts(b, o->via.boolean ? "true" : "false"); break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: cds_strbuf_printf(b, "%llu", (unsigned long long)o->via.u64); break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: cds_strbuf_printf(b, "%lld", (long long)o->via.i64); break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (isfinite(o->via.f64)) cds_strbuf_printf(b, "%.17g", o->via.f64);
        else cds_strbuf_puts(b, "null");
        break;
    case MSGPACK_OBJECT_STR: cds_strbuf_json_string(b, o->via.str.ptr, o->via.str.size); break;
    case MSGPACK_OBJECT_BIN: cds_strbuf_json_string(b, o->via.bin.ptr, o->via.bin.size); break;
    case MSGPACK_OBJECT_ARRAY:
        cds_strbuf_putc(b, '[');
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i) cds_strbuf_putc(b, ',');
            newline(b, indent, level + 1);
            emit(b, &o->via.array.ptr[i], indent, level + 1);
        }
        if (o->via.array.size) newline(b, indent, level);
        cds_strbuf_putc(b, ']');
        break;
    case MSGPACK_OBJECT_MAP:
        cds_strbuf_putc(b, '{');
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (i) cds_strbuf_putc(b, ',');
            newline(b, indent, level + 1);
            if (kv->key.type == MSGPACK_OBJECT_STR) emit(b, &kv->key, indent, level + 1);
            else cds_strbuf_puts(b, "\"?\"");
            cds_strbuf_puts(b, indent < 0 ? ":" : ": ");
            emit(b, &kv->val, indent, level + 1);
        }
        if (o->via.map.size) newline(b, indent, level);
        cds_strbuf_putc(b, '}');
        break;
    default: cds_strbuf_puts(b, "null"); break;
    }
}

void cds_json_from_mp(cds_strbuf *b, const msgpack_object *o, int indent) { emit(b, o, indent, 0); }

char *cds_read_file(const char *path, size_t *len, size_t max, cds_error *err)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        cds_error_set(err, CDS_EIO, NULL, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n > max) {
            free(buf);
            buf = NULL;
            cds_error_set(err, CDS_ETOOLARGE, NULL, "%s: larger than %zu bytes", path, max);
            break;
        }
        if (r == 0) break;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
    }
    if (f != stdin) fclose(f);
    if (!buf) {
        if (err && err->code == CDS_OK) cds_error_set(err, CDS_EIO, NULL, "%s: out of memory", path);
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}
