/* card_explain.h — a card's explanation (what produced it) as the compact MessagePack map kept in
 * cds_card_out.explain (-> the audit card's ext "explain") and sent in the card's extension
 * "org.cdsd.explain". Rule cards: the map card{explain = ...} checked and packed by card{} (lua_explain.c)
 * ({"matched": [[ref, code...]], "rows": [[table, key, source]], "values": {name: value}});
 * cards the engine makes name what they stand for: {"rule_failed": RULE} or
 * {"prefetch": KEY, "state": "absent" | "failed" | "partial"}. */
#ifndef CDS_CARD_EXPLAIN_H
#define CDS_CARD_EXPLAIN_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

#include "arena.h"

typedef struct lua_State lua_State;

typedef struct cds_explain {
    const void *data;         /* MessagePack map in the arena, or NULL (no explanation) */
    size_t len;
} cds_explain;

/* The explanation of the card table at idx (its `_explain`, set by card{}); {NULL, 0} when the
 * card has none or the arena is out of memory (a->failed then says so). */
cds_explain cds_card_explain_of(lua_State *L, int idx, cds_arena *a);

/* The explanation of a "did not run" card for a failed rule. */
cds_explain cds_card_explain_rule_failed(const char *rule, cds_arena *a);

/* The explanation of a "did not run" / "incomplete" card for a required prefetch key. */
cds_explain cds_card_explain_prefetch(const char *key, const char *state, cds_arena *a);

/* Packs "extension": {"org.cdsd.explain": <ex>} (a key/value pair of the card's map). */
void cds_card_pack_explain_extension(msgpack_packer *pk, cds_explain ex);
/* Packs the pair "org.cdsd.explain": <ex> (an entry of an extension map). */
void cds_card_pack_explain_entry(msgpack_packer *pk, cds_explain ex);

#endif
