/* request.c — CDS Hooks request validation with field paths. */
#include "request.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mp.h"

static const char *type_name(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return "null";
    case MSGPACK_OBJECT_BOOLEAN: return "a boolean";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return "a number";
    case MSGPACK_OBJECT_STR: return "a string";
    case MSGPACK_OBJECT_ARRAY: return "an array";
    case MSGPACK_OBJECT_MAP: return "an object";
    default: return "binary data";
    }
}

/* Fetches map[key] expecting `type`; required fields must be present and non-empty. */
static cds_rc field(const msgpack_object *map, const char *base, const char *key, msgpack_object_type type,
                    bool required, const msgpack_object **out, cds_error *err)
{
    const msgpack_object *o = cds_mp_get(map, key);
    *out = NULL;
    char why[200];
    if (!o) {
        if (!required) return CDS_OK;
        snprintf(why, sizeof why, "required field '%s' is missing", key);
    } else if (o->type != type) {
        const char *want = type == MSGPACK_OBJECT_STR ? "a string" : type == MSGPACK_OBJECT_MAP ? "an object" : "an array";
        snprintf(why, sizeof why, "'%s' must be %s, not %s", key, want, type_name(o));
    } else if (type == MSGPACK_OBJECT_STR && o->via.str.size == 0) {
        snprintf(why, sizeof why, "'%s' must not be empty", key);
    } else {
        *out = o;
        return CDS_OK;
    }
    char path[256];   /* formatted only for an error: every request parses a dozen fields */
    snprintf(path, sizeof path, "%s.%s", base, key);
    return cds_error_set(err, CDS_EBADREQ, path, "%s", why);
}

static cds_rc str_field(cds_arena *a, const msgpack_object *map, const char *base, const char *key, bool required,
                        const char **out, cds_error *err)
{
    const msgpack_object *o;
    cds_rc rc = field(map, base, key, MSGPACK_OBJECT_STR, required, &o, err);
    *out = o ? cds_mp_strdup(a, o) : NULL;
    if (o && !*out) return cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory reading the request");
    return rc;
}

/* Context fields the spec requires, per hook (CDS-HOOKS.md §3). */
typedef struct hook_rule { const char *hook; bool user; bool encounter; const char *bundle; bool selections; } hook_rule;
static const hook_rule hooks[] = {
    {"patient-view", true, false, NULL, false},
    {"order-select", true, false, "draftOrders", true},
    {"order-sign", true, false, "draftOrders", false},
    {"order-dispatch", false, false, NULL, false},
    {"medication-prescribe", true, false, "medications", false},
    {"encounter-start", true, true, NULL, false},
    {"encounter-discharge", true, true, NULL, false},
    {"appointment-book", true, false, "appointments", false},
};

cds_rc cds_request_parse(const msgpack_object *root, const char *base, cds_arena *a, cds_request *out,
                         cds_error *err)
{
    memset(out, 0, sizeof *out);
    if (!root || root->type != MSGPACK_OBJECT_MAP)
        return cds_error_set(err, CDS_EBADREQ, base, "the request must be an object, not %s",
                             root ? type_name(root) : "absent");
    out->root = root;
    cds_rc rc;
    const msgpack_object *o;
    if ((rc = str_field(a, root, base, "hook", true, &out->hook, err))) return rc;
    if ((rc = str_field(a, root, base, "hookInstance", true, &out->hook_instance, err))) return rc;
    if ((rc = str_field(a, root, base, "fhirServer", false, &out->fhir_server, err))) return rc;
    if ((rc = field(root, base, "fhirAuthorization", MSGPACK_OBJECT_MAP, false, &out->fhir_authorization, err)))
        return rc;
    if (out->fhir_authorization && !out->fhir_server)
        return cds_error_set(err, CDS_EBADREQ, base, "'fhirServer' is required when 'fhirAuthorization' is present");
    if (out->fhir_authorization) {
        /* only the token is used (to fetch absent prefetch); the other fields are informational */
        char abase[256];
        snprintf(abase, sizeof abase, "%s.fhirAuthorization", base);
        const msgpack_object *tok;
        if ((rc = field(out->fhir_authorization, abase, "access_token", MSGPACK_OBJECT_STR, true, &tok, err))) return rc;
        for (uint32_t i = 0; i < tok->via.str.size; i++)   /* it becomes an HTTP header: no CR/LF injection */
            if ((unsigned char)tok->via.str.ptr[i] < 0x20 || tok->via.str.ptr[i] == 0x7f)
                return cds_error_set(err, CDS_EBADREQ, "request.fhirAuthorization.access_token",
                                     "'access_token' must not contain control characters");
        const msgpack_object *tt = cds_mp_get(out->fhir_authorization, "token_type");
        if (tt && !(cds_mp_is_str(tt) && tt->via.str.size == 6 && strncasecmp(tt->via.str.ptr, "Bearer", 6) == 0))
            return cds_error_set(err, CDS_EBADREQ, "request.fhirAuthorization.token_type", "'token_type' must be \"Bearer\"");
    }
    if ((rc = field(root, base, "context", MSGPACK_OBJECT_MAP, true, &out->context, err))) return rc;
    o = cds_mp_get(root, "prefetch");
    if (o && o->type != MSGPACK_OBJECT_NIL) {
        if ((rc = field(root, base, "prefetch", MSGPACK_OBJECT_MAP, false, &out->prefetch, err))) return rc;
    }

    char cbase[256];
    snprintf(cbase, sizeof cbase, "%s.context", base);
    const hook_rule *hr = NULL;
    for (size_t i = 0; i < sizeof hooks / sizeof hooks[0]; i++)
        if (strcmp(hooks[i].hook, out->hook) == 0) hr = &hooks[i];
    bool known = hr != NULL;
    if ((rc = str_field(a, out->context, cbase, "patientId", known, &out->patient_id, err))) return rc;
    if ((rc = str_field(a, out->context, cbase, "userId", known && hr->user, &out->user_id, err))) return rc;
    if ((rc = str_field(a, out->context, cbase, "encounterId", known && hr->encounter, &out->encounter_id, err)))
        return rc;
    const char *bundle_key = hr && hr->bundle ? hr->bundle : "draftOrders";
    if ((rc = field(out->context, cbase, bundle_key, MSGPACK_OBJECT_MAP, hr && hr->bundle, &out->draft_orders, err)))
        return rc;
    if (out->draft_orders) {
        char bpath[300];
        snprintf(bpath, sizeof bpath, "%s.%s", cbase, bundle_key);
        /* a Bundle (CDS Hooks); anything else would be read as one draft resource of no type */
        const msgpack_object *bt = cds_mp_get(out->draft_orders, "resourceType");
        if (!cds_mp_str_eq(bt, "Bundle")) {
            char tpath[320];
            snprintf(tpath, sizeof tpath, "%s.resourceType", bpath);
            return cds_error_set(err, CDS_EBADREQ, tpath, "'%s' must be a FHIR Bundle (resourceType 'Bundle')", bundle_key);
        }
        const msgpack_object *entries;
        if ((rc = field(out->draft_orders, bpath, "entry", MSGPACK_OBJECT_ARRAY, false, &entries, err))) return rc;
        for (uint32_t i = 0; entries && i < entries->via.array.size; i++) {
            const msgpack_object *e = &entries->via.array.ptr[i];
            /* the common case first, without formatting the paths an error would name */
            const msgpack_object *r0 = e->type == MSGPACK_OBJECT_MAP ? cds_mp_get(e, "resource") : NULL;
            const msgpack_object *t0 = r0 && r0->type == MSGPACK_OBJECT_MAP ? cds_mp_get(r0, "resourceType") : NULL;
            if (t0 && t0->type == MSGPACK_OBJECT_STR && t0->via.str.size) continue;
            char epath[320];
            snprintf(epath, sizeof epath, "%s.entry[%u]", bpath, i);
            if (e->type != MSGPACK_OBJECT_MAP)
                return cds_error_set(err, CDS_EBADREQ, epath, "a Bundle entry must be an object, not %s", type_name(e));
            const msgpack_object *res;
            if ((rc = field(e, epath, "resource", MSGPACK_OBJECT_MAP, true, &res, err))) return rc;
            char rpath[340];
            snprintf(rpath, sizeof rpath, "%s.resource", epath);
            const msgpack_object *rt;
            if ((rc = field(res, rpath, "resourceType", MSGPACK_OBJECT_STR, true, &rt, err))) return rc;
        }
    }
    if ((rc = field(out->context, cbase, "selections", MSGPACK_OBJECT_ARRAY, hr && hr->selections, &out->selections,
                    err)))
        return rc;
    for (uint32_t i = 0; out->selections && i < out->selections->via.array.size; i++) {
        const msgpack_object *s = &out->selections->via.array.ptr[i];
        if (s->type != MSGPACK_OBJECT_STR) {
            char spath[300];
            snprintf(spath, sizeof spath, "%s.selections[%u]", cbase, i);
            return cds_error_set(err, CDS_EBADREQ, spath, "a selection must be a string like 'MedicationRequest/123', not %s",
                                 type_name(s));
        }
    }
    return CDS_OK;
}
