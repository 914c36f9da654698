/* cli_replay.c — `cdsd replay --pack DIR [--state DIR] [--since DATE]`: re-evaluates the requests
 * kept in the audit log (servers run with --audit-requests) against another rule set and prints
 * the cards that would appear, disappear or change indicator. Card uuids are derived from
 * (hookInstance, rule, key), so the same card keeps its uuid across rule set versions. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "engine.h"
#include "mp.h"
#include "view.h"

typedef struct card_ref { char uuid[40], rule[128], indicator[16]; } card_ref;

static size_t stored_cards(const char *json, card_ref *out, size_t max)
{
    cJSON *a = cJSON_Parse(json ? json : "[]"), *c;
    size_t n = 0;
    cJSON_ArrayForEach(c, a) {
        if (n == max) break;
        snprintf(out[n].uuid, sizeof out[n].uuid, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(c, "uuid")) ?: "");
        snprintf(out[n].rule, sizeof out[n].rule, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(c, "rule")) ?: "");
        snprintf(out[n].indicator, sizeof out[n].indicator, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(c, "indicator")) ?: "");
        n++;
    }
    cJSON_Delete(a);
    return n;
}

int cli_replay(int argc, char **argv)
{
    const char *state = "var", *pack = NULL, *since = NULL;
    static const struct option opts[] = {{"pack", 1, 0, 'p'}, {"state", 1, 0, 's'}, {"since", 1, 0, 'f'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'p') pack = optarg;
        else if (c == 's') state = optarg;
        else if (c == 'f') since = optarg;
        else return 2;
    }
    time_t t0 = 0;
    if (!pack || (since && !cds_parse_time(since, &t0))) {
        fprintf(stderr, "usage: cdsd replay --pack RULES_DIR [--state DIR] [--since DATE]\n");
        return 2;
    }
    cds_ruleset *rs = cli_load_rules(pack, NULL, false);
    if (!rs) return 2;
    cds_strbuf diag;
    cds_strbuf_init(&diag);
    cds_engine *e = cds_engine_new(rs, &diag);
    char db_path[1100];
    snprintf(db_path, sizeof db_path, "%s/audit.db", state);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int status = 1;
    if (!e || sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT decision, service, request, cards, time_ms FROM decision WHERE request IS NOT NULL"
                               " AND outcome = 'ok' AND time_ms >= ? ORDER BY seq", -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "cdsd replay: %s\n", e ? sqlite3_errmsg(db) : diag.data);
        goto done;
    }
    sqlite3_bind_int64(st, 1, (int64_t)t0 * 1000);
    long replayed = 0, appear = 0, disappear = 0, changed = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *decision = (const char *)sqlite3_column_text(st, 0), *service = (const char *)sqlite3_column_text(st, 1);
        card_ref before[64], after[64];
        size_t nb = stored_cards((const char *)sqlite3_column_text(st, 3), before, 64), na = 0;
        msgpack_unpacked env;
        cds_error err;
        if (cds_mp_decode(sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2), &env, &err)) continue;
        cds_arena a;
        cds_arena_init(&a);
        msgpack_sbuffer out;
        msgpack_sbuffer_init(&out);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
        cds_eval_info info;
        if (cds_engine_call(e, service, cds_mp_get(&env.data, "request"), "request", (time_t)(sqlite3_column_int64(st, 4) / 1000),
                            &a, &pk, &info, &err) == CDS_OK) {
            for (size_t i = 0; i < info.ncards && na < 64; i++, na++) {
                snprintf(after[na].uuid, sizeof after[na].uuid, "%s", info.cards[i].uuid);
                snprintf(after[na].rule, sizeof after[na].rule, "%s", info.cards[i].rule);
                snprintf(after[na].indicator, sizeof after[na].indicator, "%s", info.cards[i].indicator);
            }
            replayed++;
            for (size_t i = 0; i < na; i++) {
                size_t k = 0;
                for (; k < nb && strcmp(before[k].uuid, after[i].uuid); k++) {}
                if (k == nb) { printf("%s  appears     %-24s %s\n", decision, after[i].rule, after[i].indicator); appear++; }
                else if (strcmp(before[k].indicator, after[i].indicator)) {
                    printf("%s  changes     %-24s %s -> %s\n", decision, after[i].rule, before[k].indicator, after[i].indicator);
                    changed++;
                }
            }
            for (size_t k = 0; k < nb; k++) {
                size_t i = 0;
                for (; i < na && strcmp(before[k].uuid, after[i].uuid); i++) {}
                if (i == na) { printf("%s  disappears  %-24s %s\n", decision, before[k].rule, before[k].indicator); disappear++; }
            }
        }
        msgpack_sbuffer_destroy(&out);
        cds_arena_free(&a);
        msgpack_unpacked_destroy(&env);
    }
    printf("%ld decisions replayed against %s: %ld cards appear, %ld disappear, %ld change indicator\n", replayed, pack,
           appear, disappear, changed);
    if (!replayed) fprintf(stderr, "cdsd replay: no stored requests (was the server run with --audit-requests?)\n");
    status = 0;
done:
    sqlite3_finalize(st);
    sqlite3_close(db);
    cds_engine_free(e);
    cds_strbuf_free(&diag);
    cds_ruleset_free(rs);
    return status;
}
