/* error.c — error codes and their wire names. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

static const char *const names[CDS_RC_COUNT] = {
    [CDS_OK] = "ok",
    [CDS_EBADREQ] = "bad_request",
    [CDS_EUNKNOWN_OP] = "unknown_op",
    [CDS_EUNKNOWN_SVC] = "unknown_service",
    [CDS_EHOOK] = "hook_mismatch",
    [CDS_ETOOLARGE] = "too_large",
    [CDS_EPREFETCH] = "prefetch_missing",
    [CDS_EOVERLOAD] = "overloaded",
    [CDS_ETIMEOUT] = "timeout",
    [CDS_EINTERNAL] = "internal",
    [CDS_ELOAD] = "load_error",
    [CDS_EIO] = "io_error",
};

const char *cds_rc_name(cds_rc rc)
{
    if ((unsigned)rc >= CDS_RC_COUNT) return "internal";
    return names[rc];
}

cds_rc cds_error_set(cds_error *err, cds_rc rc, const char *path, const char *fmt, ...)
{
    if (!err) return rc;
    err->code = rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    snprintf(err->path, sizeof err->path, "%s", path ? path : "");
    /* messages and paths go out as JSON and into logs: a rule's error(string.char(255)), or a
     * multi-byte character cut at the buffer's end, must not make them malformed */
    cds_utf8_scrub(err->message);
    cds_utf8_scrub(err->path);
    return rc;
}

void cds_error_clear(cds_error *err)
{
    if (!err) return;
    err->code = CDS_OK;
    err->message[0] = '\0';
    err->path[0] = '\0';
}
