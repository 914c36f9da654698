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

/* The `next` link of a searchset Bundle, or NULL. */
const msgpack_object *cds_bundle_next_link(const msgpack_object *bundle);

#endif
