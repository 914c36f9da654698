/* lua_explain.h — the prelude's private explain packer: card{explain = ...} checked (errors at
 * the rule's file:line) and packed into the MessagePack map kept in the audit row and sent as the
 * card's extension "org.cdsd.explain" (card_explain.h has its shape). */
#ifndef CDS_LUA_EXPLAIN_H
#define CDS_LUA_EXPLAIN_H

typedef struct lua_State lua_State;

#include <stddef.h>

/* Pushes the function explain_pack(t, card), which keeps t packed as card's explanation; the
 * prelude's card{} calls it. */
void cds_lua_push_explain_pack(lua_State *L);
/* The packed explanation of the card table at idx, or NULL; valid while the card is alive. */
const char *cds_lua_explain_of(lua_State *L, int idx, size_t *len);

#endif
