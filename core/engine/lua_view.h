/* lua_view.h — presents a cds_view to rules as the read-only `ctx` table. */
#ifndef CDS_LUA_VIEW_H
#define CDS_LUA_VIEW_H

#include "prefetch.h"
#include "screen.h"
#include "view.h"

typedef struct lua_State lua_State;

/* Everything ctx functions need; must stay valid while the evaluation runs. */
typedef struct cds_eval_scope {
    const cds_view *view;
    const cds_ddi_hit *ddi; uint32_t nddi;
    const cds_allergy_hit *allergy; uint32_t nallergy;
    const cds_prefetch_status *prefetch; size_t nprefetch;   /* per service key: ctx.prefetch */
} cds_eval_scope;

/* Pushes ctx (a read-only proxy). Sets `scope` as the current scope of this state; ctx
 * functions called when no scope is current raise an error instead of reading freed data. */
void cds_lua_view_push(lua_State *L, cds_eval_scope *scope);
/* Clears the current scope (call after the evaluation). */
void cds_lua_view_done(lua_State *L);

#endif
