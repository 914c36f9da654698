/* suppression.h — repeat suppression for one call and the feedback that feeds it (README
 * "Repeat suppression"): the service side of the engine's cds_suppress_hook, on a
 * cds_suppress_store, with the patient as the audit log's pseudonymous key. */
#ifndef CDS_SUPPRESSION_H
#define CDS_SUPPRESSION_H

#include <msgpack.h>
#include <stdint.h>

#include "audit.h"
#include "engine.h"
#include "suppress_store.h"

typedef struct cds_suppress_candidate cds_suppress_candidate;

typedef struct cds_suppression {
    cds_suppress_hook hook;
    cds_suppress_store *store;
    char patient[65];         /* the pseudonymous key */
    const char *encounter;    /* NULL: the call names none (once_per = "encounter" does not apply) */
    int64_t now_ms;
    cds_suppress_candidate *seen;   /* cards of suppressing rules, to note once the call succeeded */
} cds_suppression;

/* Hooks suppression into the prepared call c when there is a store, an audit log (for the
 * patient key) and a patient; else leaves c alone. s must outlive the engine run. */
void cds_suppression_begin(cds_suppression *s, cds_suppress_store *store, const cds_audit *audit, cds_call *c,
                           int64_t now_ms);

/* The call succeeded: its cards of suppressing rules are noted as shown. */
void cds_suppression_note(cds_suppression *s);

/* Validated feedback ({"feedback": [...]}): each "overridden" card's alert is noted overridden
 * for its patient at now_ms (when received). false when the store failed. */
bool cds_suppression_feedback(cds_suppress_store *store, const msgpack_object *request, int64_t now_ms);

#endif
