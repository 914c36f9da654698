/* fuzz_pipeline.h — what a request's bytes reach before the rules run, for the fuzz targets
 * (header-only, one copy per target): the MessagePack decoder (checked against msgpack-c's
 * unpacker), CDS Hooks validation, the clinical view, the C screening and the order facts
 * (doses, daily totals, patient facts), with the shipped
 * knowledge base. Anything but success or bad_request aborts. */
#ifndef CDS_FUZZ_PIPELINE_H
#define CDS_FUZZ_PIPELINE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "dose.h"
#include "mp.h"
#include "patient_facts.h"
#include "request.h"
#include "ruleset.h"
#include "screen.h"
#include "view.h"

static cds_ruleset *rs;

static void load_rules(void)
{
    if (rs) return;
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_ruleset_opts o = {0};
    if (cds_ruleset_load(CDSD_SOURCE_DIR "/rules", &o, &rs, &diag)) {
        fprintf(stderr, "%s", diag.data);
        abort();
    }
    cds_strbuf_free(&diag);
}

/* Whether two objects are the same, a NaN equal to the same NaN: msgpack_object_equal compares
 * floats with ==, so a NaN is never equal to itself (AFL++ found that in seconds); packed
 * again, equal objects give equal bytes. */
static int same_object(msgpack_object a, msgpack_object b)
{
    if (msgpack_object_equal(a, b)) return 1;
    msgpack_sbuffer x, y;
    msgpack_sbuffer_init(&x);
    msgpack_sbuffer_init(&y);
    msgpack_packer px, py;
    msgpack_packer_init(&px, &x, msgpack_sbuffer_write);
    msgpack_packer_init(&py, &y, msgpack_sbuffer_write);
    msgpack_pack_object(&px, a);
    msgpack_pack_object(&py, b);
    int same = x.size == y.size && memcmp(x.data, y.data, x.size) == 0;
    msgpack_sbuffer_destroy(&x);
    msgpack_sbuffer_destroy(&y);
    return same;
}

static int fuzz_msgpack_request(const uint8_t *data, size_t size)
{
    load_rules();
    msgpack_unpacked u;
    cds_error err;
    cds_rc rc = cds_mp_decode((const char *)data, size, &u, &err);
    if (rc != CDS_OK) {
        if (rc != CDS_EBADREQ) abort();   /* hostile input is bad_request, never anything else */
        return 0;
    }
    /* Differential: whatever our single-pass decoder accepts, msgpack-c's own unpacker reads
     * as the same object (it is safe to call once the bytes have been checked). */
    msgpack_unpacked ref;
    msgpack_unpacked_init(&ref);
    size_t off = 0;
    if (msgpack_unpack_next(&ref, (const char *)data, size, &off) != MSGPACK_UNPACK_SUCCESS || off != size ||
        !same_object(ref.data, u.data))
        abort();
    msgpack_unpacked_destroy(&ref);
    cds_arena a;
    cds_arena_init(&a);
    cds_request req;
    if (cds_request_parse(&u.data, "request", &a, &req, &err) == CDS_OK) {
        cds_view v;
        if (cds_view_build(&req, rs->kb, 1700000000, &a, &v, &err) == CDS_OK) {
            cds_ddi_hit *d;
            cds_allergy_hit *h;
            cds_screen_interactions(&v, &a, &d);
            cds_screen_allergies(&v, &a, &h);
            /* the order facts dose rules read: every dose, the patient, every daily total */
            cds_view_patient_facts(&v);
            for (uint32_t i = 0; i < v.nmeds; i++) {
                const cds_dose *dose = cds_view_dose(&v, i);
                if (!dose->not_computed && !dose->ningredients) abort();   /* an amount with no ingredient */
                for (uint32_t g = 0; g < v.meds[i].ningredients; g++) {
                    cds_daily_total t;
                    cds_dose_daily_total(&v, v.meds[i].ingredients[g], g % 2 ? "oral" : NULL, &t);
                }
            }
        }
    }
    cds_arena_free(&a);
    msgpack_unpacked_destroy(&u);
    return 0;
}


#endif
