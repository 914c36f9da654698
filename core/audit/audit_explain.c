/* audit_explain.c — a stored decision and its cards' explanations, readably (audit_explain.h). */
#include "audit_explain.h"

#include <msgpack.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "audit_file.h"
#include "audit_layout.h"
#include "json.h"
#include "mp.h"
#include "strbuf.h"

static void print_str(const msgpack_object *o, FILE *out)
{
    if (o->type == MSGPACK_OBJECT_STR) fprintf(out, "%.*s", (int)o->via.str.size, o->via.str.ptr);
    else {
        cds_strbuf b;
        cds_strbuf_init(&b);
        cds_json_from_mp(&b, o, -1);
        fputs(b.data ? b.data : "?", out);
        cds_strbuf_free(&b);
    }
}

/* "matched" entries [ref, code...] and "rows" entries [table, key, source]: one line each */
static void print_list(const char *label, const char *sep, const msgpack_object *list, FILE *out)
{
    if (!list || list->type != MSGPACK_OBJECT_ARRAY) return;
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *e = &list->via.array.ptr[i];
        fprintf(out, "    %-9s ", i == 0 ? label : "");
        if (e->type != MSGPACK_OBJECT_ARRAY) {
            print_str(e, out);
        } else {
            for (uint32_t k = 0; k < e->via.array.size; k++) {
                if (k == 1) fputs(sep, out);
                else if (k > 1) fputs(k == 2 && strcmp(label, "rows:") == 0 ? " (source " : ", ", out);
                print_str(&e->via.array.ptr[k], out);
            }
            if (strcmp(label, "rows:") == 0 && e->via.array.size > 2) fputs(")", out);
            if (strcmp(label, "matched:") == 0 && e->via.array.size > 1) fputs(")", out);
        }
        fputs("\n", out);
    }
}

void cds_audit_explain_print(const msgpack_object *x, FILE *out)
{
    if (!x || x->type != MSGPACK_OBJECT_MAP) {
        fputs("    (no explanation stored)\n", out);
        return;
    }
    const msgpack_object *o;
    if ((o = cds_mp_get(x, "rule_failed"))) {
        fputs("    the rule ", out);
        print_str(o, out);
        fputs(" failed: this card stands in for its answer (the error is in the decision's runs)\n", out);
    }
    if ((o = cds_mp_get(x, "prefetch"))) {
        fputs("    the required prefetch key ", out);
        print_str(o, out);
        fputs(" was ", out);
        const msgpack_object *s = cds_mp_get(x, "state");
        if (s) print_str(s, out);
        else fputs("unavailable", out);
        fputs(" (absent: not sent and not fetched; failed: an OperationOutcome; partial: later pages missing)\n", out);
    }
    print_list("matched:", " (code ", cds_mp_get(x, "matched"), out);
    print_list("rows:", " ", cds_mp_get(x, "rows"), out);
    const msgpack_object *v = cds_mp_get(x, "values");
    if (v && v->type == MSGPACK_OBJECT_MAP)
        for (uint32_t i = 0; i < v->via.map.size; i++) {
            fprintf(out, "    %-9s ", i == 0 ? "values:" : "");
            print_str(&v->via.map.ptr[i].key, out);
            fputs(" = ", out);
            print_str(&v->via.map.ptr[i].val, out);
            fputs("\n", out);
        }
}

static const char *col(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? (const char *)s : "";
}

/* The stored request envelope ({op, service, request, ...}) as indented JSON: its "request". */
static void print_request(const void *blob, int n, FILE *out)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, blob, (size_t)n, NULL) == MSGPACK_UNPACK_SUCCESS) {
        const msgpack_object *r = u.data.type == MSGPACK_OBJECT_MAP ? cds_mp_get(&u.data, "request") : NULL;
        cds_strbuf b;
        cds_strbuf_init(&b);
        cds_json_from_mp(&b, r ? r : &u.data, 2);
        fprintf(out, "request (stored with --audit-requests):\n%s\n", b.data ? b.data : "");
        cds_strbuf_free(&b);
    }
    msgpack_unpacked_destroy(&u);
}

int cds_audit_explain(const char *path, const char *decision, FILE *out, cds_error *err)
{
    sqlite3 *db = cds_audit_file_open(path, err);
    if (!db) return -1;
    int layout = cds_audit_layout_of(db), rc = -1;
    sqlite3_stmt *d = NULL, *c = NULL;
    if (layout < 1) {
        cds_error_set(err, CDS_EIO, NULL, "%s: %s", path, layout == 0 ? "not an audit log" : sqlite3_errmsg(db));
        goto done;
    }
    if (sqlite3_prepare_v2(db, "SELECT seq, time_ms, outcome, service, hook, request FROM decision WHERE decision = ?", -1, &d,
                           NULL) != SQLITE_OK) {
        cds_error_set(err, CDS_EIO, NULL, "%s: %s", path, sqlite3_errmsg(db));
        goto done;
    }
    sqlite3_bind_text(d, 1, decision, -1, SQLITE_STATIC);
    if (sqlite3_step(d) != SQLITE_ROW) {
        rc = 0;
        goto done;
    }
    time_t t = (time_t)(sqlite3_column_int64(d, 1) / 1000);
    struct tm tm;
    char when[32];
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(out, "decision %s  %s  %s (%s)  %s  [%s]\n", decision, when, col(d, 3), col(d, 4), col(d, 2), path);
    if (layout == 1) {
        fputs("  (a first-layout log: cards were stored without explanations)\n", out);
    } else {
        /* an archive written before card.ext existed has no such column */
        bool ext = sqlite3_prepare_v2(db, "SELECT ord, uuid, rule, indicator, ext FROM card WHERE decision = ? ORDER BY ord", -1,
                                      &c, NULL) == SQLITE_OK;
        if (!ext && sqlite3_prepare_v2(db, "SELECT ord, uuid, rule, indicator, NULL FROM card WHERE decision = ? ORDER BY ord",
                                       -1, &c, NULL) != SQLITE_OK) {
            cds_error_set(err, CDS_EIO, NULL, "%s: %s", path, sqlite3_errmsg(db));
            goto done;
        }
        sqlite3_bind_int64(c, 1, sqlite3_column_int64(d, 0));
        int n = 0;
        while (sqlite3_step(c) == SQLITE_ROW) {
            n++;
            fprintf(out, "card %d  %-8s %-28s %s\n", sqlite3_column_int(c, 0) + 1, col(c, 3), col(c, 2), col(c, 1));
            const void *blob = sqlite3_column_blob(c, 4);
            int len = sqlite3_column_bytes(c, 4);
            msgpack_unpacked u;
            msgpack_unpacked_init(&u);
            const msgpack_object *x = NULL;
            if (blob && msgpack_unpack_next(&u, blob, (size_t)len, NULL) == MSGPACK_UNPACK_SUCCESS &&
                u.data.type == MSGPACK_OBJECT_MAP) {
                const msgpack_object *k = cds_mp_get(&u.data, "key"), *s = cds_mp_get(&u.data, "suppressed");
                if (k) { fputs("    key       ", out); print_str(k, out); fputs("\n", out); }
                if (s) { fputs("    suppressed ", out); print_str(s, out); fputs("\n", out); }
                x = cds_mp_get(&u.data, "explain");
            }
            cds_audit_explain_print(x, out);
            msgpack_unpacked_destroy(&u);
        }
        if (!n) fputs("  (no cards)\n", out);
    }
    if (sqlite3_column_type(d, 5) == SQLITE_BLOB) print_request(sqlite3_column_blob(d, 5), sqlite3_column_bytes(d, 5), out);
    else fputs("(the request was not stored: the server keeps it only with --audit-requests)\n", out);
    rc = 1;
done:
    sqlite3_finalize(c);
    sqlite3_finalize(d);
    sqlite3_close(db);
    return rc;
}
