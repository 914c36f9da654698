/* explain_check.c — the completeness test of a card's explanation (explain_check.h). */
#include "explain_check.h"

#include <msgpack.h>
#include <stdio.h>
#include <string.h>

#include "mp.h"

static bool nonempty_str(const msgpack_object *o)
{
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size > 0;
}

/* [ "Type/id", code... ] */
static bool names_resource(const msgpack_object *m)
{
    if (!m || m->type != MSGPACK_OBJECT_ARRAY) return false;
    for (uint32_t i = 0; i < m->via.array.size; i++) {
        const msgpack_object *e = &m->via.array.ptr[i];
        if (e->type == MSGPACK_OBJECT_ARRAY && e->via.array.size >= 1 && nonempty_str(&e->via.array.ptr[0]) &&
            memchr(e->via.array.ptr[0].via.str.ptr, '/', e->via.array.ptr[0].via.str.size))
            return true;
    }
    return false;
}

/* [ table, key, source? ] */
static bool names_row(const msgpack_object *r)
{
    if (!r || r->type != MSGPACK_OBJECT_ARRAY) return false;
    for (uint32_t i = 0; i < r->via.array.size; i++) {
        const msgpack_object *e = &r->via.array.ptr[i];
        if (e->type == MSGPACK_OBJECT_ARRAY && e->via.array.size >= 2 && nonempty_str(&e->via.array.ptr[0]) &&
            nonempty_str(&e->via.array.ptr[1]))
            return true;
    }
    return false;
}

#define WHY(...) do { snprintf(why, whylen, __VA_ARGS__); ok = false; goto out; } while (0)

bool cds_explain_complete(const void *data, size_t len, char *why, size_t whylen)
{
    if (!data || !len) {
        snprintf(why, whylen, "no explanation");
        return false;
    }
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    bool ok = true;
    if (msgpack_unpack_next(&u, data, len, NULL) != MSGPACK_UNPACK_SUCCESS || u.data.type != MSGPACK_OBJECT_MAP)
        WHY("the explanation is not a MessagePack map");
    const msgpack_object *x = &u.data;
    if (cds_mp_get(x, "rule_failed")) {
        if (!nonempty_str(cds_mp_get(x, "rule_failed"))) WHY("rule_failed does not name the rule");
        goto out;
    }
    if (cds_mp_get(x, "prefetch")) {
        if (!nonempty_str(cds_mp_get(x, "prefetch"))) WHY("prefetch does not name the key");
        goto out;
    }
    if (!names_resource(cds_mp_get(x, "matched"))) WHY("no matched resource (\"Type/id\") in explain.matched");
    const msgpack_object *v = cds_mp_get(x, "values");
    bool values = v && v->type == MSGPACK_OBJECT_MAP && v->via.map.size > 0;
    if (!names_row(cds_mp_get(x, "rows")) && !values) WHY("neither a knowledge row (explain.rows) nor a computed value (explain.values)");
out:
    msgpack_unpacked_destroy(&u);
    return ok;
}
