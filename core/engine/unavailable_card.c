/* unavailable_card.c — "screening did not run" cards for required prefetch that could not be had. */
#include "unavailable_card.h"

#include <stdio.h>
#include <string.h>

#include "utf8.h"

/* What each well-known key holds, in the clinician's words, and what depends on it. */
static const struct key_words {
    const char *key, *check, *list, *action;
} words[] = {
    {"allergies", "Allergy screening", "the allergy list", "Check the patient's allergies"},
    {"medications", "Interaction screening", "the active medication list",
     "Review the patient's current medications for interactions"},
    {"statements", "Home medication screening", "the home medication list",
     "Review the patient's home medications for interactions"},
    {"conditions", "Condition checks", "the problem list", "Review the patient's conditions"},
    {"observations", "Lab-based checks", "the lab results", "Review the patient's recent lab results"},
    {"patient", "Age and weight checks", "the patient's demographics", "Check the patient's age and weight"},
};

bool cds_unavailable(const cds_prefetch_status *st)
{
    return st->required && (st->state == CDS_PF_ABSENT || st->state == CDS_PF_ERROR || st->state == CDS_PF_PARTIAL);
}

void cds_unavailable_card_pack(msgpack_packer *pk, const cds_prefetch_status *st, const char *hook,
                               const char *hook_instance, const char *source_label, cds_arena *a,
                               cds_card_out *out)
{
    char generic_check[96], generic_list[96], generic_action[128];
    const struct key_words *w = NULL;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(words[i].key, st->key) == 0) w = &words[i];
    struct key_words g;
    if (!w) {
        snprintf(generic_check, sizeof generic_check, "Checks that need '%.40s'", st->key);
        snprintf(generic_list, sizeof generic_list, "the '%.40s' data", st->key);
        snprintf(generic_action, sizeof generic_action, "Review the patient's '%.40s' data", st->key);
        g = (struct key_words){st->key, generic_check, generic_list, generic_action};
        w = &g;
    }
    bool partial = st->state == CDS_PF_PARTIAL;
    bool ordering = hook && (strcmp(hook, "order-select") == 0 || strcmp(hook, "order-sign") == 0);
    char summary[300], detail[1400], reason[240] = "";
    if (partial)
        snprintf(summary, sizeof summary, "%s incomplete: only part of %s could be retrieved", w->check, w->list);
    else
        snprintf(summary, sizeof summary, "%s did not run: %s could not be retrieved", w->check, w->list);
    if (st->state == CDS_PF_ERROR && st->reason) {
        /* the server's own words, cut to a line and scrubbed to valid UTF-8 for JSON clients */
        size_t n = st->reason_len < 200 ? st->reason_len : 200;
        snprintf(reason, sizeof reason, "\n\nReason given: %.*s", (int)n, st->reason);
        cds_utf8_scrub(reason);
    }
    /* "allergy screening" inside a sentence */
    char check_lc[96];
    snprintf(check_lc, sizeof check_lc, "%s", w->check);
    if (check_lc[0] >= 'A' && check_lc[0] <= 'Z') check_lc[0] = (char)(check_lc[0] - 'A' + 'a');
    const char *what = ordering ? "this order" : "this review";
    if (partial)
        snprintf(detail, sizeof detail, "Only the first pages of %s could be retrieved, so %s did not cover the items "
                 "on the later pages. %s %s.%s", w->list, check_lc, w->action, ordering ? "before signing" : "yourself", reason);
    else
        snprintf(detail, sizeof detail, "%s %s %s, so %s did not run for %s. %s %s.%s",
                 st->state == CDS_PF_ERROR ? "The request for" : "The EHR did not send", w->list,
                 st->state == CDS_PF_ERROR ? "failed" : "and cdsd could not fetch it", check_lc, what, w->action,
                 ordering ? "before signing" : "yourself", reason);
    char rule[80], uuid[37];
    snprintf(rule, sizeof rule, "prefetch.%.60s", st->key);
    cds_uuid(hook_instance, rule, "unavailable", uuid);
    cds_card_source src = {source_label, rule, w->check};
    cds_explain ex = cds_card_explain_prefetch(st->key, partial ? "partial" : st->state == CDS_PF_ERROR ? "failed" : "absent", a);
    cds_card_pack_warning(pk, uuid, summary, detail, &src, ex);
    out->uuid = cds_arena_strdup(a, uuid);
    out->rule = cds_arena_strdup(a, rule);
    out->indicator = "warning";
    out->summary = cds_arena_strdup(a, summary);
    out->explain = ex.data;
    out->explain_len = ex.len;
}
