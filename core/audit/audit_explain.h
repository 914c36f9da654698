/* audit_explain.h — one stored decision's cards with their explanations (card.ext "explain",
 * see core/engine/card_explain.h), printed for a person: `cdsd explain DECISION_ID`. */
#ifndef CDS_AUDIT_EXPLAIN_H
#define CDS_AUDIT_EXPLAIN_H

#include <msgpack.h>
#include <stdio.h>

#include "error.h"

/* Looks for the decision in one audit file (live log, archive or first-layout log) and prints it
 * to out: the decision (time, service, hook, outcome), each card (rule, indicator, uuid) with what
 * produced it, and the stored request when the server kept it (--audit-requests).
 * 1: printed; 0: not in this file; -1: the file could not be read (err). */
int cds_audit_explain(const char *path, const char *decision, FILE *out, cds_error *err);

/* Prints one explanation map as indented lines ("(no explanation stored)" for NULL). */
void cds_audit_explain_print(const msgpack_object *x, FILE *out);

#endif
