/* shadow_report.c — live against candidate on the same calls (see shadow_report.h). */
#include "shadow_report.h"

#include <msgpack.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "audit_file.h"
#include "grow.h"
#include "mp.h"

/* The shadow service's caller column (rpc/service/shadow.h CDS_SHADOW_CALLER_PREFIX). */
#define SHADOW_OF "shadow of "

typedef struct shadow_card {
    char rule[128], key[128], indicator[16];
    bool matched;
} shadow_card;

typedef struct card_list {
    shadow_card *c;
    size_t n, cap;
} card_list;

typedef struct build {
    cds_shadow_report *r;
    size_t cap;
    bool oom;
} build;

static const char *txt(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? (const char *)s : "";
}

static cds_shadow_rule *rule_at(build *b, const char *rule)
{
    cds_shadow_report *r = b->r;
    for (size_t i = 0; i < r->nrules; i++)
        if (!strcmp(r->rules[i].rule, rule)) return &r->rules[i];
    if (!cds_grow(&r->rules, &b->cap, r->nrules + 1, sizeof *r->rules)) {
        b->oom = true;
        return NULL;
    }
    cds_shadow_rule *s = &r->rules[r->nrules++];
    memset(s, 0, sizeof *s);
    snprintf(s->rule, sizeof s->rule, "%s", rule);
    return s;
}

static void example(char ex[CDS_SHADOW_EXAMPLES][37], long count, const char *decision)
{
    if (count <= CDS_SHADOW_EXAMPLES) snprintf(ex[count - 1], 37, "%s", decision);
}

/* The card key in a card's ext map ("#n" style keys included); "" when the log has none. */
static void card_key(const void *ext, int len, char *out, size_t n)
{
    out[0] = '\0';
    if (!ext || len <= 0) return;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, ext, (size_t)len, NULL) == MSGPACK_UNPACK_SUCCESS && u.data.type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *k = cds_mp_get(&u.data, "key");
        if (k && k->type == MSGPACK_OBJECT_STR)
            snprintf(out, n, "%.*s", (int)k->via.str.size, k->via.str.ptr);
    }
    msgpack_unpacked_destroy(&u);
}

static bool read_cards(sqlite3_stmt *cards, int64_t seq, card_list *l)
{
    l->n = 0;
    sqlite3_reset(cards);
    sqlite3_bind_int64(cards, 1, seq);
    while (sqlite3_step(cards) == SQLITE_ROW) {
        if (!cds_grow(&l->c, &l->cap, l->n + 1, sizeof *l->c)) return false;
        shadow_card *c = &l->c[l->n++];
        snprintf(c->rule, sizeof c->rule, "%s", txt(cards, 0));
        snprintf(c->indicator, sizeof c->indicator, "%s", txt(cards, 1));
        card_key(sqlite3_column_blob(cards, 2), sqlite3_column_bytes(cards, 2), c->key, sizeof c->key);
        c->matched = false;
    }
    return true;
}

/* Rules that gave a card in this list, counted once per call. */
static void count_fired(build *b, const card_list *l, bool shadow)
{
    for (size_t i = 0; i < l->n && !b->oom; i++) {
        bool first = true;
        for (size_t j = 0; j < i; j++) first = first && strcmp(l->c[j].rule, l->c[i].rule);
        cds_shadow_rule *s = rule_at(b, l->c[i].rule);
        if (!s) return;
        if (shadow) s->shadow_cards++, s->shadow_fired += first;
        else s->live_cards++, s->live_fired += first;
    }
}

/* One call seen by both: cards matched on rule + card key. */
static void compare(build *b, card_list *live, card_list *cand, const char *decision)
{
    count_fired(b, live, false);
    count_fired(b, cand, true);
    for (size_t i = 0; i < live->n && !b->oom; i++) {
        shadow_card *lc = &live->c[i];
        shadow_card *m = NULL;
        for (size_t j = 0; j < cand->n && !m; j++)
            if (!cand->c[j].matched && !strcmp(cand->c[j].rule, lc->rule) && !strcmp(cand->c[j].key, lc->key)) m = &cand->c[j];
        cds_shadow_rule *s = rule_at(b, lc->rule);
        if (!s) return;
        if (!m) {
            example(s->vanished_ex, ++s->vanished, decision);
            continue;
        }
        m->matched = true;
        if (strcmp(m->indicator, lc->indicator)) {
            example(s->changed_ex, ++s->changed, decision);
            if (!s->changed_how[0]) snprintf(s->changed_how, sizeof s->changed_how, "%s -> %s", lc->indicator, m->indicator);
        }
    }
    for (size_t j = 0; j < cand->n && !b->oom; j++) {
        if (cand->c[j].matched) continue;
        cds_shadow_rule *s = rule_at(b, cand->c[j].rule);
        if (s) example(s->added_ex, ++s->added, decision);
    }
}

static void pack_of(sqlite3 *db, int shadow, char *out, size_t n)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT g.pack, g.pack_version, substr(g.pack_digest, 1, 16) FROM main.decision d"
                               " JOIN generation g ON g.id = d.gen WHERE d.shadow IS ?1 ORDER BY d.seq DESC LIMIT 1",
                           -1, &st, NULL) == SQLITE_OK) {
        if (shadow) sqlite3_bind_int(st, 1, 1);
        if (sqlite3_step(st) == SQLITE_ROW) snprintf(out, n, "%s %s (%s)", txt(st, 0), txt(st, 1), txt(st, 2));
    }
    sqlite3_finalize(st);
}

static cds_rc add_file(build *b, const char *path, int64_t since, int64_t until, cds_error *err)
{
    sqlite3 *db = cds_audit_file_open(path, err);
    if (!db) return CDS_EIO;
    sqlite3_stmt *pairs = NULL, *cards = NULL;
    /* the live decision is found through its unique index; a log without the shadow column, or
     * in the first layout, has no shadow decisions and fails here with a clear message */
    if (sqlite3_prepare_v2(db, "SELECT s.seq, s.outcome, l.seq, l.decision FROM main.decision s"
                               " LEFT JOIN main.decision l ON l.decision = substr(s.caller, length('" SHADOW_OF "') + 1)"
                               " WHERE s.shadow = 1 AND s.time_ms >= ?1 AND s.time_ms < ?2 ORDER BY s.seq",
                           -1, &pairs, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT rule, indicator, ext FROM card WHERE decision = ? ORDER BY ord", -1, &cards, NULL) !=
            SQLITE_OK) {
        cds_error_set(err, CDS_EIO, NULL, "%s: %s (an audit log written by cdsd serve --shadow?)", path, sqlite3_errmsg(db));
        sqlite3_finalize(pairs);
        sqlite3_close(db);
        return CDS_EIO;
    }
    sqlite3_bind_int64(pairs, 1, since);
    sqlite3_bind_int64(pairs, 2, until);
    card_list live = {0}, cand = {0};
    while (!b->oom && sqlite3_step(pairs) == SQLITE_ROW) {
        if (strcmp(txt(pairs, 1), "ok")) b->r->shadow_errors++;
        if (sqlite3_column_type(pairs, 2) == SQLITE_NULL) {
            b->r->unmatched++;
            continue;
        }
        b->r->calls++;
        if (!read_cards(cards, sqlite3_column_int64(pairs, 2), &live) || !read_cards(cards, sqlite3_column_int64(pairs, 0), &cand))
            b->oom = true;
        else compare(b, &live, &cand, txt(pairs, 3));
    }
    if (!b->r->live_pack[0]) pack_of(db, 0, b->r->live_pack, sizeof b->r->live_pack);
    if (!b->r->shadow_pack[0]) pack_of(db, 1, b->r->shadow_pack, sizeof b->r->shadow_pack);
    free(live.c);
    free(cand.c);
    sqlite3_finalize(pairs);
    sqlite3_finalize(cards);
    sqlite3_close(db);
    return CDS_OK;
}

static int cmp_rule(const void *a, const void *b)
{
    return strcmp(((const cds_shadow_rule *)a)->rule, ((const cds_shadow_rule *)b)->rule);
}

cds_rc cds_shadow_report_build(const char *const *paths, size_t npaths, int64_t since, int64_t until, cds_shadow_report *out,
                               cds_error *err)
{
    memset(out, 0, sizeof *out);
    build b = {.r = out};
    for (size_t i = 0; i < npaths; i++) {
        cds_rc rc = add_file(&b, paths[i], since, until, err);
        if (rc != CDS_OK) {
            cds_shadow_report_free(out);
            return rc;
        }
    }
    if (b.oom) {
        cds_shadow_report_free(out);
        return cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory");
    }
    if (out->nrules) qsort(out->rules, out->nrules, sizeof *out->rules, cmp_rule);
    return CDS_OK;
}

static void examples(FILE *f, const char *what, long n, const char ex[CDS_SHADOW_EXAMPLES][37], const char *how)
{
    if (!n) return;
    fprintf(f, "    %s%s%s: e.g.", what, how ? " " : "", how ? how : "");
    for (long i = 0; i < n && i < CDS_SHADOW_EXAMPLES; i++) fprintf(f, " %s", ex[i]);
    fprintf(f, "\n");
}

static double pct(long n, long d) { return d ? 100.0 * (double)n / (double)d : 0; }

void cds_shadow_report_text(const cds_shadow_report *r, FILE *f)
{
    fprintf(f, "Shadow comparison: %ld call(s) evaluated by both rule sets\n", r->calls);
    fprintf(f, "  live:      %s\n  candidate: %s\n", r->live_pack[0] ? r->live_pack : "-",
            r->shadow_pack[0] ? r->shadow_pack : "-");
    if (r->unmatched) fprintf(f, "  %ld shadow decision(s) whose live decision is not in these files (not compared)\n", r->unmatched);
    if (r->shadow_errors) fprintf(f, "  %ld call(s) failed in the candidate set (their shadow decisions carry the error)\n", r->shadow_errors);
    if (!r->calls) {
        fprintf(f, "  no shadow decisions in this period (is cdsd serve running with --shadow?)\n");
        return;
    }
    fprintf(f, "\n%-32s %16s %16s %6s %9s %10s\n", "rule", "live fired", "candidate fired", "new", "vanished", "indicator");
    for (size_t i = 0; i < r->nrules; i++) {
        const cds_shadow_rule *s = &r->rules[i];
        char lf[32], sf[32];
        snprintf(lf, sizeof lf, "%.1f%% (%ld)", pct(s->live_fired, r->calls), s->live_fired);
        snprintf(sf, sizeof sf, "%.1f%% (%ld)", pct(s->shadow_fired, r->calls), s->shadow_fired);
        fprintf(f, "%-32s %16s %16s %6ld %9ld %10ld%s\n", s->rule, lf, sf, s->added, s->vanished, s->changed,
                s->added || s->vanished || s->changed ? "" : "  (same)");
        examples(f, "new", s->added, s->added_ex, NULL);
        examples(f, "vanished", s->vanished, s->vanished_ex, NULL);
        examples(f, "indicator", s->changed, s->changed_ex, s->changed_how);
    }
    fprintf(f, "\nExamples are live decision ids; the candidate's decision on the same call has caller 'shadow of ID'.\n");
}

void cds_shadow_report_free(cds_shadow_report *r)
{
    free(r->rules);
    r->rules = NULL;
    r->nrules = 0;
}
