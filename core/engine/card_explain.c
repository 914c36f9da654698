/* card_explain.c — packing a card's explanation into the request arena (see card_explain.h). */
#include "card_explain.h"

#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "card.h"
#include "lua_explain.h"
#include "mp.h"

/* A msgpack writer appending to a buffer in the arena (grown by copying: explanations are small). */
typedef struct arena_buf {
    cds_arena *a;
    char *data;
    size_t len, cap;
    bool failed;
} arena_buf;

static int arena_write(void *data, const char *buf, size_t len)
{
    arena_buf *b = data;
    if (b->failed) return -1;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->len + len) cap *= 2;
        char *p = cds_arena_alloc(b->a, cap);
        if (!p) {
            b->failed = true;
            return -1;
        }
        if (b->len) memcpy(p, b->data, b->len);
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, buf, len);
    b->len += len;
    return 0;
}

static cds_explain finish(const arena_buf *b)
{
    if (b->failed) return (cds_explain){NULL, 0};
    return (cds_explain){b->data, b->len};
}

cds_explain cds_card_explain_of(lua_State *L, int idx, cds_arena *a)
{
    arena_buf b = {.a = a};
    size_t n;
    const char *s = cds_lua_explain_of(L, idx, &n);   /* packed by card{} */
    if (s) arena_write(&b, s, n);
    return finish(&b);
}

cds_explain cds_card_explain_rule_failed(const char *rule, cds_arena *a)
{
    arena_buf b = {.a = a};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, arena_write);
    msgpack_pack_map(&pk, 1);
    cds_mp_pack_str(&pk, "rule_failed");
    cds_mp_pack_str(&pk, rule);
    return finish(&b);
}

cds_explain cds_card_explain_prefetch(const char *key, const char *state, cds_arena *a)
{
    arena_buf b = {.a = a};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, arena_write);
    msgpack_pack_map(&pk, 2);
    cds_mp_pack_str(&pk, "prefetch");
    cds_mp_pack_str(&pk, key);
    cds_mp_pack_str(&pk, "state");
    cds_mp_pack_str(&pk, state);
    return finish(&b);
}

void cds_card_pack_explain_extension(msgpack_packer *pk, cds_explain ex)
{
    cds_mp_pack_str(pk, "extension");
    msgpack_pack_map(pk, 1);
    cds_card_pack_explain_entry(pk, ex);
}

void cds_card_pack_explain_entry(msgpack_packer *pk, cds_explain ex)
{
    cds_mp_pack_str(pk, "org.cdsd.explain");
    pk->callback(pk->data, ex.data, ex.len);   /* already MessagePack */
}
