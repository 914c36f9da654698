/* prefetch.h — the service's side of CDS Hooks prefetch (CDS-HOOKS.md §2): checking and
 * rendering the templates a service declares, and finding what a request left out.
 *
 * A key is satisfied when the request's prefetch has it, whatever the value (`null` = the
 * client has no data; an OperationOutcome = the client's fetch failed, which the rules see).
 * A key is absent otherwise. A searchset Bundle with a `next` link is satisfied only in part:
 * its later pages are still to be fetched. */
#ifndef CDS_PREFETCH_H
#define CDS_PREFETCH_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "ruleset.h"
#include "strbuf.h"

/* Load-time check of a template's tokens: only {{context.NAME}} and the four user tokens
 * ({{userPractitionerId}}, {{userPractitionerRoleId}}, {{userPatientId}}, {{userRelatedPersonId}}).
 * false with a reason in `why`. */
bool cds_prefetch_template_ok(const char *tmpl, char *why, size_t cap);

/* Renders `tmpl` with the request's context (`request` is the request map). Token values are
 * percent-encoded. CDS_EPREFETCH when a token has no value in this request (a context field
 * that is absent or not a primitive, a user token whose type differs from context.userId's). */
cds_rc cds_prefetch_render(const char *tmpl, const msgpack_object *request, cds_strbuf *out, cds_error *err);

#define CDS_PREFETCH_MAX_KEYS 64   /* per service; checked when the rule set loads */

typedef struct cds_prefetch_gap {
    size_t key;               /* index into the service's prefetch_keys */
    bool required;            /* listed in the service's required_prefetch */
    const msgpack_object *partial;   /* the Bundle sent with a next link; NULL when absent */
} cds_prefetch_gap;

/* Fills `out` (up to `cap`; CDS_PREFETCH_MAX_KEYS holds any service's) with the service's keys
 * the request leaves absent or paginated; returns how many there are. Cheap: one map lookup per
 * template key. */
size_t cds_prefetch_gaps(const cds_service *s, const msgpack_object *request, cds_prefetch_gap *out, size_t cap);

/* What a request holds for one of its service's prefetch keys, as the rules are run. */
typedef enum cds_prefetch_state {
    CDS_PF_SENT,              /* a resource or a complete searchset Bundle */
    CDS_PF_NONE,              /* null: the client has no data for the key (an empty list) */
    CDS_PF_PARTIAL,           /* a Bundle whose further pages could not be had */
    CDS_PF_ERROR,             /* an OperationOutcome: the client's (or cdsd's) fetch failed */
    CDS_PF_ABSENT,            /* not sent, and not fetched */
} cds_prefetch_state;

typedef struct cds_prefetch_status {
    const char *key;          /* the service's key */
    cds_prefetch_state state;
    bool required;            /* listed in the service's required_prefetch */
    const char *reason;       /* ERROR: the OperationOutcome's first diagnostics or details text
                                 (not NUL-terminated: reason_len bytes), else NULL */
    size_t reason_len;
} cds_prefetch_status;

/* One status per service key into out[0..s->nprefetch) (CDS_PREFETCH_MAX_KEYS holds any
 * service's); `prefetch` is the request's prefetch map or NULL. */
void cds_prefetch_status_of(const cds_service *s, const msgpack_object *prefetch, cds_prefetch_status *out);

/* "sent", "none", "partial", "error" or "absent": the names rules see in ctx.prefetch. */
const char *cds_prefetch_state_name(cds_prefetch_state st);

/* The `next` link of a searchset Bundle, or NULL. */
const msgpack_object *cds_bundle_next_link(const msgpack_object *bundle);

#endif
