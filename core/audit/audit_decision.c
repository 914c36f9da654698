/* audit_decision.c — the audit row of one call, built from what the engine did: the rules that
 * ran (encoded against the rule set's list, audit_runs.h) and every card shown. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "audit_runs.h"
#include "digest.h"
#include "strbuf.h"

static bool pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    return msgpack_pack_str(pk, n) == 0 && msgpack_pack_str_body(pk, s, n) == 0;
}

/* The card's ext map (audit_layout.h): its key, why it was suppressed, what produced it; len 0
 * when it has none of them. False when out of memory. */
static bool card_ext(const cds_card_out *co, msgpack_sbuffer *sb, cds_audit_blob *out)
{
    *out = (cds_audit_blob){0};
    uint32_t n = (co->key != NULL) + (co->suppressed != NULL) + (co->explain != NULL);
    if (!n) return true;
    size_t start = sb->size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    bool ok = msgpack_pack_map(&pk, n) == 0;
    if (co->key) ok = ok && pack_str(&pk, "key") && pack_str(&pk, co->key);
    if (co->suppressed) ok = ok && pack_str(&pk, "suppressed") && pack_str(&pk, co->suppressed);
    if (co->explain) ok = ok && pack_str(&pk, "explain") && msgpack_sbuffer_write(sb, co->explain, co->explain_len) == 0;
    out->len = sb->size - start;
    out->data = (const void *)(uintptr_t)start;   /* an offset until the buffer stops moving */
    return ok;
}

cds_rc cds_audit_decision(cds_audit *a, const cds_audit_call *c, cds_audit_done_fn done, void *arg, bool alone)
{
    const cds_ruleset *rs = c->rs;
    const cds_eval_info *in = c->info;
    cds_strbuf runs, gen;
    cds_strbuf_init(&runs);
    cds_strbuf_init(&gen);
    cds_audit_runs_encode(&runs, in->runs, in->nruns, rs->rules, rs->nrules);
    cds_audit_gen_rules(&gen, rs->rules, rs->nrules);
    /* every card of the decision goes into the card index, so feedback on any of them joins */
    const char **lists = in->ncards ? malloc(3 * in->ncards * sizeof *lists) : NULL;
    cds_audit_blob *ext = in->ncards ? malloc(in->ncards * sizeof *ext) : NULL;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    cds_rc rc = CDS_EINTERNAL;
    if ((in->ncards && (!lists || !ext)) || runs.oom || gen.oom) goto out;
    for (size_t i = 0; i < in->ncards; i++) {
        lists[i] = in->cards[i].uuid;
        lists[in->ncards + i] = in->cards[i].rule;
        lists[2 * in->ncards + i] = in->cards[i].indicator;
        if (!card_ext(&in->cards[i], &sb, &ext[i])) goto out;
    }
    for (size_t i = 0; i < in->ncards; i++)
        if (ext[i].len) ext[i].data = sb.data + (uintptr_t)ext[i].data;
    char sha[65], pkey[65] = "";
    cds_sha256_hex(c->request, c->request_len, sha);
    if (in->patient_id) cds_audit_patient_key(a, in->patient_id, pkey);
    cds_audit_record rec = {
        .decision = c->decision, .outcome = c->code ? cds_rc_name(c->code) : "ok", .service = c->service,
        .hook = in->hook, .hook_instance = in->hook_instance, .caller = c->caller, .pack = rs->name,
        .pack_version = rs->version, .pack_digest = rs->digest, .kb_digest = cds_kb_digest(rs->kb),
        .gen_rules = gen.data, .runs = runs.data, .runs_len = runs.len, .error = c->error, .request_sha256 = sha,
        .patient_key = pkey[0] ? pkey : NULL, .decode_us = c->decode_us, .eval_us = c->eval_us, .total_us = c->total_us,
        .request_blob = c->keep_request ? c->request : NULL, .request_len = c->request_len,
        .card_uuid = lists, .card_rule = lists ? lists + in->ncards : NULL,
        .card_indicator = lists ? lists + 2 * in->ncards : NULL, .card_ext = ext, .ncards = in->ncards,
        .shadow = c->shadow};
    rc = done && rec.shadow ? cds_audit_write_lazy(a, &rec, done, arg)
         : done          ? cds_audit_write_async(a, &rec, done, arg, alone)
                         : cds_audit_write(a, &rec);
out:
    free(lists);
    free(ext);
    msgpack_sbuffer_destroy(&sb);
    cds_strbuf_free(&runs);
    cds_strbuf_free(&gen);
    return rc;
}
