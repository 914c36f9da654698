/* card.h — CDS Hooks 2.0 cards from rule output: validation, deterministic uuids, packing.
 * Works on the Lua tables made by the prelude's card{} helper. */
#ifndef CDS_CARD_H
#define CDS_CARD_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

#include "card_explain.h"

typedef struct lua_State lua_State;

typedef struct cds_card_source {
    const char *label;        /* rule set's source label */
    const char *rule_id, *rule_title;
} cds_card_source;

/* Checks the card at idx against CDS Hooks 2.0 (summary < 140 characters, indicator enum,
 * suggestions with labels and selectionBehavior, actions with type and description, override
 * reasons with display, links with label/url/type). False with a message on the first problem. */
bool cds_card_check(lua_State *L, int idx, char *msg, size_t msglen);

/* Packs "source": {label, url?, topic: {system, code: rule id, display: rule title}}. */
void cds_card_pack_source(msgpack_packer *pk, const cds_card_source *src, const char *url);

/* Packs a warning the engine itself gives (a check that did not run): uuid, summary, warning,
 * detail and source, all strings, and its explanation in the extension (when ex.data). */
void cds_card_pack_warning(msgpack_packer *pk, const char *uuid, const char *summary, const char *detail,
                           const cds_card_source *src, cds_explain ex);

/* Packs the (checked) card, adding uuid, source (with topic = rule id) and suggestion uuids. */
void cds_card_pack(lua_State *L, int idx, msgpack_packer *pk, const char *uuid, const cds_card_source *src);

/* Name-based UUID (version 5 layout, SHA-1) from the parts, so the same request gives the
 * same card ids: feedback and audit can refer to them. */
void cds_uuid(const char *a, const char *b, const char *c, char out[37]);

/* Number of UTF-8 characters in s. */
size_t cds_utf8_len(const char *s);

/* Packs any Lua value (tables as arrays or maps; read-only proxies are looked through). */
void cds_lua_pack_value(lua_State *L, int idx, msgpack_packer *pk, int depth);

#endif
