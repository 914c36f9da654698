/* audit_export.c — decisions as JSON lines, cdsd's own or FHIR R4 AuditEvent (audit_export.h). */
#include "audit_export.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit_file.h"
#include "audit_layout.h"
#include "audit_runs.h"

/* One decision as read; strings point into the statement's row. */
typedef struct exported {
    int64_t seq, time_ms;
    const char *decision, *outcome, *service, *hook, *caller;
    char time[32], patient[65];   /* RFC3339 with milliseconds; hex key or "" */
    cJSON *cards, *rule_errors;
} exported;

static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static void rfc3339_ms(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char s[24];
    strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%03dZ", s, (int)(ms % 1000));
}

static cJSON *coding(const char *system, const char *code, const char *display)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "system", system);
    cJSON_AddStringToObject(c, "code", code);
    if (display) cJSON_AddStringToObject(c, "display", display);
    return c;
}

static cJSON *identifier(const char *system, const char *value)
{
    cJSON *w = cJSON_CreateObject(), *id = cJSON_AddObjectToObject(w, "identifier");
    cJSON_AddStringToObject(id, "system", system);
    cJSON_AddStringToObject(id, "value", value);
    return w;
}

static cJSON *as_jsonl(exported *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "cursor", (double)e->seq);
    cJSON_AddStringToObject(o, "decision", e->decision);
    cJSON_AddStringToObject(o, "time", e->time);
    cJSON_AddStringToObject(o, "service", e->service ? e->service : "");
    cJSON_AddStringToObject(o, "hook", e->hook ? e->hook : "");
    cJSON_AddStringToObject(o, "outcome", e->outcome);
    cJSON_AddStringToObject(o, "caller", e->caller ? e->caller : "");
    if (e->patient[0]) cJSON_AddStringToObject(o, "patient_key", e->patient);
    else cJSON_AddNullToObject(o, "patient_key");
    cJSON_AddItemToObject(o, "cards", e->cards);
    cJSON_AddItemToObject(o, "rule_errors", e->rule_errors);
    e->cards = e->rule_errors = NULL;
    return o;
}

#define DCM "http://dicom.nema.org/resources/ontology/DCM"

/* IHE BALP: a RESTful operation (type rest, subtype operation) executed (action E) by the
 * caller (source role) on cdsd (destination role, the audit source), about the patient
 * (entity role 1, by its pseudonymous key) and the decision (entity type 2, a system object,
 * its cards and rule errors as details). The cursor rides in an extension. */
static cJSON *as_fhir(exported *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "resourceType", "AuditEvent");
    cJSON_AddStringToObject(o, "id", e->decision);
    cJSON *ext = cJSON_AddArrayToObject(o, "extension"), *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "url", "urn:cdsd:audit-cursor");
    char cur[24];
    snprintf(cur, sizeof cur, "%lld", (long long)e->seq);
    cJSON_AddStringToObject(x, "valueString", cur);
    cJSON_AddItemToArray(ext, x);
    cJSON_AddItemToObject(o, "type", coding("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest", "RESTful Operation"));
    cJSON *sub = cJSON_AddArrayToObject(o, "subtype");
    cJSON_AddItemToArray(sub, coding("http://hl7.org/fhir/restful-interaction", "operation", "operation"));
    cJSON_AddStringToObject(o, "action", "E");
    cJSON_AddStringToObject(o, "recorded", e->time);
    bool ok = !strcmp(e->outcome, "ok");
    cJSON_AddStringToObject(o, "outcome", ok ? "0" : "4");   /* 4: minor failure, the request was refused */
    if (!ok) cJSON_AddStringToObject(o, "outcomeDesc", e->outcome);
    cJSON *agents = cJSON_AddArrayToObject(o, "agent"), *a = cJSON_CreateObject();
    cJSON *t = cJSON_AddObjectToObject(a, "type"), *codings = cJSON_AddArrayToObject(t, "coding");
    cJSON_AddItemToArray(codings, coding(DCM, "110153", "Source Role ID"));
    cJSON_AddItemToObject(a, "who", identifier("urn:cdsd:caller", e->caller ? e->caller : ""));
    cJSON_AddTrueToObject(a, "requestor");
    cJSON_AddItemToArray(agents, a);
    a = cJSON_CreateObject();
    codings = cJSON_AddArrayToObject(cJSON_AddObjectToObject(a, "type"), "coding");
    cJSON_AddItemToArray(codings, coding(DCM, "110152", "Destination Role ID"));
    cJSON_AddItemToObject(a, "who", identifier("urn:cdsd:service", e->service ? e->service : ""));
    cJSON_AddFalseToObject(a, "requestor");
    cJSON_AddItemToArray(agents, a);
    cJSON *src = cJSON_AddObjectToObject(o, "source");
    cJSON_AddItemToObject(src, "observer", identifier("urn:cdsd:source", "cdsd"));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(src, "type"),
                         coding("http://terminology.hl7.org/CodeSystem/security-source-type", "4", "Application Server"));
    cJSON *ents = cJSON_AddArrayToObject(o, "entity");
    if (e->patient[0]) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddItemToObject(p, "what", identifier("urn:cdsd:patient-key", e->patient));
        cJSON_AddItemToObject(p, "type", coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "1", "Person"));
        cJSON_AddItemToObject(p, "role", coding("http://terminology.hl7.org/CodeSystem/object-role", "1", "Patient"));
        cJSON_AddItemToArray(ents, p);
    }
    cJSON *d = cJSON_CreateObject();
    cJSON_AddItemToObject(d, "what", identifier("urn:cdsd:decision", e->decision));
    cJSON_AddItemToObject(d, "type", coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"));
    cJSON_AddStringToObject(d, "name", e->hook ? e->hook : "");
    cJSON *details = cJSON_AddArrayToObject(d, "detail");
    struct { const char *type; cJSON *v; } det[] = {{"cards", e->cards}, {"rule_errors", e->rule_errors}};
    for (size_t i = 0; i < 2; i++) {
        cJSON *x2 = cJSON_CreateObject();
        char *s = cJSON_PrintUnformatted(det[i].v);
        cJSON_AddStringToObject(x2, "type", det[i].type);
        cJSON_AddStringToObject(x2, "valueString", s ? s : "[]");
        free(s);
        cJSON_AddItemToArray(details, x2);
    }
    cJSON_AddItemToArray(ents, d);
    return o;
}

/* The decision's cards and the rules that failed (from its runs against its generation). */
static bool read_details(sqlite3 *db, sqlite3_stmt *row, sqlite3_stmt *cards, cds_audit_gen_cache *gens, exported *e,
                         cds_error *err)
{
    e->cards = cJSON_CreateArray();
    e->rule_errors = cJSON_CreateArray();
    sqlite3_reset(cards);
    sqlite3_bind_int64(cards, 1, e->seq);
    int rc;
    while ((rc = sqlite3_step(cards)) == SQLITE_ROW) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "uuid", col(cards, 0) ? col(cards, 0) : "");
        cJSON_AddStringToObject(c, "rule", col(cards, 1) ? col(cards, 1) : "");
        cJSON_AddStringToObject(c, "indicator", col(cards, 2) ? col(cards, 2) : "");
        cJSON_AddItemToArray(e->cards, c);
    }
    if (rc != SQLITE_DONE) {
        cds_error_set(err, CDS_EIO, NULL, "entry %lld: reading its cards: %s", (long long)e->seq, sqlite3_errmsg(db));
        return false;
    }
    const cds_audit_gen *gen = cds_audit_gen_cache_get(gens, db, sqlite3_column_int64(row, 7), err);
    if (!gen) return false;
    cds_audit_runs_iter it = {.p = sqlite3_column_blob(row, 8), .gen = gen};
    it.end = it.p + sqlite3_column_bytes(row, 8);
    cds_audit_run run;
    int more;
    char buf[1024];
    while ((more = cds_audit_runs_next(&it, &run)) == 1) {
        if (!run.error) continue;
        cJSON *x = cJSON_CreateObject();
        snprintf(buf, sizeof buf, "%.*s", (int)run.rule_len, run.rule);
        cJSON_AddStringToObject(x, "rule", buf);
        snprintf(buf, sizeof buf, "%.*s", (int)run.error_len, run.error);
        cJSON_AddStringToObject(x, "error", buf);
        cJSON_AddItemToArray(e->rule_errors, x);
    }
    if (more < 0) {
        cds_error_set(err, CDS_EIO, NULL, "entry %lld: its rule list is not readable", (long long)e->seq);
        return false;
    }
    return true;
}

cds_rc cds_audit_export_file(const char *path, int64_t after_seq, int64_t until_seq, cds_export_format fmt, FILE *out,
                             int64_t *last, cds_error *err)
{
    sqlite3 *db = cds_audit_file_open(path, err);
    if (!db) return CDS_EIO;
    if (!cds_audit_live_only(db, err)) {
        sqlite3_close(db);
        return CDS_EIO;
    }
    sqlite3_stmt *st = NULL, *cards = NULL;
    int layout = cds_audit_layout_of(db);
    if (layout != 2 ||
        sqlite3_prepare_v2(db, "SELECT seq, decision, time_ms, outcome, service, hook, caller, gen, runs, patient_key"
                               " FROM decision WHERE seq > ?1 AND seq <= ?2 ORDER BY seq", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT uuid, rule, indicator FROM card WHERE decision = ? ORDER BY ord", -1, &cards,
                           NULL) != SQLITE_OK) {
        cds_error_set(err, CDS_EIO, NULL, "%s: %s", path,
                      layout == 1 ? "a log in the first layout (not exported: it has no keyed chain)"
                      : layout != 2 ? "not an audit log" : sqlite3_errmsg(db));
        sqlite3_finalize(st);
        sqlite3_close(db);
        return CDS_EIO;
    }
    sqlite3_bind_int64(st, 1, after_seq);
    sqlite3_bind_int64(st, 2, until_seq);
    cds_audit_gen_cache gens = {0};
    cds_rc rc = CDS_OK;
    int step = SQLITE_DONE;
    while (rc == CDS_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        exported e = {.seq = sqlite3_column_int64(st, 0), .decision = col(st, 1), .time_ms = sqlite3_column_int64(st, 2),
                      .outcome = col(st, 3), .service = col(st, 4), .hook = col(st, 5), .caller = col(st, 6)};
        rfc3339_ms(e.time_ms, e.time);
        const unsigned char *pk = sqlite3_column_blob(st, 9);
        if (pk && sqlite3_column_bytes(st, 9) == 32)
            for (int i = 0; i < 32; i++) snprintf(e.patient + 2 * i, 3, "%02x", pk[i]);
        cJSON *o = NULL;
        char *line = NULL;
        if (!e.decision || !e.outcome) rc = cds_error_set(err, CDS_EIO, NULL, "entry %lld: no decision id", (long long)e.seq);
        else if (!read_details(db, st, cards, &gens, &e, err)) rc = CDS_EIO;
        else if (!(o = fmt == CDS_EXPORT_FHIR ? as_fhir(&e) : as_jsonl(&e)) || !(line = cJSON_PrintUnformatted(o)))
            rc = cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory");
        if (line && fprintf(out, "%s\n", line) < 0) rc = cds_error_set(err, CDS_EIO, NULL, "writing the export failed");
        else if (line) *last = e.seq;
        free(line);
        cJSON_Delete(o);
        cJSON_Delete(e.cards);
        cJSON_Delete(e.rule_errors);
    }
    if (rc == CDS_OK && step != SQLITE_DONE)
        rc = cds_error_set(err, CDS_EIO, NULL, "%s: cannot read past entry %lld: %s", path, (long long)*last, sqlite3_errmsg(db));
    cds_audit_gen_cache_free(&gens);
    sqlite3_finalize(st);
    sqlite3_finalize(cards);
    sqlite3_close(db);
    return rc;
}
