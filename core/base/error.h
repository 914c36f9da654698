/* error.h — the one error enum of cdsd and the error record that says where.
 * Codes map 1:1 onto the wire protocol's stable error strings (DESIGN.md). */
#ifndef CDS_ERROR_H
#define CDS_ERROR_H

typedef enum cds_rc {
    CDS_OK = 0,
    CDS_EBADREQ,        /* bad_request: not MessagePack, wrong type, missing field */
    CDS_EUNKNOWN_OP,    /* unknown_op */
    CDS_EUNKNOWN_SVC,   /* unknown_service */
    CDS_EHOOK,          /* hook_mismatch */
    CDS_ETOOLARGE,      /* too_large */
    CDS_EPREFETCH,      /* prefetch_missing */
    CDS_EOVERLOAD,      /* overloaded */
    CDS_ETIMEOUT,       /* timeout */
    CDS_EINTERNAL,      /* internal */
    CDS_ELOAD,          /* a rule pack or knowledge table failed to load (file:line in message) */
    CDS_EIO,            /* a file or database could not be read or written */
    CDS_RC_COUNT
} cds_rc;

/* Where and why. `path` is a request field path ("request.context.draftOrders.entry[2]")
 * or empty; for files the location is in `message` as "file:line: ...". */
typedef struct cds_error {
    cds_rc code;
    char message[512];
    char path[256];
} cds_error;

/* Stable wire string for a code ("bad_request", ...). */
const char *cds_rc_name(cds_rc rc);

/* Fill `err` (may be NULL) and return `rc`. `path` may be NULL. */
cds_rc cds_error_set(cds_error *err, cds_rc rc, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

void cds_error_clear(cds_error *err);

#endif
