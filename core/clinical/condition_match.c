/* condition_match.c — the per-request index of condition codes (see condition_match.h).
 * One hash map from tagged keys to the first condition carrying them:
 *   "A" code   any system, the code as sent       (a bare wanted code)
 *   "S" code   SNOMED CT                           (sct:)
 *   "L" code   LOINC                               (loinc:)
 *   "I" CODE   ICD-10(-CM), dots removed, upper case (icd10:CODE)
 *   "P" PREFIX every prefix of such an ICD-10 code, the empty one included (icd10:PREFIX*)
 * and each condition's text in lower case for "text:" words. Built in the request arena. */
#include "condition_match.h"

#include <ctype.h>
#include <string.h>

#include "strmap.h"

#define SCT "http://snomed.info/sct"
#define LOINC "http://loinc.org"
#define ICD10CM "http://hl7.org/fhir/sid/icd-10-cm"
#define ICD10 "http://hl7.org/fhir/sid/icd-10"
#define MAX_KEY 128

struct cds_condition_index {
    cds_strmap codes;     /* slots in the arena: never cds_strmap_free'd */
    const char **texts;   /* lower-case text per condition, or NULL */
};

static bool system_is(const char *system, const char *a) { return system && strcmp(system, a) == 0; }

/* "I"/"P" keys: upper case, dots dropped. Returns the length written (0: does not fit). */
static size_t icd_key(char *out, char tag, const char *code)
{
    size_t n = 0;
    out[n++] = tag;
    for (; *code; code++) {
        if (*code == '.') continue;
        if (n + 1 >= MAX_KEY) return 0;
        out[n++] = (char)toupper((unsigned char)*code);
    }
    out[n] = '\0';
    return n;
}

/* Files key -> condition c unless an earlier condition has it. Keys are copied to the arena. */
static void file(cds_arena *a, cds_strmap *m, const char *key, size_t n, uint32_t c)
{
    if (cds_strmap_get(m, key, n, NULL)) return;
    char *k = cds_arena_strndup(a, key, n);
    if (!k || !cds_strmap_put(m, k, n, c)) a->failed = true;
}

static void file_tagged(cds_arena *a, cds_strmap *m, char tag, const char *code, uint32_t c)
{
    char key[MAX_KEY];
    size_t n = strlen(code);
    if (n + 2 > MAX_KEY) return;   /* no wanted code is that long */
    key[0] = tag;
    memcpy(key + 1, code, n + 1);
    file(a, m, key, n + 1, c);
}

static const struct cds_condition_index *build(const cds_view *v)
{
    cds_arena *a = v->arena;
    bool failed_before = a->failed;
    struct cds_condition_index *x = cds_arena_alloc(a, sizeof *x);
    if (!x) return NULL;
    cds_strmap m;
    cds_strmap_init(&m);
    x->texts = v->nconditions ? cds_arena_alloc(a, v->nconditions * sizeof *x->texts) : NULL;
    for (uint32_t c = 0; c < v->nconditions; c++) {
        const cds_condition *cond = &v->conditions[c];
        for (uint32_t i = 0; i < cond->ncodes; i++) {
            const cds_coding *k = &cond->codes[i];
            if (!k->code) continue;
            file_tagged(a, &m, 'A', k->code, c);
            if (system_is(k->system, SCT)) file_tagged(a, &m, 'S', k->code, c);
            else if (system_is(k->system, LOINC)) file_tagged(a, &m, 'L', k->code, c);
            else if (system_is(k->system, ICD10CM) || system_is(k->system, ICD10)) {
                char key[MAX_KEY];
                size_t n = icd_key(key, 'I', k->code);
                if (!n) continue;
                file(a, &m, key, n, c);
                key[0] = 'P';
                for (size_t len = n; len >= 1; len--) file(a, &m, key, len, c);   /* "P" alone: any ICD-10 code */
            }
        }
        if (x->texts) {
            char *t = cond->text ? cds_arena_strdup(a, cond->text) : NULL;
            for (char *p = t; p && *p; p++) *p = (char)tolower((unsigned char)*p);
            x->texts[c] = t;
        }
    }
    /* the slots move to the arena: the index lives exactly as long as the view */
    x->codes = m;
    if (m.cap) {
        x->codes.slots = cds_arena_alloc(a, m.cap * sizeof *m.slots);
        if (x->codes.slots) memcpy(x->codes.slots, m.slots, m.cap * sizeof *m.slots);
        else x->codes.cap = x->codes.count = 0;
    }
    cds_strmap_free(&m);
    /* an index with a hole would answer "not on the problem list" for a condition that is */
    if ((a->failed && !failed_before) || (m.cap && !x->codes.slots) || (v->nconditions && !x->texts)) return NULL;
    return x;
}

static uint32_t lookup(const struct cds_condition_index *x, const char *key, size_t n)
{
    uint32_t c;
    return cds_strmap_get(&x->codes, key, n, &c) ? c : CDS_NO_CONDITION;
}

static uint32_t first_with_text(const cds_view *v, const struct cds_condition_index *x, const char *words)
{
    char needle[MAX_KEY];
    size_t n = 0;
    for (; words[n] && n + 1 < sizeof needle; n++) needle[n] = (char)tolower((unsigned char)words[n]);
    needle[n] = '\0';
    if (!n) return CDS_NO_CONDITION;
    for (uint32_t c = 0; c < v->nconditions; c++) {
        const char *t = v->conditions[c].text;
        if (!t) continue;
        if (words[n] ? strcasestr(t, words) != NULL : (x->texts[c] && strstr(x->texts[c], needle))) return c;   /* long words: no copy */
    }
    return CDS_NO_CONDITION;
}

uint32_t cds_view_condition_first(const cds_view *v, const char *want)
{
    if (!want || !v->nconditions) return CDS_NO_CONDITION;
    if (!v->condition_index) ((cds_view *)v)->condition_index = build(v);   /* logically const: a cache */
    const struct cds_condition_index *x = v->condition_index;
    if (!x) return CDS_CONDITION_UNKNOWN;
    if (strncmp(want, "text:", 5) == 0) return first_with_text(v, x, want + 5);
    char key[MAX_KEY];
    if (strncmp(want, "icd10:", 6) == 0) {
        size_t n = icd_key(key, 'I', want + 6);
        if (!n) return CDS_NO_CONDITION;
        char *star = memchr(key, '*', n);
        if (!star) return lookup(x, key, n);
        key[0] = 'P';
        return lookup(x, key, (size_t)(star - key));   /* "G40*": the prefix before the star */
    }
    char tag = 'A';
    if (strncmp(want, "sct:", 4) == 0) tag = 'S', want += 4;
    else if (strncmp(want, "loinc:", 6) == 0) tag = 'L', want += 6;
    size_t n = strlen(want);
    if (n + 2 > MAX_KEY) return CDS_NO_CONDITION;
    key[0] = tag;
    memcpy(key + 1, want, n + 1);
    return lookup(x, key, n + 1);
}
