/* feedback_json.h — stores a CDS Hooks feedback body given as JSON (header-only, for the audit
 * tests). */
#ifndef CDS_TEST_FEEDBACK_JSON_H
#define CDS_TEST_FEEDBACK_JSON_H

#include "audit.h"
#include "json.h"
#include "mp.h"

static cds_rc feedback_json(cds_audit *a, const char *json)
{
    cds_error err;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    assert_int_equal(cds_json_to_mp(json, strlen(json), "feedback", &sb, &err), CDS_OK);
    msgpack_unpacked u;
    assert_int_equal(cds_mp_decode(sb.data, sb.size, &u, &err), CDS_OK);
    cds_rc rc = cds_audit_feedback(a, "medication-safety", &u.data);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

#endif
