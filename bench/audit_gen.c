/* audit_gen.c — cdsd-audit-gen: writes a long synthetic audit history into a state directory
 * through the service's own row builder (cds_audit_decision: generation, compact runs, keyed
 * chain) and feedback store, on a clock that runs from --days ago to now. For the audit-scale
 * benchmarks of issue 23 (report time against history, verify time, archive under load).
 *
 * Mix per decision (order-sign 80%, order-select 20%): every rule of the loaded rule set runs
 * (time 1-60 us); 45% of decisions show one card, 10% two (info 50%, warning 33%, critical 17%);
 * a third of the cards get feedback (70% overridden with one of five reasons, 30% accepted);
 * 1% of calls fail (bad_request, prefetch_missing). Patients from a pool of 50,000 (keyed).
 * With --calls LIST ("SERVICE REQUEST.json" a line), each decision is instead one of those
 * requests (picked at random) evaluated by the rule set's engine at the decision's time: every
 * rule fires at its own steady rate, as on the requests, and a broken knowledge table shows in
 * the rows written after it (the firing-rate alarm test, issue 18).
 * --start DATE: the first day (default: --days before now), e.g. today for today's calls.
 * Usage: cdsd-audit-gen --state DIR [--rules DIR] [--days N] [--per-day N] [--seed N] [--calls LIST]
 *        [--start DATE] */
#include <getopt.h>
#include <msgpack.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "audit.h"
#include "audit_gen_calls.h"
#include "digest.h"
#include "mp.h"
#include "ruleset.h"
#include "view.h"

static atomic_llong clock_ms;

static int64_t fake_clock(void *arg)
{
    (void)arg;
    return atomic_load(&clock_ms);
}

static unsigned rnd(unsigned long long *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)(*s >> 33);
}

static void uuid(unsigned long long *s, char out[37])
{
    unsigned char b[16];
    for (int i = 0; i < 16; i++) b[i] = (unsigned char)rnd(s);
    cds_uuid_format(b, 4, out);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void noop_done(void *arg, cds_rc rc)
{
    if (rc != CDS_OK) ++*(long *)arg;
}

/* The day's feedback entries, stored in requests of up to 200 (the protocol's cap). */
typedef struct fb_entry { char card[37]; int overridden, reason; } fb_entry;

static void store_feedback(cds_audit *a, const fb_entry *e, size_t n)
{
    static const char *const reasons[][2] = {{"will-monitor", "Will monitor"}, {"benefit-outweighs-risk", "Benefit outweighs risk"},
                                             {"patient-tolerated", "Patient has tolerated before"},
                                             {"not-relevant", "Not relevant to this patient"}, {"other", "Other"}};
    for (size_t at = 0; at < n; at += 200) {
        size_t k = n - at < 200 ? n - at : 200;
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 1);
        msgpack_pack_str_with_body(&pk, "feedback", 8);
        msgpack_pack_array(&pk, k);
        for (size_t i = at; i < at + k; i++) {
            msgpack_pack_map(&pk, e[i].overridden ? 4 : 3);
            msgpack_pack_str_with_body(&pk, "card", 4);
            msgpack_pack_str_with_body(&pk, e[i].card, strlen(e[i].card));
            msgpack_pack_str_with_body(&pk, "outcome", 7);
            const char *o = e[i].overridden ? "overridden" : "accepted";
            msgpack_pack_str_with_body(&pk, o, strlen(o));
            msgpack_pack_str_with_body(&pk, "outcomeTimestamp", 16);
            msgpack_pack_str_with_body(&pk, "2026-01-01T00:00:00Z", 20);
            if (e[i].overridden) {
                const char *const *r = reasons[e[i].reason];
                msgpack_pack_str_with_body(&pk, "overrideReason", 14);
                msgpack_pack_map(&pk, 1);
                msgpack_pack_str_with_body(&pk, "reason", 6);
                msgpack_pack_map(&pk, 3);
                msgpack_pack_str_with_body(&pk, "system", 6);
                msgpack_pack_str_with_body(&pk, "http://example.org/override", 27);
                msgpack_pack_str_with_body(&pk, "code", 4);
                msgpack_pack_str_with_body(&pk, r[0], strlen(r[0]));
                msgpack_pack_str_with_body(&pk, "display", 7);
                msgpack_pack_str_with_body(&pk, r[1], strlen(r[1]));
            }
        }
        msgpack_unpacked u;
        cds_error err;
        if (cds_mp_decode(sb.data, sb.size, &u, &err) == CDS_OK) {
            if (cds_audit_feedback(a, "medication-safety", &u.data) != CDS_OK) fprintf(stderr, "feedback not stored\n");
            msgpack_unpacked_destroy(&u);
        }
        msgpack_sbuffer_destroy(&sb);
    }
}

int main(int argc, char **argv)
{
    const char *state = NULL, *rules = "rules", *calls_list = NULL, *start_day = NULL;
    long days = 365, per_day = 15000;
    unsigned long long seed = 23;
    static const struct option lo[] = {{"state", 1, 0, 's'}, {"rules", 1, 0, 'r'}, {"days", 1, 0, 'd'},
                                       {"per-day", 1, 0, 'p'}, {"seed", 1, 0, 'S'}, {"calls", 1, 0, 'c'},
                                       {"start", 1, 0, 'b'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (c == 's') state = optarg;
        else if (c == 'r') rules = optarg;
        else if (c == 'd') days = atol(optarg);
        else if (c == 'p') per_day = atol(optarg);
        else if (c == 'S') seed = strtoull(optarg, NULL, 10);
        else if (c == 'c') calls_list = optarg;
        else if (c == 'b') start_day = optarg;
        else return 2;
    }
    if (!state || days < 1 || per_day < 1) {
        fprintf(stderr, "usage: cdsd-audit-gen --state DIR [--rules DIR] [--days N] [--per-day N] [--seed N] [--calls LIST] "
                        "[--start DATE]\n");
        return 2;
    }
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_ruleset *rs = NULL;
    cds_ruleset_opts ro = {0};
    if (cds_ruleset_load(rules, &ro, &rs, &diag)) {
        fprintf(stderr, "%s", diag.data ? diag.data : "rules did not load\n");
        return 2;
    }
    gen_calls gc = {0};
    time_t start_t = 0;
    if ((calls_list && !gen_calls_load(&gc, calls_list, rs)) || (start_day && !cds_parse_time(start_day, &start_t))) {
        if (start_day && !start_t) fprintf(stderr, "--start: YYYY-MM-DD or RFC3339\n");
        return 2;
    }
    mkdir(state, 0700);
    char path[1100];
    snprintf(path, sizeof path, "%s/audit.db", state);
    cds_error err;
    cds_audit *a = cds_audit_open(path, false, &err);
    if (!a) {
        fprintf(stderr, "%s\n", err.message);
        return 2;
    }
    int64_t end = (int64_t)time(NULL) * 1000, start = start_day ? (int64_t)start_t * 1000 : end - days * 86400000LL;
    atomic_store(&clock_ms, start);
    cds_audit_set_clock(a, fake_clock, NULL);
    cds_audit_cache_kib(a, 512 * 1024);

    size_t nr = rs->nrules;
    cds_rule_run *runs = calloc(nr, sizeof *runs);
    fb_entry *fb = malloc((size_t)per_day * 2 * sizeof *fb);
    static const char *const inds[] = {"info", "info", "info", "warning", "warning", "critical"};
    long decisions = 0, cards = 0, feedback = 0, failed = 0;
    double t0 = now_s();
    for (long d = 0; d < days; d++) {
        size_t nfb = 0;
        for (long i = 0; i < per_day; i++) {
            atomic_store(&clock_ms, start + d * 86400000LL + i * (86400000LL / per_day));
            char id[37], hi[37], cu[2][37], patient[32], caller[32];
            uuid(&seed, id);
            uuid(&seed, hi);
            snprintf(patient, sizeof patient, "patient-%u", rnd(&seed) % 50000);
            snprintf(caller, sizeof caller, "10.0.%u.%u", rnd(&seed) % 4, rnd(&seed) % 250);
            unsigned r = rnd(&seed) % 100;
            size_t ncards = gc.n ? 0 : r < 45 ? 1 : r < 55 ? 2 : 0;   /* --calls: the engine's cards */
            cds_card_out co[2];
            for (size_t k = 0; k < nr; k++)
                runs[k] = (cds_rule_run){.rule = rs->rules[k].id, .version = rs->rules[k].version,
                                         .micros = 1 + (double)(rnd(&seed) % 600) / 10.0};
            for (size_t k = 0; k < ncards; k++) {
                size_t which = rnd(&seed) % nr;
                runs[which].cards++;
                uuid(&seed, cu[k]);
                co[k] = (cds_card_out){.uuid = cu[k], .rule = rs->rules[which].id, .indicator = inds[rnd(&seed) % 6]};
                if (rnd(&seed) % 3 == 0) {
                    snprintf(fb[nfb].card, sizeof fb[nfb].card, "%s", cu[k]);
                    fb[nfb].overridden = rnd(&seed) % 10 < 7;
                    fb[nfb++].reason = (int)(rnd(&seed) % 5);
                }
            }
            bool select = rnd(&seed) % 5 == 0, fails = rnd(&seed) % 100 == 0;
            cds_eval_info info = {.runs = fails ? NULL : runs, .nruns = fails ? 0 : nr, .cards = co, .ncards = fails ? 0 : ncards,
                                  .patient_id = patient, .hook = select ? "order-select" : "order-sign", .hook_instance = hi};
            const char *service = "medication-safety";
            cds_arena arena;
            cds_arena_init(&arena);
            if (gc.n) {   /* a real call instead: the engine's runs and cards */
                size_t which = rnd(&seed) % gc.n;
                fails = gen_calls_eval(&gc, which, (time_t)(atomic_load(&clock_ms) / 1000), &arena, &info) != CDS_OK;
                if (fails) failed++;
                service = gc.call[which].service;
            }
            unsigned char req[64];
            for (size_t k = 0; k < sizeof req; k++) req[k] = (unsigned char)rnd(&seed);
            cds_audit_call call = {.decision = id, .service = service, .caller = caller,
                                   .code = fails ? (r % 2 ? CDS_EBADREQ : CDS_EPREFETCH) : CDS_OK,
                                   .error = fails ? "synthetic failure" : NULL, .rs = rs, .info = &info,
                                   .request = (const char *)req, .request_len = sizeof req,
                                   .decode_us = 20 + rnd(&seed) % 200, .eval_us = 30 + rnd(&seed) % 300,
                                   .total_us = 80 + rnd(&seed) % 900};
            if (cds_audit_decision(a, &call, noop_done, &failed, false) != CDS_OK) failed++;
            cds_arena_free(&arena);   /* the record was copied */
            decisions++;
            cards += (long)info.ncards;
            if (decisions % 20000 == 0) cds_audit_flush(a);   /* bounds the queue */
        }
        cds_audit_flush(a);
        store_feedback(a, fb, nfb);
        feedback += (long)nfb;
        if ((d + 1) % 30 == 0 || d + 1 == days)
            fprintf(stderr, "day %ld: %ld decisions, %ld cards, %ld feedback (%.0f rows/s)\n", d + 1, decisions, cards, feedback,
                    (double)(decisions + cards + feedback) / (now_s() - t0));
    }
    cds_audit_close(a);
    double secs = now_s() - t0;
    printf("%ld decisions, %ld cards, %ld feedback entries = %ld rows over %ld days in %.1f s (%.0f rows/s)%s\n", decisions,
           cards, feedback, decisions + cards + feedback, days, secs, (double)(decisions + cards + feedback) / secs,
           failed ? "; WRITES FAILED" : "");
    free(runs);
    free(fb);
    gen_calls_free(&gc);
    cds_ruleset_free(rs);
    cds_strbuf_free(&diag);
    return failed ? 1 : 0;
}
