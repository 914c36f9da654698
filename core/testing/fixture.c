/* fixture.c — the regression fixture runner behind `cdsd test` and reload checks. */
#include "fixture.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <fnmatch.h>
#include <libgen.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "explain_check.h"
#include "fixture_patient.h"
#include "fixture_schema.h"
#include "fixture_update.h"
#include "json.h"
#include "json_lines.h"
#include "mp.h"
#include "view.h"

typedef struct card_view {
    const char *rule, *indicator;
    char *summary, *detail, *suggestions;   /* heap copies */
    char *issue;              /* the detected-issue code of the card's extension, or NULL */
} card_view;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Adds the .json files under path to files; false when out of memory (the list is then short). */
static bool collect(const char *path, char ***files, size_t *n, size_t *cap)
{
    struct stat st;
    if (stat(path, &st) != 0) return true;
    if (S_ISREG(st.st_mode)) {
        size_t l = strlen(path);
        if (l > 5 && strcmp(path + l - 5, ".json") == 0) {
            if (*n == *cap) {
                char **p = realloc(*files, (*cap * 2 + 32) * sizeof *p);
                if (!p) return false;
                *files = p;
                *cap = *cap * 2 + 32;
            }
            if (!((*files)[*n] = strdup(path))) return false;
            (*n)++;
        }
        return true;
    }
    if (!S_ISDIR(st.st_mode)) return true;
    DIR *d = opendir(path);
    if (!d) return true;
    struct dirent *e;
    bool ok = true;
    while (ok && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char sub[2048];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        ok = collect(sub, files, n, cap);
    }
    closedir(d);
    return ok;
}

static char *mpstr(const msgpack_object *o)
{
    if (!cds_mp_is_str(o)) return NULL;
    return strndup(o->via.str.ptr, o->via.str.size);
}

static bool regex_match(const char *pattern, const char *text, char *err, size_t errlen)
{
    regex_t re;
    int rc = regcomp(&re, pattern, REG_EXTENDED | REG_ICASE | REG_NOSUB);
    if (rc) {
        regerror(rc, &re, err, errlen);
        return false;
    }
    bool m = text && regexec(&re, text, 0, NULL, 0) == 0;
    regfree(&re);
    return m;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Does the card satisfy the expectation? */
static bool matches(const cJSON *want, const card_view *c, char *err, size_t errlen)
{
    const char *s;
    if ((s = jstr(want, "rule")) && fnmatch(s, c->rule ? c->rule : "", 0) != 0) return false;
    if ((s = jstr(want, "indicator")) && (!c->indicator || strcmp(s, c->indicator) != 0)) return false;
    if ((s = jstr(want, "summary")) && !regex_match(s, c->summary, err, errlen)) return false;
    if ((s = jstr(want, "detail")) && !regex_match(s, c->detail, err, errlen)) return false;
    if ((s = jstr(want, "issue")) && (!c->issue || strcmp(s, c->issue) != 0)) return false;
    const cJSON *sug = cJSON_GetObjectItemCaseSensitive(want, "suggests"), *x;
    cJSON_ArrayForEach(x, sug)
        if (cJSON_IsString(x) && (!c->suggestions || !strstr(c->suggestions, x->valuestring))) return false;
    return true;
}

/* The produced card closest to an expectation nobody met (the same rule first), and how it
 * differs: "warning ddi.interaction "..." (differs in indicator: warning, not critical)". */
static void nearest(const cJSON *want, const card_view *cards, size_t n, char *out, size_t len)
{
    char rerr[256];
    int best = -1, bscore = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s;
        int score = 0;
        if ((s = jstr(want, "rule")) && fnmatch(s, cards[i].rule ? cards[i].rule : "", 0) == 0) score += 8;
        if ((s = jstr(want, "summary")) && regex_match(s, cards[i].summary, rerr, sizeof rerr)) score += 4;
        if ((s = jstr(want, "indicator")) && cards[i].indicator && strcmp(s, cards[i].indicator) == 0) score += 2;
        if ((s = jstr(want, "detail")) && regex_match(s, cards[i].detail, rerr, sizeof rerr)) score += 1;
        if (score > bscore) bscore = score, best = (int)i;
    }
    out[0] = '\0';
    if (best < 0 || bscore < 4) return;   /* nothing shares the rule or the summary */
    const card_view *c = &cards[best];
    size_t l = (size_t)snprintf(out, len, "      nearest card: %s %s \"%s\" (differs in ", c->indicator ? c->indicator : "?",
                                c->rule ? c->rule : "?", c->summary ? c->summary : "");
    const char *s, *sep = "";
#define DIFF(...)                                                                    \
    do {                                                                             \
        if (l < len) l += (size_t)snprintf(out + l, len - l, "%s", sep);            \
        if (l < len) l += (size_t)snprintf(out + l, len - l, __VA_ARGS__);         \
        sep = "; ";                                                                  \
    } while (0)
    if ((s = jstr(want, "rule")) && fnmatch(s, c->rule ? c->rule : "", 0) != 0) DIFF("rule: %s, not %s", c->rule, s);
    if ((s = jstr(want, "indicator")) && (!c->indicator || strcmp(s, c->indicator) != 0))
        DIFF("indicator: %s, not %s", c->indicator ? c->indicator : "none", s);
    if ((s = jstr(want, "summary")) && !regex_match(s, c->summary, rerr, sizeof rerr)) DIFF("summary: not /%s/", s);
    if ((s = jstr(want, "detail")) && !regex_match(s, c->detail, rerr, sizeof rerr)) DIFF("detail: not /%s/", s);
    if ((s = jstr(want, "issue")) && (!c->issue || strcmp(s, c->issue) != 0))
        DIFF("issue: %s, not %s", c->issue ? c->issue : "none", s);
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(want, "suggests"))
        if (cJSON_IsString(x) && (!c->suggestions || !strstr(c->suggestions, x->valuestring)))
            DIFF("suggestions: no '%s'", x->valuestring);
#undef DIFF
    if (l < len) snprintf(out + l, len - l, ")\n");
}

static int rule_index(const cds_ruleset *rs, const char *id)
{
    for (size_t i = 0; id && i < rs->nrules; i++)
        if (strcmp(rs->rules[i].id, id) == 0) return (int)i;
    return -1;
}

/* "drafts": [{"code": RXCUI, "display": TEXT} | {"text": TEXT} | a whole resource] replaces
 * context.draftOrders (and, for order-select, the selections) of the request. */
static void set_drafts(cJSON *req, const cJSON *drafts, const cds_kb *kb)
{
    cJSON *ctx = cJSON_GetObjectItemCaseSensitive(req, "context");
    if (!cJSON_IsObject(ctx)) return;
    cJSON *bundle = cJSON_CreateObject(), *entries = cJSON_AddArrayToObject(bundle, "entry");
    cJSON_AddStringToObject(bundle, "resourceType", "Bundle");
    cJSON *sel = cJSON_CreateArray();
    int i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, drafts) {
        cJSON *res;
        char id[32];
        snprintf(id, sizeof id, "draft-%d", ++i);
        if (jstr(d, "resourceType")) {
            res = cJSON_Duplicate(d, 1);
        } else {
            res = cJSON_CreateObject();
            cJSON_AddStringToObject(res, "resourceType", "MedicationRequest");
            cJSON_AddStringToObject(res, "id", id);
            cJSON_AddStringToObject(res, "status", "draft");
            cJSON_AddStringToObject(res, "intent", "order");
            cJSON *cc = cJSON_AddObjectToObject(res, "medicationCodeableConcept");
            const char *text = jstr(d, "display") ? jstr(d, "display") : jstr(d, "text");
            const char *code = jstr(d, "code") ? jstr(d, "code") : jstr(d, "rxnorm");
            char name[256] = "";
            if (!text && jstr(d, "rxnorm")) cds_fixture_rxnorm_name(kb, code, name, sizeof name);
            if (name[0]) text = name;   /* the shorthand's readable name */
            if (text) cJSON_AddStringToObject(cc, "text", text);
            if (code) {
                cJSON *c = cJSON_CreateObject();
                cJSON_AddStringToObject(c, "system", "http://www.nlm.nih.gov/research/umls/rxnorm");
                cJSON_AddStringToObject(c, "code", code);
                if (text) cJSON_AddStringToObject(c, "display", text);
                cJSON_AddItemToArray(cJSON_AddArrayToObject(cc, "coding"), c);
            }
        }
        char ref[96];
        snprintf(ref, sizeof ref, "%s/%s", jstr(res, "resourceType") ? jstr(res, "resourceType") : "?",
                 jstr(res, "id") ? jstr(res, "id") : id);
        cJSON_AddItemToArray(sel, cJSON_CreateString(ref));
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToObject(e, "resource", res);
        cJSON_AddItemToArray(entries, e);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(ctx, "draftOrders");
    cJSON_AddItemToObject(ctx, "draftOrders", bundle);
    if (cJSON_GetObjectItemCaseSensitive(ctx, "selections")) {
        cJSON_DeleteItemFromObjectCaseSensitive(ctx, "selections");
        cJSON_AddItemToObject(ctx, "selections", sel);
    } else {
        cJSON_Delete(sel);
    }
}

static void run_one(cds_engine *e, const char *file, const cds_fixture_opts *opts, cds_fixture_result *res)
{
    FILE *out = opts->out;
    const cds_ruleset *rs = cds_engine_ruleset(e);
    cds_error err;
    cds_error_clear(&err);
    size_t len;
    char *text = cds_read_file(file, &len, 64u << 20, &err);
    cJSON *fx = text ? cJSON_ParseWithLength(text, len) : NULL;
    if (!fx) {   /* a fixture that is not JSON must fail, never be skipped */
        if (text) {
            msgpack_sbuffer sb;
            msgpack_sbuffer_init(&sb);
            if (cds_json_to_mp(text, len, file, &sb, &err) != CDS_OK) {
                res->failed++;
                fprintf(out, "FAIL %s\n    %s\n", file, err.message);
            }
            msgpack_sbuffer_destroy(&sb);
        }
        free(text);
        return;
    }
    if (!cds_fixture_is_fixture(fx)) { free(text); cJSON_Delete(fx); return; }   /* a shared request file */
    const char *service = jstr(fx, "service");
    cds_json_lines jl;
    cds_json_lines_scan(text, len, &jl);
    cds_strbuf schema;
    cds_strbuf_init(&schema);
    int nschema = cds_fixture_check(fx, &jl, file, rs, &schema);
    cds_json_lines_free(&jl);
    free(text);

    char problems[8192] = "";
    size_t pl = 0;
    /* appends to problems; a long report is cut, never overrun */
#define PROBLEM(...)                                                                                  \
    do {                                                                                              \
        if (pl < sizeof problems - 1) {                                                               \
            int w_ = snprintf(problems + pl, sizeof problems - pl, __VA_ARGS__);                      \
            pl = w_ < 0 ? pl : pl + (size_t)w_ < sizeof problems ? pl + (size_t)w_ : sizeof problems - 1; \
        }                                                                                             \
    } while (0)
    for (const char *l = schema.data; nschema && l && *l;) {   /* the schema's problems, one per line */
        const char *nl = strchr(l, '\n');
        int n = nl ? (int)(nl - l) : (int)strlen(l);
        PROBLEM("    %.*s\n", n, l);
        l += n + (nl ? 1 : 0);
    }
    cds_strbuf_free(&schema);
    const cJSON *req = nschema ? NULL : cJSON_GetObjectItemCaseSensitive(fx, "request");
    cJSON *loaded = NULL;
    const char *rf = nschema ? NULL : jstr(fx, "request_file");
    if (!req && rf) {
        char *dup = strdup(file), path[2048];
        if (rf[0] == '/') snprintf(path, sizeof path, "%s", rf);   /* absolute */
        else snprintf(path, sizeof path, "%s/%s", dirname(dup), rf);
        free(dup);
        char *rt = cds_read_file(path, &len, 64u << 20, &err);
        loaded = rt ? cJSON_ParseWithLength(rt, len) : NULL;
        free(rt);
        req = loaded;
        if (!req) PROBLEM("    cannot read request_file %s\n", path);
    }
    time_t at = time(NULL);
    const char *ats = jstr(fx, "at");
    if (ats) cds_parse_time(ats, &at);   /* checked by the schema */
    if (!nschema && cds_fixture_has_patient(fx)) {
        char *dup = strdup(file);
        loaded = cds_fixture_patient_request(fx, cds_ruleset_service(rs, service), rs->kb, at, basename(dup));
        free(dup);
        req = loaded;
    }
    cJSON *patched = NULL;
    const cJSON *drafts = cJSON_GetObjectItemCaseSensitive(fx, "drafts");
    const char *hook = jstr(fx, "hook");
    if (req && (cJSON_IsArray(drafts) || hook)) {
        patched = cJSON_Duplicate(req, 1);
        if (cJSON_IsArray(drafts)) set_drafts(patched, drafts, rs->kb);
        if (hook) cJSON_ReplaceItemInObjectCaseSensitive(patched, "hook", cJSON_CreateString(hook));
        req = patched;
    }

    card_view cards[64];
    size_t ncards = 0;
    cds_arena arena;
    cds_arena_init(&arena);
    msgpack_sbuffer in, outb;
    msgpack_sbuffer_init(&in);
    msgpack_sbuffer_init(&outb);
    msgpack_unpacked ureq, uresp;
    msgpack_unpacked_init(&ureq);
    msgpack_unpacked_init(&uresp);
    cds_eval_info info = {0};
    if (req && !pl) {
        msgpack_packer pk;
        msgpack_packer_init(&pk, &in, msgpack_sbuffer_write);
        cds_cjson_pack(&pk, req);
        msgpack_packer po;
        msgpack_packer_init(&po, &outb, msgpack_sbuffer_write);
        if (cds_mp_decode(in.data, in.size, &ureq, &err) == CDS_OK &&
            cds_engine_call(e, service, &ureq.data, "request", at, &arena, &po, &info, &err) == CDS_OK &&
            cds_mp_decode(outb.data, outb.size, &uresp, &err) == CDS_OK) {
            const msgpack_object *cs = cds_mp_get(&uresp.data, "cards");
            for (uint32_t i = 0; cs && i < cs->via.array.size && ncards < 64; i++) {
                const msgpack_object *c = &cs->via.array.ptr[i];
                card_view *cv = &cards[ncards++];
                cv->rule = NULL;
                const msgpack_object *topic = cds_mp_get(cds_mp_get(c, "source"), "topic");
                char *r = mpstr(cds_mp_get(topic, "code"));
                cv->rule = r;
                cv->indicator = NULL;
                char *ind = mpstr(cds_mp_get(c, "indicator"));
                cv->indicator = ind;
                cv->summary = mpstr(cds_mp_get(c, "summary"));
                cv->detail = mpstr(cds_mp_get(c, "detail"));
                cv->issue = mpstr(cds_mp_get(cds_mp_get(cds_mp_get(c, "extension"), "org.cdsd.detected-issue"), "code"));
                cv->suggestions = NULL;
                const msgpack_object *sg = cds_mp_get(c, "suggestions");
                if (sg) {
                    cds_strbuf b;
                    cds_strbuf_init(&b);
                    cds_json_from_mp(&b, sg, -1);
                    cv->suggestions = b.data;
                }
            }
            for (size_t i = 0; i < info.nruns; i++)
                if (info.runs[i].error) PROBLEM("    rule %s failed: %s\n", info.runs[i].rule, info.runs[i].error);
            for (size_t i = 0; opts->require_explain && i < info.ncards; i++) {
                char why[160];
                const cds_card_out *co = &info.cards[i];
                if (!cds_explain_complete(co->explain, co->explain_len, why, sizeof why))
                    PROBLEM("    card without a complete explanation: %s \"%s\": %s\n", co->rule, co->summary, why);
                else if (i < ncards && !cds_mp_get(cds_mp_get(&cs->via.array.ptr[i], "extension"), "org.cdsd.explain"))
                    PROBLEM("    card without the extension org.cdsd.explain: %s \"%s\"\n", co->rule, co->summary);
            }
        } else {
            PROBLEM("    request rejected: %s%s%s%s\n", cds_rc_name(err.code), err.path[0] ? " at " : "", err.path,
                    err.message[0] ? "" : "");
            PROBLEM("      %s\n", err.message);
        }
    }
    /* expectations */
    const cJSON *w;
    bool used[64] = {false};
    char rerr[256] = "";
    /* a malformed expectation would match every card: the schema refused it above */
    bool forbidden = false;   /* --update cannot resolve that: the fixture keeps failing */
    int claimed[256];   /* per expectation: the card it matched, or -1 (for --update) */
    size_t nexpect = 0;
    cJSON_ArrayForEach(w, (nschema ? NULL : cJSON_GetObjectItemCaseSensitive(fx, "expect"))) {
        bool found = false;
        int card = -1;
        for (size_t i = 0; i < ncards && !found; i++)
            if (matches(w, &cards[i], rerr, sizeof rerr)) found = used[i] = true, card = (int)i;
        if (nexpect < 256) claimed[nexpect++] = card;
        if (!found) {
            char *t = cJSON_PrintUnformatted(w), near[1024];
            PROBLEM("    expected card not produced: %s\n", t ? t : "?");
            free(t);
            nearest(w, cards, ncards, near, sizeof near);
            if (near[0]) PROBLEM("%s", near);
        }
        if (rerr[0]) PROBLEM("    bad regular expression: %s\n", rerr);
    }
    cJSON_ArrayForEach(w, (nschema ? NULL : cJSON_GetObjectItemCaseSensitive(fx, "forbid"))) {
        for (size_t i = 0; i < ncards; i++)
            if (matches(w, &cards[i], rerr, sizeof rerr)) {
                char *t = cJSON_PrintUnformatted(w);
                PROBLEM("    forbidden card produced (%s): %s \"%s\"\n", t ? t : "?", cards[i].rule, cards[i].summary);
                forbidden = true;
                free(t);
            }
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(fx, "only")))
        for (size_t i = 0; i < ncards; i++)
            if (!used[i]) PROBLEM("    unexpected card: %s %s \"%s\"\n", cards[i].indicator, cards[i].rule, cards[i].summary);

    if (opts->update && req && info.nruns) {
        /* reviewed: the produced cards become the expectation */
        bool request_ok = true;
        for (size_t i = 0; i < info.nruns; i++) request_ok &= info.runs[i].error == NULL;
        cds_fixture_card fc[64];
        for (size_t i = 0; i < ncards; i++) fc[i] = (cds_fixture_card){cards[i].rule, cards[i].indicator, cards[i].summary};
        bool fits = nexpect < 256 && nschema == 0;
        if (request_ok && fits && cds_fixture_update(file, fc, ncards, claimed, nexpect, out) && !forbidden) {
            pl = 0;   /* the expectations are now what was produced and reviewed */
            problems[0] = '\0';
        }
    }
    bool ok = pl == 0;
    if (ok) res->passed++;
    else res->failed++;
    if (!ok || !opts->quiet) {
        fprintf(out, "%s %s", ok ? "PASS" : "FAIL", file);
        const char *d = jstr(fx, "description");
        if (d) fprintf(out, " — %s", d);
        fprintf(out, "\n");
        for (size_t i = 0; i < ncards; i++)
            fprintf(out, "    %-8s %-28s %s\n", cards[i].indicator ? cards[i].indicator : "?",
                    cards[i].rule ? cards[i].rule : "?", cards[i].summary ? cards[i].summary : "");
        if (!ncards && !pl) fprintf(out, "    (no cards)\n");
        fputs(problems, out);
    }
    /* coverage */
    for (size_t i = 0; i < info.nruns; i++) {
        int r = rule_index(rs, info.runs[i].rule);
        if (r < 0) continue;
        if (info.runs[i].cards > 0) res->fired[r]++;
        else if (!info.runs[i].error) res->silent[r]++;
    }
    for (size_t i = 0; i < ncards; i++) {
        free((char *)cards[i].rule);
        free((char *)cards[i].indicator);
        free(cards[i].summary);
        free(cards[i].detail);
        free(cards[i].issue);
        free(cards[i].suggestions);
    }
    msgpack_unpacked_destroy(&ureq);
    msgpack_unpacked_destroy(&uresp);
    msgpack_sbuffer_destroy(&in);
    msgpack_sbuffer_destroy(&outb);
    cds_arena_free(&arena);
    cJSON_Delete(loaded);
    cJSON_Delete(patched);
    cJSON_Delete(fx);
}

void cds_fixtures_run(cds_engine *e, const char *const *paths, size_t npaths, const cds_fixture_opts *opts,
                      cds_fixture_result *res)
{
    const cds_ruleset *rs = cds_engine_ruleset(e);
    memset(res, 0, sizeof *res);
    res->nrules = rs->nrules;
    res->fired = calloc(rs->nrules + 1, sizeof *res->fired);
    res->silent = calloc(rs->nrules + 1, sizeof *res->silent);
    char **files = NULL;
    size_t n = 0, cap = 0;
    bool listed = true;
    for (size_t i = 0; listed && i < npaths; i++) listed = collect(paths[i], &files, &n, &cap);
    if (!listed) {   /* never a run over fewer fixtures than there are */
        fprintf(opts->out, "FAIL listing fixtures: out of memory\n");
        res->failed++;
    }
    if (listed && n) qsort(files, n, sizeof *files, cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (listed) run_one(e, files[i], opts, res);
        free(files[i]);
    }
    free(files);
    fprintf(opts->out, "%d passed, %d failed\n", res->passed, res->failed);
}

int cds_fixture_coverage(const cds_ruleset *rs, const cds_fixture_result *res, FILE *out)
{
    int gaps = 0;
    for (size_t i = 0; i < rs->nrules; i++) {
        bool f = res->fired[i] > 0, s = res->silent[i] > 0;
        if (f && s) continue;
        gaps++;
        fprintf(out, "coverage: rule %s (%s) has no %s\n", rs->rules[i].id, rs->rules[i].file,
                !f && !s ? "fixture at all" : !f ? "fixture where it fires" : "fixture where it stays silent");
    }
    if (!gaps) fprintf(out, "coverage: every rule has a firing and a non-firing fixture\n");
    return gaps;
}

void cds_fixture_result_free(cds_fixture_result *res)
{
    free(res->fired);
    free(res->silent);
    res->fired = res->silent = NULL;
}
