/* fixture_schema.c — validation of a fixture against its strict schema, problems as file:line. */
#include "fixture_schema.h"

#include <cjson/cJSON.h>
#include <fnmatch.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "view.h"

typedef enum { F_STR, F_NUM, F_BOOL, F_OBJ, F_REQUEST, F_ARR_OBJ, F_ARR_STR } ftype;

typedef struct field {
    const char *name;
    ftype type;
    const struct field *items;   /* keys of the object, or of each object in the list */
    const char *const *oneof;    /* F_STR: the values allowed (NULL: any) */
    double min, max;             /* F_NUM: the range, when min < max */
} field;

#define STR(n) {.name = n, .type = F_STR}
#define ENUM(n, values) {.name = n, .type = F_STR, .oneof = values}
#define NUM(n, lo, hi) {.name = n, .type = F_NUM, .min = lo, .max = hi}
#define BOOL(n) {.name = n, .type = F_BOOL}
#define REQUEST(n) {.name = n, .type = F_REQUEST}
#define STRINGS(n) {.name = n, .type = F_ARR_STR}
#define LIST(n, fields) {.name = n, .type = F_ARR_OBJ, .items = fields}
#define OBJECT(n, fields) {.name = n, .type = F_OBJ, .items = fields}
#define END {.name = NULL}

static const char *const INDICATORS[] = {"info", "warning", "critical", NULL};
static const field CARD_PATTERN[] = {
    STR("rule"), ENUM("indicator", INDICATORS), STR("summary"), STR("detail"),
    STRINGS("suggests"), STR("issue"), END,
};
/* a shorthand draft; an entry with "resourceType" is a whole FHIR resource and not checked */
static const field DRAFT[] = {STR("code"), STR("rxnorm"), STR("display"), STR("text"), END};

/* the patient shorthand (fixture_patient.h) */
static const char *const SEXES[] = {"female", "male", "other", "unknown", NULL};
static const char *const MED_STATUS[] = {"active", "on-hold", "cancelled", "completed", "entered-in-error",
                                         "stopped", "draft", "unknown", NULL};
static const char *const CRITICALITY[] = {"low", "high", "unable-to-assess", NULL};
static const char *const ALLERGY_TYPE[] = {"allergy", "intolerance", NULL};
static const char *const ALLERGY_STATUS[] = {"active", "inactive", "resolved", NULL};
static const char *const VERIFICATION[] = {"unconfirmed", "confirmed", "refuted", "entered-in-error", NULL};
static const char *const CONDITION_STATUS[] = {"active", "recurrence", "relapse", "inactive", "remission",
                                               "resolved", NULL};
static const field PATIENT[] = {
    NUM("age", 0, 130), ENUM("sex", SEXES), NUM("weight_kg", 0.1, 700),
    END,
};
static const field MEDICATION[] = {
    STR("rxnorm"), STR("display"), STR("text"), ENUM("status", MED_STATUS), END,
};
static const field ALLERGY[] = {
    STR("rxnorm"), STR("snomed"), STR("display"), STR("text"),
    ENUM("criticality", CRITICALITY), ENUM("type", ALLERGY_TYPE),
    ENUM("status", ALLERGY_STATUS), ENUM("verification", VERIFICATION),
    STR("reaction"), END,
};
static const field CONDITION[] = {
    STR("snomed"), STR("icd10"), STR("display"), STR("text"),
    ENUM("status", CONDITION_STATUS), END,
};
static const char *const COMPARATORS[] = {"<", "<=", ">=", ">", NULL};
static const field RESULT[] = {
    STR("loinc"), STR("display"), NUM("value", 0, 0), STR("unit"), NUM("days_ago", 0, 36500),
    ENUM("comparator", COMPARATORS), STR("answer"), STR("value_text"), NUM("value_days", -36500, 36500),
    BOOL("undated"), END,
};

static const field TOP[] = {
    STR("description"), STR("service"), STR("at"), REQUEST("request"), STR("request_file"),
    STR("hook"), LIST("drafts", DRAFT), LIST("expect", CARD_PATTERN),
    LIST("forbid", CARD_PATTERN), BOOL("only"),
    OBJECT("patient", PATIENT), LIST("medications", MEDICATION), LIST("allergies", ALLERGY),
    LIST("conditions", CONDITION), LIST("results", RESULT),
    STRINGS("absent"), STRINGS("failed"),
    END,
};

/* Words a pharmacist reaches for that are spelled differently here. */
static const struct { const char *typed, *meant; } HINTS[] = {
    {"severity", "indicator"}, {"level", "indicator"}, {"suggestions", "suggests"}, {"suggest", "suggests"},
    {"expected", "expect"},    {"forbidden", "forbid"}, {"draft", "drafts"},         {"time", "at"},
};

typedef struct checker {
    const cJSON *fx;
    const cds_json_lines *jl;
    const char *file;
    const cds_ruleset *rs;
    const cds_service *svc;
    cds_strbuf *out;
    int problems;
} checker;

static void problem(checker *c, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem(checker *c, const char *path, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cds_strbuf_printf(c->out, "%s:%d: %s\n", c->file, cds_json_lines_line(c->jl, path), msg);
    c->problems++;
}

/* Edit distance, for "did you mean". */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 64;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static const char *nearest_key(const char *typed, const field *fields)
{
    for (size_t i = 0; i < sizeof HINTS / sizeof HINTS[0]; i++)
        if (strcmp(typed, HINTS[i].typed) == 0)
            for (const field *f = fields; f->name; f++)
                if (strcmp(f->name, HINTS[i].meant) == 0) return f->name;
    const char *best = NULL;
    size_t bd = 3;
    for (const field *f = fields; f->name; f++) {
        size_t d = distance(typed, f->name);
        if (d < bd) bd = d, best = f->name;
    }
    return best;
}

static const char *type_name(ftype t)
{
    switch (t) {
    case F_STR: return "a string";
    case F_NUM: return "a number";
    case F_BOOL: return "true or false";
    case F_OBJ: case F_REQUEST: return "an object";
    case F_ARR_OBJ: return "a list of objects";
    case F_ARR_STR: return "a list of strings";
    }
    return "?";
}

static void join(char *out, size_t n, const char *path, const char *key)
{
    snprintf(out, n, "%s%s%s", path, *path ? "." : "", key);
}

static void check_object(checker *c, const cJSON *obj, const char *path, const field *fields);

static void check_value(checker *c, const cJSON *v, const char *path, const field *f)
{
    bool ok = true;
    switch (f->type) {
    case F_STR: ok = cJSON_IsString(v); break;
    case F_NUM: ok = cJSON_IsNumber(v); break;
    case F_BOOL: ok = cJSON_IsBool(v); break;
    case F_OBJ: case F_REQUEST: ok = cJSON_IsObject(v); break;
    case F_ARR_OBJ: case F_ARR_STR: ok = cJSON_IsArray(v); break;
    }
    if (!ok) {
        if (f->type == F_ARR_OBJ && f->items == CARD_PATTERN)
            problem(c, path, "'%s' must be a list of card patterns such as [{\"rule\": \"ddi.*\"}]", f->name);
        else problem(c, path, "%s must be %s", path, type_name(f->type));
        return;
    }
    if (f->type == F_STR && f->oneof) {
        const char *const *o = f->oneof;
        while (*o && strcmp(*o, v->valuestring) != 0) o++;
        if (!*o) {
            char list[256] = "";
            for (o = f->oneof; *o; o++) {
                size_t l = strlen(list);
                snprintf(list + l, sizeof list - l, "%s%s", l ? (o[1] ? ", " : " or ") : "", *o);
            }
            problem(c, path, "%s '%s' must be %s", path, v->valuestring, list);
        }
    }
    if (f->type == F_NUM && f->min < f->max && (v->valuedouble < f->min || v->valuedouble > f->max))
        problem(c, path, "%s %g is out of range (%g to %g)", path, v->valuedouble, f->min, f->max);
    if (f->type == F_OBJ) check_object(c, v, path, f->items);
    if (f->type != F_ARR_OBJ && f->type != F_ARR_STR) return;
    int k = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, v) {
        char ip[600];
        snprintf(ip, sizeof ip, "%s[%d]", path, k++);
        if (f->type == F_ARR_STR) {
            if (!cJSON_IsString(x)) problem(c, ip, "%s must be a string", ip);
        } else if (!cJSON_IsObject(x) || !x->child) {
            if (f->items == CARD_PATTERN) problem(c, ip, "%s must be an object such as {\"rule\": \"ddi.*\"}", ip);
            else problem(c, ip, "%s must be an object", ip);
        } else if (!cJSON_GetObjectItemCaseSensitive(x, "resourceType") || f->items == CARD_PATTERN) {
            check_object(c, x, ip, f->items);
        }
    }
}

static void check_object(checker *c, const cJSON *obj, const char *path, const field *fields)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, obj) {
        const field *f = fields;
        while (f->name && strcmp(f->name, m->string) != 0) f++;
        char mp[512];
        join(mp, sizeof mp, path, m->string);
        if (f->name) {
            check_value(c, m, mp, f);
            continue;
        }
        const char *near = nearest_key(m->string, fields);
        char hint[128] = "";
        if (near) snprintf(hint, sizeof hint, " (did you mean '%s'?)", near);
        if (*path) problem(c, mp, "%s: unknown key '%s'%s", path, m->string, hint);
        else problem(c, mp, "unknown key '%s'%s", m->string, hint);
    }
}

/* Does the glob match a rule that the service runs (or, without a service, any rule)? */
static void check_rule_pattern(checker *c, const char *pattern, const char *path)
{
    const cds_ruleset *rs = c->rs;
    bool any = false, served = false;
    for (size_t i = 0; i < rs->nrules; i++) {
        if (fnmatch(pattern, rs->rules[i].id, 0) != 0) continue;
        any = true;
        for (size_t k = 0; c->svc && k < c->svc->nrules; k++) served |= c->svc->rules[k] == i;
    }
    if (any && (served || !c->svc)) return;
    /* "prefetch.KEY": the engine's card for a required list that could not be had */
    if (!any && strncmp(pattern, "prefetch.", 9) == 0) {
        for (size_t s = 0; s < rs->nservices; s++) {
            const cds_service *svc = c->svc ? c->svc : &rs->services[s];
            for (size_t k = 0; k < svc->nprefetch; k++)
                if (svc->prefetch_required[k] && fnmatch(pattern + 9, svc->prefetch_keys[k], 0) == 0) return;
            if (c->svc) break;
        }
        problem(c, path, "%s '%s' names no required prefetch key of %s%s", path, pattern, c->svc ? "service " : "any service",
                c->svc ? c->svc->id : "");
        return;
    }
    if (any) {
        problem(c, path, "%s '%s' matches no rule that service '%s' runs", path, pattern, c->svc->id);
        return;
    }
    const char *best = NULL;
    size_t bd = 4;
    for (size_t i = 0; i < rs->nrules; i++) {
        size_t d = distance(pattern, rs->rules[i].id);
        if (d < bd) bd = d, best = rs->rules[i].id;
    }
    char hint[300] = "";
    if (best) snprintf(hint, sizeof hint, " (did you mean '%s'?)", best);
    problem(c, path, "%s '%s' matches no rule of the rule set%s", path, pattern, hint);
}

static void check_regex(checker *c, const char *pattern, const char *path)
{
    regex_t re;
    int rc = regcomp(&re, pattern, REG_EXTENDED | REG_ICASE | REG_NOSUB);
    if (rc) {
        char msg[256];
        regerror(rc, &re, msg, sizeof msg);
        problem(c, path, "%s '%s' is not a regular expression: %s", path, pattern, msg);
        return;
    }
    regfree(&re);
}

static void check_patterns(checker *c, const char *list)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(c->fx, list), *w;
    if (!cJSON_IsArray(arr)) return;
    int k = 0;
    cJSON_ArrayForEach(w, arr) {
        char p[64], fp[96];
        snprintf(p, sizeof p, "%s[%d]", list, k++);
        if (!cJSON_IsObject(w)) continue;
        const cJSON *v;
        if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(w, "rule"))) {
            snprintf(fp, sizeof fp, "%s.rule", p);
            check_rule_pattern(c, v->valuestring, fp);
        }
        static const char *const res[] = {"summary", "detail"};
        for (int r = 0; r < 2; r++)
            if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(w, res[r]))) {
                snprintf(fp, sizeof fp, "%s.%s", p, res[r]);
                check_regex(c, v->valuestring, fp);
            }
    }
}

static void check_drafts(checker *c)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(c->fx, "drafts"), *d;
    int k = 0;
    cJSON_ArrayForEach(d, (cJSON_IsArray(arr) ? arr : NULL)) {
        char p[64];
        snprintf(p, sizeof p, "drafts[%d]", k++);
        if (!cJSON_IsObject(d) || cJSON_GetObjectItemCaseSensitive(d, "resourceType")) continue;
        if (!cJSON_GetObjectItemCaseSensitive(d, "code") && !cJSON_GetObjectItemCaseSensitive(d, "rxnorm") &&
            !cJSON_GetObjectItemCaseSensitive(d, "text") && !cJSON_GetObjectItemCaseSensitive(d, "display"))
            problem(c, p, "%s needs an \"rxnorm\" code or a \"text\"", p);
        if (cJSON_GetObjectItemCaseSensitive(d, "code") && cJSON_GetObjectItemCaseSensitive(d, "rxnorm"))
            problem(c, p, "%s: give \"rxnorm\" or \"code\" (the same thing), not both", p);
    }
}

/* Each shorthand entry names what it is: one code (of the systems its kind allows) or a text. */
static void check_entries(checker *c, const char *list, const char *const *codes, bool text_ok, const char *need)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(c->fx, list), *d;
    int k = 0;
    cJSON_ArrayForEach(d, (cJSON_IsArray(arr) ? arr : NULL)) {
        char p[64];
        snprintf(p, sizeof p, "%s[%d]", list, k++);
        if (!cJSON_IsObject(d) || cJSON_GetObjectItemCaseSensitive(d, "resourceType")) continue;   /* a whole resource */
        int n = 0;
        for (const char *const *s = codes; *s; s++) n += cJSON_GetObjectItemCaseSensitive(d, *s) != NULL;
        if (n > 1) problem(c, p, "%s: give one code (%s), not several", p, need);
        else if (!n && (!text_ok || !cJSON_GetObjectItemCaseSensitive(d, "text")))
            problem(c, p, "%s needs %s", p, need);
    }
}

/* The shorthand describes the whole patient: it replaces a request, it does not add to one. */
static void check_shorthand(checker *c, bool request)
{
    static const char *const parts[] = {"medications", "allergies", "conditions", "results", "absent", "failed", NULL};
    bool patient = cJSON_GetObjectItemCaseSensitive(c->fx, "patient") != NULL;
    if (patient && request)
        problem(c, "patient", "\"patient\" describes the whole request: use it instead of \"request\"/\"request_file\"");
    for (const char *const *p = parts; !patient && *p; p++)
        if (cJSON_GetObjectItemCaseSensitive(c->fx, *p))
            problem(c, *p, "'%s' belongs to the patient shorthand: add \"patient\": {\"age\": ..., \"sex\": ...}%s", *p,
                    request ? " instead of the request (or put it into the request file)" : "");
    static const char *const med[] = {"rxnorm", NULL}, *const allergy[] = {"rxnorm", "snomed", NULL},
                             *const cond[] = {"snomed", "icd10", NULL}, *const result[] = {"loinc", NULL};
    check_entries(c, "medications", med, true, "an \"rxnorm\" code or a \"text\"");
    check_entries(c, "allergies", allergy, true, "an \"rxnorm\" or \"snomed\" code, or a \"text\"");
    check_entries(c, "conditions", cond, true, "a \"snomed\" or \"icd10\" code, or a \"text\"");
    check_entries(c, "results", result, false, "a \"loinc\" code");
    /* "absent": prefetch keys the request leaves out; "failed": keys sent as an OperationOutcome */
    static const char *const missing[] = {"absent", "failed", NULL};
    for (const char *const *m = missing; c->svc && *m; m++) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(c->fx, *m), *k;
        int i = 0;
        cJSON_ArrayForEach(k, (cJSON_IsArray(arr) ? arr : NULL)) {
            char p[64];
            snprintf(p, sizeof p, "%s[%d]", *m, i++);
            size_t j = 0;
            while (cJSON_IsString(k) && j < c->svc->nprefetch && strcmp(c->svc->prefetch_keys[j], k->valuestring)) j++;
            if (cJSON_IsString(k) && j == c->svc->nprefetch)
                problem(c, p, "%s '%s' is not a prefetch key of service '%s'", p, k->valuestring, c->svc->id);
        }
    }
}

int cds_fixture_check(const cJSON *fx, const cds_json_lines *jl, const char *file, const cds_ruleset *rs,
                      cds_strbuf *out)
{
    checker c = {.fx = fx, .jl = jl, .file = file, .rs = rs, .out = out};
    if (!cJSON_IsObject(fx)) {
        problem(&c, "", "a fixture is a JSON object");
        return c.problems;
    }
    check_object(&c, fx, "", TOP);
    const cJSON *svc = cJSON_GetObjectItemCaseSensitive(fx, "service");
    if (!svc) {
        problem(&c, "", "a fixture needs \"service\" (the CDS service id it calls)");
    } else if (cJSON_IsString(svc)) {
        c.svc = cds_ruleset_service(rs, svc->valuestring);
        if (!c.svc) {
            char list[512] = "";
            for (size_t i = 0; i < rs->nservices; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", rs->services[i].id);
            problem(&c, "service", "service '%s' is not in the rule set (%s)", svc->valuestring, list);
        }
    }
    bool req = cJSON_GetObjectItemCaseSensitive(fx, "request") != NULL;
    bool rf = cJSON_GetObjectItemCaseSensitive(fx, "request_file") != NULL;
    bool patient = cJSON_GetObjectItemCaseSensitive(fx, "patient") != NULL;
    if (req && rf) problem(&c, "request_file", "give \"request\" or \"request_file\", not both");
    if (!req && !rf && !patient)
        problem(&c, "", "a fixture needs \"request\", \"request_file\" or the \"patient\" shorthand");
    check_shorthand(&c, req || rf);
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(fx, "at");
    time_t t;
    if (cJSON_IsString(at) && !cds_parse_time(at->valuestring, &t))
        problem(&c, "at", "'at' is not an RFC3339 time: %s", at->valuestring);
    check_patterns(&c, "expect");
    check_patterns(&c, "forbid");
    check_drafts(&c);
    return c.problems;
}

bool cds_fixture_is_fixture(const cJSON *doc)
{
    if (!cJSON_IsObject(doc)) return false;
    if (cJSON_GetObjectItemCaseSensitive(doc, "service")) return true;
    /* a shared request file */
    return !cJSON_GetObjectItemCaseSensitive(doc, "context") && !cJSON_GetObjectItemCaseSensitive(doc, "prefetch") &&
           !cJSON_GetObjectItemCaseSensitive(doc, "hookInstance");
}
