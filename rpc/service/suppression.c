/* suppression.c — the service side of repeat suppression: asks the store whether a card repeats
 * an alert the patient's clinician overrode (within the rule's window) or already saw in this
 * encounter, and feeds the store with the cards shown and the overrides reported. */
#include "suppression.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mp.h"

struct cds_suppress_candidate {
    const char *rule, *key, *uuid;
    cds_suppress_candidate *next;
};

/* "90d", "12h": the window as the rule declared it (whole days or hours). */
static void window_text(long s, char *out, size_t len)
{
    if (s % 86400 == 0) snprintf(out, len, "%ldd", s / 86400);
    else snprintf(out, len, "%ldh", s / 3600);
}

static const char *repeat(void *arg, const cds_rule_info *rule, const char *key, const char *card_uuid, cds_arena *a)
{
    cds_suppression *s = arg;
    cds_suppress_candidate *cand = cds_arena_alloc(a, sizeof *cand);
    if (cand) {
        *cand = (cds_suppress_candidate){rule->id, cds_arena_strdup(a, key), cds_arena_strdup(a, card_uuid), s->seen};
        s->seen = cand;
    }
    cds_suppress_seen seen;
    const char *enc = rule->suppress.once_per_encounter ? s->encounter : NULL;
    if (!s->store->lookup(s->store, s->patient, rule->id, key, enc, card_uuid, &seen)) return NULL;   /* shown as made */
    long win = rule->suppress.after_override_s;
    if (win && seen.overridden_ms && s->now_ms - seen.overridden_ms < (int64_t)win * 1000) {
        time_t t = (time_t)(seen.overridden_ms / 1000);
        struct tm tm;
        char day[16], w[24];
        gmtime_r(&t, &tm);
        strftime(day, sizeof day, "%Y-%m-%d", &tm);
        window_text(win, w, sizeof w);
        return cds_arena_printf(a, "overridden %s (card %s), within %s", day, seen.override_card, w);
    }
    if (seen.shown_in_encounter) return "already shown in this encounter";
    return NULL;
}

void cds_suppression_begin(cds_suppression *s, cds_suppress_store *store, const cds_audit *audit, cds_call *c,
                           int64_t now_ms)
{
    memset(s, 0, sizeof *s);
    if (!store || !audit || !c->req.patient_id) return;
    s->store = store;
    cds_audit_patient_key(audit, c->req.patient_id, s->patient);
    s->encounter = c->req.encounter_id;
    s->now_ms = now_ms;
    s->hook = (cds_suppress_hook){repeat, s};
    c->suppress = &s->hook;
}

void cds_suppression_note(cds_suppression *s)
{
    for (cds_suppress_candidate *c = s->seen; c; c = c->next)
        if (c->key && c->uuid) s->store->note_shown(s->store, s->patient, c->rule, c->key, s->encounter, c->uuid, s->now_ms);
}

bool cds_suppression_feedback(cds_suppress_store *store, const msgpack_object *request, int64_t now_ms)
{
    const msgpack_object *fb = cds_mp_get(request, "feedback");
    bool ok = true;
    for (uint32_t i = 0; store && fb && i < fb->via.array.size; i++) {
        const msgpack_object *e = &fb->via.array.ptr[i];
        const msgpack_object *card = cds_mp_get(e, "card");
        if (!cds_mp_str_eq(cds_mp_get(e, "outcome"), "overridden") || card->via.str.size >= 37) continue;
        char uuid[37];
        snprintf(uuid, sizeof uuid, "%.*s", (int)card->via.str.size, card->via.str.ptr);
        ok &= store->note_override(store, uuid, now_ms);
    }
    return ok;
}
