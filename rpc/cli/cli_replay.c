/* cli_replay.c — `cdsd replay --pack DIR [--state DIR [--archive-dir DIR]] [--since DATE]`: re-evaluates
 * the requests kept in the audit history (archives, then the live log; servers run with
 * --audit-requests) against another rule set and prints
 * the cards that would appear, disappear or change indicator. Card uuids are derived from
 * (hookInstance, rule, key), so the same card keeps its uuid across rule set versions. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "audit_history.h"
#include "cli.h"
#include "engine.h"
#include "mp.h"
#include "view.h"

typedef struct replay_counts { long replayed, appear, disappear, changed; } replay_counts;

/* Re-evaluates one stored decision and prints how its cards would change. */
static void replay_one(cds_engine *e, const cds_audit_stored *row, replay_counts *n)
{
    const cds_audit_card *before = row->cards;
    size_t nb = row->ncards;
    cds_error err;
    msgpack_unpacked env;
    if (cds_mp_decode(row->request, row->request_len, &env, &err)) return;
    cds_arena a;
    cds_arena_init(&a);
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    cds_eval_info info;
    if (cds_engine_call(e, row->service, cds_mp_get(&env.data, "request"), "request", (time_t)(row->time_ms / 1000), &a, &pk,
                        &info, &err) == CDS_OK) {
        const cds_card_out *after = info.cards;
        size_t na = info.ncards;
        n->replayed++;
        for (size_t i = 0; i < na; i++) {
            size_t k = 0;
            for (; k < nb && strcmp(before[k].uuid, after[i].uuid); k++) {}
            if (k == nb) { printf("%s  appears     %-24s %s\n", row->decision, after[i].rule, after[i].indicator); n->appear++; }
            else if (strcmp(before[k].indicator, after[i].indicator)) {
                printf("%s  changes     %-24s %s -> %s\n", row->decision, after[i].rule, before[k].indicator,
                       after[i].indicator);
                n->changed++;
            }
        }
        for (size_t k = 0; k < nb; k++) {
            size_t i = 0;
            for (; i < na && strcmp(before[k].uuid, after[i].uuid); i++) {}
            if (i == na) { printf("%s  disappears  %-24s %s\n", row->decision, before[k].rule, before[k].indicator); n->disappear++; }
        }
    }
    msgpack_sbuffer_destroy(&out);
    cds_arena_free(&a);
    msgpack_unpacked_destroy(&env);
}

int cli_replay(int argc, char **argv)
{
    const char *state = "var", *pack = NULL, *since = NULL, *archive_dir = NULL;
    static const struct option opts[] = {{"pack", 1, 0, 'p'}, {"state", 1, 0, 's'}, {"since", 1, 0, 'f'},
                                         {"archive-dir", 1, 0, 'a'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'p') pack = optarg;
        else if (c == 's') state = optarg;
        else if (c == 'f') since = optarg;
        else if (c == 'a') archive_dir = optarg;
        else return 2;
    }
    time_t t0 = 0;
    if (!pack || (since && !cds_parse_time(since, &t0))) {
        fprintf(stderr, "usage: cdsd replay --pack RULES_DIR [--state DIR [--archive-dir DIR]] [--since DATE]\n");
        return 2;
    }
    cds_ruleset *rs = cli_load_rules(pack, NULL, false);
    if (!rs) return 2;
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_engine *e = cds_engine_new(rs, &diag);
    cds_error err;
    cds_error_clear(&err);
    cds_audit_reader *rd = NULL;
    cds_audit_history h = {0};
    int status = 1;
    if (!e || !cds_audit_history_list(state, archive_dir, &h)) {
        fprintf(stderr, "cdsd replay: %s\n", e ? "out of memory" : diag.data);
        goto done;
    }
    replay_counts n = {0};
    int64_t last_seq = 0;   /* the files are one history: an entry in two files is read once */
    for (size_t f = 0; f < h.n; f++) {
        if (!(rd = cds_audit_reader_open(h.files[f], (int64_t)t0 * 1000, last_seq, &err))) {
            fprintf(stderr, "cdsd replay: %s\n", err.message);
            goto done;
        }
        cds_audit_stored row = {0};
        int more;
        while ((more = cds_audit_reader_next(rd, &row, &err)) == 1) {
            last_seq = row.seq;
            replay_one(e, &row, &n);
        }
        if (more < 0) {
            fprintf(stderr, "cdsd replay: %s\n", err.message);
            goto done;
        }
        cds_audit_reader_close(rd);
        rd = NULL;
    }
    printf("%ld decisions replayed against %s: %ld cards appear, %ld disappear, %ld change indicator\n", n.replayed, pack,
           n.appear, n.disappear, n.changed);
    if (!n.replayed) fprintf(stderr, "cdsd replay: no stored requests (was the server run with --audit-requests?)\n");
    status = 0;
done:
    cds_audit_reader_close(rd);
    cds_audit_history_free(&h);
    cds_engine_free(e);
    cds_strbuf_free(&diag);
    cds_ruleset_free(rs);
    return status;
}
