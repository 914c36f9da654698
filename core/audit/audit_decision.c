/* audit_decision.c — the audit row of one call, built from what the engine did: the rules that
 * ran and every card shown, in the shape the log stores (see audit.h). */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "digest.h"
#include "strbuf.h"

static void rules_json(cds_strbuf *b, const cds_eval_info *in)
{
    cds_strbuf_putc(b, '[');
    for (size_t i = 0; i < in->nruns; i++) {
        const cds_rule_run *r = &in->runs[i];
        cds_strbuf_puts(b, i ? ",{\"rule\":" : "{\"rule\":");
        cds_strbuf_json_string(b, r->rule, strlen(r->rule));
        cds_strbuf_puts(b, ",\"version\":");
        cds_strbuf_json_string(b, r->version, strlen(r->version));
        cds_strbuf_printf(b, ",\"cards\":%d,\"us\":", r->cards);
        cds_strbuf_tenths(b, r->micros);
        if (r->error) {
            cds_strbuf_puts(b, ",\"error\":");
            cds_strbuf_json_string(b, r->error, strlen(r->error));
        }
        cds_strbuf_putc(b, '}');
    }
    cds_strbuf_putc(b, ']');
}

static void cards_json(cds_strbuf *b, const cds_eval_info *in)
{
    cds_strbuf_putc(b, '[');
    for (size_t i = 0; i < in->ncards; i++) {
        const cds_card_out *c = &in->cards[i];
        cds_strbuf_puts(b, i ? ",{\"uuid\":" : "{\"uuid\":");
        cds_strbuf_json_string(b, c->uuid, strlen(c->uuid));
        cds_strbuf_puts(b, ",\"rule\":");
        cds_strbuf_json_string(b, c->rule, strlen(c->rule));
        cds_strbuf_puts(b, ",\"indicator\":");
        cds_strbuf_json_string(b, c->indicator, strlen(c->indicator));
        cds_strbuf_putc(b, '}');
    }
    cds_strbuf_putc(b, ']');
}

cds_rc cds_audit_decision(cds_audit *a, const cds_audit_call *c, cds_audit_done_fn done, void *arg, bool alone)
{
    const cds_ruleset *rs = c->rs;
    const cds_eval_info *in = c->info;
    cds_strbuf rules, cards;
    cds_strbuf_init(&rules);
    cds_strbuf_init(&cards);
    rules_json(&rules, in);
    cards_json(&cards, in);
    /* every card of the decision goes into the card index, so feedback on any of them joins */
    const char **lists = in->ncards ? malloc(3 * in->ncards * sizeof *lists) : NULL;
    cds_rc rc = CDS_EINTERNAL;
    if ((in->ncards && !lists) || rules.oom || cards.oom) goto out;
    for (size_t i = 0; i < in->ncards; i++) {
        lists[i] = in->cards[i].uuid;
        lists[in->ncards + i] = in->cards[i].rule;
        lists[2 * in->ncards + i] = in->cards[i].indicator;
    }
    char sha[65], pkey[65] = "";
    cds_sha256_hex(c->request, c->request_len, sha);
    if (in->patient_id) cds_audit_patient_key(a, in->patient_id, pkey);
    cds_audit_record rec = {
        .decision = c->decision, .outcome = c->code ? cds_rc_name(c->code) : "ok", .service = c->service,
        .hook = in->hook, .hook_instance = in->hook_instance, .caller = c->caller, .pack = rs->name,
        .pack_version = rs->version, .pack_digest = rs->digest, .kb_digest = cds_kb_digest(rs->kb),
        .rules_json = rules.data, .cards_json = cards.data, .error = c->error, .request_sha256 = sha,
        .patient_key = pkey[0] ? pkey : NULL, .decode_us = c->decode_us, .eval_us = c->eval_us, .total_us = c->total_us,
        .request_blob = c->keep_request ? c->request : NULL, .request_len = c->request_len,
        .card_uuid = lists, .card_rule = lists ? lists + in->ncards : NULL,
        .card_indicator = lists ? lists + 2 * in->ncards : NULL, .ncards = in->ncards};
    rc = done ? cds_audit_write_async(a, &rec, done, arg, alone) : cds_audit_write(a, &rec);
out:
    free(lists);
    cds_strbuf_free(&rules);
    cds_strbuf_free(&cards);
    return rc;
}
