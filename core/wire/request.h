/* request.h — a CDS Hooks 2.0 request object, validated.
 * All pointers borrow from the decoded MessagePack object (msgpack zone) or the arena:
 * they live as long as both do. */
#ifndef CDS_REQUEST_H
#define CDS_REQUEST_H

#include <msgpack.h>

#include "arena.h"
#include "error.h"

typedef struct cds_request {
    const char *hook;
    const char *hook_instance;
    const char *fhir_server;        /* NULL when absent */
    const char *user_id, *patient_id, *encounter_id;   /* NULL when absent */
    const msgpack_object *root;     /* the request map */
    const msgpack_object *context;  /* map */
    const msgpack_object *prefetch; /* map or NULL */
    const msgpack_object *draft_orders;  /* Bundle map or NULL */
    const msgpack_object *selections;    /* array of str or NULL (order-select) */
    const msgpack_object *fhir_authorization; /* map or NULL; never logged or stored */
} cds_request;

/* Validates `root` against CDS Hooks 2.0 (required fields and JSON types, the hook's required
 * context fields for the hooks the spec defines). Paths in errors start at `base`
 * (e.g. "request"). */
cds_rc cds_request_parse(const msgpack_object *root, const char *base, cds_arena *a, cds_request *out,
                         cds_error *err);

#endif
