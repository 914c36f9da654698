/* view.c — builds the normalized clinical view from a validated request. */
#include "view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mp.h"
#include "strmap.h"

#define RXNORM "http://www.nlm.nih.gov/research/umls/rxnorm"
#define LOINC "http://loinc.org"

/* --- small helpers ------------------------------------------------------------------------ */

typedef struct builder {
    cds_view *v;
    cds_arena *a;
    const cds_kb *kb;
    const msgpack_object **meds_idx;   /* Medication resources found anywhere, by id */
    uint32_t nmeds_idx, capmeds_idx;
    uint32_t capmeds, capall, capcond, capobs, caporders;
    cds_strmap med_refs;      /* ref -> med index: duplicates across draftOrders and prefetch */
    cds_strmap obs_codes;     /* LOINC code -> observation index */
    cds_strmap stopped_refs;  /* refs of orders this request's draft orders stop or cancel */
} builder;

/* Reads exactly n digits. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil): timegm
 * goes through the C library's time-zone machinery, a measurable cost per observation. */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool cds_parse_time(const char *s, time_t *out)
{
    if (!s) return false;
    int Y = 0, M = 1, D = 1, h = 0, m = 0, sec = 0;
    const char *p = s;
    if (!digits(&p, 4, &Y)) return false;
    if (*p == '-' && (p++, !digits(&p, 2, &M))) return false;
    if (*p == '-' && (p++, !digits(&p, 2, &D))) return false;
    bool has_time = *p == 'T';
    if (has_time) {
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &m)) return false;
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &sec)) return false;
        }
        if (*p == '.') while (*++p >= '0' && *p <= '9') {}
    }
    if (Y < 1800 || M < 1 || M > 12 || D < 1 || D > 31 || h > 24 || m > 59 || sec > 60) return false;
    time_t t = (time_t)(days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 + sec);
    if (has_time && (*p == '+' || *p == '-')) {
        int oh = 0, om = 0;
        const char *z = p + 1;
        if (digits(&z, 2, &oh) && *z == ':' && (z++, digits(&z, 2, &om)))
            t -= (*p == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    }
    *out = t;
    return true;
}

/* Status may be a string (R4 MedicationRequest, STU3 everything) or a CodeableConcept (R4
 * clinicalStatus/verificationStatus). */
static const char *status_code(cds_arena *a, const msgpack_object *o)
{
    if (!o) return NULL;
    if (o->type == MSGPACK_OBJECT_STR) return cds_mp_strdup(a, o);
    const msgpack_object *c = cds_mp_get(o, "coding");
    if (c && c->type == MSGPACK_OBJECT_ARRAY)
        for (uint32_t i = 0; i < c->via.array.size; i++) {
            char *s = cds_mp_getstr(a, &c->via.array.ptr[i], "code");
            if (s) return s;
        }
    return cds_mp_getstr(a, o, "text");
}

static bool is(const char *s, const char *const *set)
{
    if (!s) return false;
    for (; *set; set++)
        if (strcasecmp(s, *set) == 0) return true;
    return false;
}

/* Appends the codings of a CodeableConcept. */
static void codings(builder *b, const msgpack_object *cc, cds_coding **out, uint32_t *n)
{
    const msgpack_object *c = cds_mp_get(cc, "coding");
    if (!c || c->type != MSGPACK_OBJECT_ARRAY) return;
    uint32_t cap = *n;
    for (uint32_t i = 0; i < c->via.array.size; i++) {
        const msgpack_object *x = &c->via.array.ptr[i];
        char *code = cds_mp_getstr(b->a, x, "code");
        if (!code) continue;
        if (*n >= cap) {
            cds_coding *p = cds_arena_alloc(b->a, (size_t)(cap = cap * 2 + 4) * sizeof *p);
            if (!p) return;
            if (*n) memcpy(p, *out, *n * sizeof *p);
            *out = p;
        }
        (*out)[(*n)++] = (cds_coding){cds_mp_getstr(b->a, x, "system"), code, cds_mp_getstr(b->a, x, "display")};
    }
}

static const char *cc_text(builder *b, const msgpack_object *cc)
{
    char *t = cds_mp_getstr(b->a, cc, "text");
    if (t && *t) return t;
    const msgpack_object *c = cds_mp_get(cc, "coding");
    for (uint32_t i = 0; c && c->type == MSGPACK_OBJECT_ARRAY && i < c->via.array.size; i++) {
        t = cds_mp_getstr(b->a, &c->via.array.ptr[i], "display");
        if (t && *t) return t;
    }
    return NULL;
}

static void add_ingredient(builder *b, uint32_t **list, uint32_t *n, uint32_t g)
{
    if (g == CDS_KB_NONE) return;
    for (uint32_t i = 0; i < *n; i++)
        if ((*list)[i] == g) return;
    uint32_t *p = cds_arena_alloc(b->a, (*n + 1) * sizeof *p);
    if (!p) return;
    if (*n) memcpy(p, *list, *n * sizeof *p);
    p[(*n)++] = g;
    *list = p;
}

/* RxNorm code -> ingredients (an ingredient code maps to itself). */
static void resolve_rxnorm(builder *b, const char *code, uint32_t **list, uint32_t *n)
{
    uint32_t g = cds_kb_ingredient_by_code(b->kb, code);
    if (g != CDS_KB_NONE) { add_ingredient(b, list, n, g); return; }
    const uint32_t *ings;
    size_t k = cds_kb_product_ingredients(b->kb, code, &ings);
    for (size_t i = 0; i < k; i++) add_ingredient(b, list, n, ings[i]);
}

static bool is_rxnorm(const char *system) { return system && strcmp(system, RXNORM) == 0; }

/* --- resources ---------------------------------------------------------------------------- */

static bool type_is(const msgpack_object *r, const char *t) { return cds_mp_str_eq(cds_mp_get(r, "resourceType"), t); }

static void index_medication(builder *b, const msgpack_object *r)
{
    if (!type_is(r, "Medication")) return;
    if (b->nmeds_idx >= b->capmeds_idx) {
        const msgpack_object **p = cds_arena_grow(b->a, b->meds_idx, b->nmeds_idx, &b->capmeds_idx, sizeof *p);
        if (!p) return;
        b->meds_idx = p;
    }
    b->meds_idx[b->nmeds_idx++] = r;
}

/* Finds the Medication a medicationReference points at: "#id" in contained, else by id. */
static const msgpack_object *find_medication(builder *b, const msgpack_object *res, const char *ref)
{
    if (!ref) return NULL;
    if (ref[0] == '#') {
        const msgpack_object *c = cds_mp_get(res, "contained");
        for (uint32_t i = 0; c && c->type == MSGPACK_OBJECT_ARRAY && i < c->via.array.size; i++)
            if (type_is(&c->via.array.ptr[i], "Medication") && cds_mp_str_eq(cds_mp_get(&c->via.array.ptr[i], "id"), ref + 1))
                return &c->via.array.ptr[i];
        return NULL;
    }
    const char *slash = strrchr(ref, '/');
    const char *id = slash ? slash + 1 : ref;
    for (uint32_t i = 0; i < b->nmeds_idx; i++)
        if (cds_mp_str_eq(cds_mp_get(b->meds_idx[i], "id"), id)) return b->meds_idx[i];
    return NULL;
}

static bool med_seen(builder *b, const char *ref) { return cds_strmap_get(&b->med_refs, ref, strlen(ref), NULL); }

static bool in_selections(builder *b, const char *ref)
{
    const msgpack_object *s = b->v->req->selections;
    for (uint32_t i = 0; s && i < s->via.array.size; i++) {
        const msgpack_object *x = &s->via.array.ptr[i];
        size_t n = strlen(ref);
        if (x->type != MSGPACK_OBJECT_STR || x->via.str.size < n) continue;
        /* accept "MedicationRequest/1" and absolute ".../MedicationRequest/1" */
        if (memcmp(x->via.str.ptr + x->via.str.size - n, ref, n) == 0 &&
            (x->via.str.size == n || x->via.str.ptr[x->via.str.size - n - 1] == '/'))
            return true;
    }
    return false;
}

static void add_med(builder *b, const msgpack_object *r, bool draft, uint32_t ordinal)
{
    static const char *const inactive[] = {"stopped", "completed", "cancelled", "entered-in-error", "on-hold",
                                           "not-taken", "revoked", "suspended", NULL};
    static const char *const draftish[] = {"draft", "proposed", "planned", NULL};
    cds_arena *a = b->a;
    const char *rtype = cds_mp_getstr(a, r, "resourceType");
    const char *status = status_code(a, cds_mp_get(r, "status"));
    if (is(status, inactive)) {
        /* A draft order stopping or cancelling an order: the active order with that id is on its
         * way out (draftOrders are read before prefetch, so it is marked as it is added). */
        const char *sid = draft && rtype ? cds_mp_getstr(a, r, "id") : NULL;
        const char *sref = sid ? cds_arena_join(a, rtype, "/", sid) : NULL;
        if (sref) cds_strmap_put(&b->stopped_refs, sref, strlen(sref), 0);
        return;
    }
    if (!draft && is(status, draftish)) return;   /* a draft that is not part of this hook */
    const char *id = cds_mp_getstr(a, r, "id");
    const char *ref = id ? cds_arena_join(a, rtype, "/", id) : cds_arena_printf(a, "%s/#%u", rtype, ordinal);
    if (med_seen(b, ref)) return;

    cds_med m = {.ref = ref, .resource_type = rtype, .id = id, .status = status,
                 .source = draft ? CDS_MED_DRAFT : CDS_MED_ACTIVE, .resource = r};
    m.selected = draft && (strcmp(b->v->req->hook, "order-select") != 0 || in_selections(b, ref));
    const msgpack_object *cc = cds_mp_get_nn(r, "medicationCodeableConcept");
    const msgpack_object *med = NULL;
    if (!cc) {
        const msgpack_object *mr = cds_mp_get_nn(r, "medicationReference");
        med = find_medication(b, r, cds_mp_getstr(a, mr, "reference"));
        cc = med ? cds_mp_get_nn(med, "code") : NULL;
        if (!cc && mr) m.text = cds_mp_getstr(a, mr, "display");
    }
    if (cc) {
        codings(b, cc, &m.codes, &m.ncodes);
        if (!m.text) m.text = cc_text(b, cc);
    }
    bool partial = false;   /* a product with an ingredient the vocabulary does not know */
    for (uint32_t i = 0; i < m.ncodes; i++)
        if (is_rxnorm(m.codes[i].system)) {
            resolve_rxnorm(b, m.codes[i].code, &m.ingredients, &m.ningredients);
            partial |= cds_kb_product_unscreened(b->kb, m.codes[i].code) != NULL;
        }
    /* A referenced Medication may list its ingredients. */
    const msgpack_object *ing = med ? cds_mp_get(med, "ingredient") : NULL;
    for (uint32_t i = 0; ing && ing->type == MSGPACK_OBJECT_ARRAY && i < ing->via.array.size; i++) {
        const msgpack_object *item = cds_mp_get_nn(&ing->via.array.ptr[i], "itemCodeableConcept");
        cds_coding *ic = NULL;
        uint32_t nic = 0;
        codings(b, item, &ic, &nic);
        for (uint32_t k = 0; k < nic; k++)
            if (is_rxnorm(ic[k].system)) resolve_rxnorm(b, ic[k].code, &m.ingredients, &m.ningredients);
    }
    if (!m.ningredients) {
        uint32_t found[16];
        size_t n = cds_kb_match_names(b->kb, m.text, false, found, 16);
        for (uint32_t i = 0; n == 0 && i < m.ncodes; i++) n = cds_kb_match_names(b->kb, m.codes[i].display, false, found, 16);
        for (size_t i = 0; i < n; i++) add_ingredient(b, &m.ingredients, &m.ningredients, found[i]);
        m.name_match = n > 0;
    }
    m.resolved = m.ningredients > 0 && !partial;   /* partial: screened in part, reported as not screened */
    if (!m.text) m.text = m.ncodes ? cds_arena_printf(a, "%s code %s", is_rxnorm(m.codes[0].system) ? "RxNorm" : "medication", m.codes[0].code)
                                   : "unnamed medication";
    if (draft) m.prior = cds_mp_getstr(a, cds_mp_get_nn(r, "priorPrescription"), "reference");
    if (m.prior) {   /* the order it replaces is on its way out too ("https://x/MedicationRequest/7/_history/2") */
        const char *p = m.prior, *h = strstr(p, "/_history/");
        size_t n = h ? (size_t)(h - p) : strlen(p);
        const char *slash1 = NULL, *slash2 = NULL;
        for (size_t i = 0; i < n; i++)
            if (p[i] == '/') slash2 = slash1, slash1 = p + i;
        const char *start = slash2 ? slash2 + 1 : p;
        cds_strmap_put(&b->stopped_refs, start, (size_t)(p + n - start), 0);
    }
    else m.stopping = cds_strmap_get(&b->stopped_refs, ref, strlen(ref), NULL);
    cds_med *p = cds_arena_grow(a, b->v->meds, b->v->nmeds, &b->capmeds, sizeof *p);
    if (!p) return;
    b->v->meds = p;
    cds_strmap_put(&b->med_refs, m.ref, strlen(m.ref), b->v->nmeds);
    p[b->v->nmeds++] = m;
}

static void add_allergy(builder *b, const msgpack_object *r)
{
    static const char *const gone[] = {"inactive", "resolved", NULL};
    static const char *const untrue[] = {"refuted", "entered-in-error", NULL};
    /* "No known allergy" records are statements of absence, not allergies. */
    static const char *const none[] = {"716186003", "409137002", "428607008", "429625007", "428197003", NULL};
    cds_arena *a = b->a;
    cds_allergy al = {0};
    al.clinical_status = status_code(a, cds_mp_get(r, "clinicalStatus"));
    al.verification_status = status_code(a, cds_mp_get(r, "verificationStatus"));
    if (is(al.clinical_status, gone) || is(al.verification_status, untrue)) return;
    const msgpack_object *code = cds_mp_get_nn(r, "code");
    if (!code) code = cds_mp_get_nn(r, "substance");
    codings(b, code, &al.codes, &al.ncodes);
    for (uint32_t i = 0; i < al.ncodes; i++)
        if (is(al.codes[i].code, none)) return;
    al.id = cds_mp_getstr(a, r, "id");
    al.text = cc_text(b, code);
    al.type = cds_mp_getstr(a, r, "type");
    al.criticality = cds_mp_getstr(a, r, "criticality");
    const msgpack_object *cat = cds_mp_get(r, "category");
    if (cat && cat->type == MSGPACK_OBJECT_ARRAY && cat->via.array.size) al.category = cds_mp_strdup(a, &cat->via.array.ptr[0]);
    else al.category = cds_mp_strdup(a, cat);
    const msgpack_object *rx = cds_mp_get(r, "reaction");
    if (rx && rx->type == MSGPACK_OBJECT_ARRAY && rx->via.array.size) {
        const msgpack_object *mf = cds_mp_get(&rx->via.array.ptr[0], "manifestation");
        if (mf && mf->type == MSGPACK_OBJECT_ARRAY && mf->via.array.size) al.reaction = cc_text(b, &mf->via.array.ptr[0]);
        if (!al.reaction) al.reaction = cds_mp_getstr(a, &rx->via.array.ptr[0], "description");
    }
    for (uint32_t i = 0; i < al.ncodes; i++) {
        if (is_rxnorm(al.codes[i].system)) resolve_rxnorm(b, al.codes[i].code, &al.targets, &al.ntargets);
        uint32_t t = cds_kb_allergen_code(b->kb, al.codes[i].system, al.codes[i].code);
        if (t != CDS_KB_NONE) add_ingredient(b, &al.targets, &al.ntargets, t);
    }
    if (!al.ntargets) {
        uint32_t found[16];
        size_t n = cds_kb_match_names(b->kb, al.text, true, found, 16);
        for (uint32_t i = 0; n == 0 && i < al.ncodes; i++) n = cds_kb_match_names(b->kb, al.codes[i].display, true, found, 16);
        for (size_t i = 0; i < n; i++) add_ingredient(b, &al.targets, &al.ntargets, found[i]);
    }
    al.resolved = al.ntargets > 0;
    if (!al.text) al.text = al.ncodes ? al.codes[0].code : "unnamed allergy";
    cds_allergy *p = cds_arena_grow(a, b->v->allergies, b->v->nallergies, &b->capall, sizeof *p);
    if (!p) return;
    b->v->allergies = p;
    p[b->v->nallergies++] = al;
}

static void add_condition(builder *b, const msgpack_object *r)
{
    static const char *const active[] = {"active", "recurrence", "relapse", NULL};
    static const char *const untrue[] = {"refuted", "entered-in-error", NULL};
    const char *cs = status_code(b->a, cds_mp_get(r, "clinicalStatus"));
    const char *vs = status_code(b->a, cds_mp_get(r, "verificationStatus"));
    if ((cs && !is(cs, active)) || is(vs, untrue)) return;
    cds_condition c = {.id = cds_mp_getstr(b->a, r, "id")};
    const msgpack_object *code = cds_mp_get_nn(r, "code");
    codings(b, code, &c.codes, &c.ncodes);
    c.text = cc_text(b, code);
    cds_condition *p = cds_arena_grow(b->a, b->v->conditions, b->v->nconditions, &b->capcond, sizeof *p);
    if (!p) return;
    b->v->conditions = p;
    p[b->v->nconditions++] = c;
}

static time_t observation_time(const msgpack_object *r)
{
    const msgpack_object *t = cds_mp_get(r, "effectiveDateTime");
    if (!cds_mp_is_str(t)) t = cds_mp_get(r, "effectiveInstant");
    if (!cds_mp_is_str(t)) t = cds_mp_get(cds_mp_get(r, "effectivePeriod"), "start");
    if (!cds_mp_is_str(t)) t = cds_mp_get(r, "issued");
    char buf[48];
    time_t when = 0;
    if (cds_mp_is_str(t) && t->via.str.size < sizeof buf) {
        memcpy(buf, t->via.str.ptr, t->via.str.size);
        buf[t->via.str.size] = '\0';
        cds_parse_time(buf, &when);
    }
    return when;
}

/* Files the observation under each of its LOINC codes, keeping the latest per code. */
static void add_observation(builder *b, const msgpack_object *r)
{
    static const char *const bad[] = {"entered-in-error", "cancelled", NULL};
    if (is(status_code(b->a, cds_mp_get(r, "status")), bad)) return;
    const msgpack_object *c = cds_mp_get(cds_mp_get_nn(r, "code"), "coding");
    if (!c || c->type != MSGPACK_OBJECT_ARRAY) return;
    bool timed = false;
    cds_observation o = {.resource = r};
    for (uint32_t i = 0; i < c->via.array.size; i++) {
        const msgpack_object *x = &c->via.array.ptr[i], *code = cds_mp_get(x, "code");
        if (!cds_mp_str_eq(cds_mp_get(x, "system"), LOINC) || !cds_mp_is_str(code)) continue;
        if (!timed) {
            o.when = observation_time(r);
            timed = true;
        }
        uint32_t k;
        if (cds_strmap_get(&b->obs_codes, code->via.str.ptr, code->via.str.size, &k)) {
            if (o.when >= b->v->obs[k].when) {   /* keep the latest */
                o.code = b->v->obs[k].code;
                b->v->obs[k] = o;
            }
            continue;
        }
        cds_observation *p = cds_arena_grow(b->a, b->v->obs, b->v->nobs, &b->capobs, sizeof *p);
        if (!p) return;
        b->v->obs = p;
        o.code = cds_mp_strdup(b->a, code);
        cds_strmap_put(&b->obs_codes, o.code, strlen(o.code), b->v->nobs);
        p[b->v->nobs++] = o;
    }
}

const cds_observation *cds_view_observation(const cds_view *v, uint32_t i)
{
    /* The view is logically read-only; the details are a cache filled in the view's own arena. */
    cds_observation *o = &v->obs[i];
    if (o->detailed) return o;
    builder b = {.v = (cds_view *)v, .a = v->arena, .kb = v->kb};
    const msgpack_object *r = o->resource, *code = cds_mp_get_nn(r, "code");
    o->display = cc_text(&b, code);
    const msgpack_object *q = cds_mp_get_nn(r, "valueQuantity");
    if (q) {
        o->has_value = cds_mp_number(cds_mp_get(q, "value"), &o->value);
        o->unit = cds_mp_getstr(v->arena, q, "unit");
        if (!o->unit) o->unit = cds_mp_getstr(v->arena, q, "code");
        o->comparator = cds_mp_getstr(v->arena, q, "comparator");
    }
    o->value_text = cds_mp_getstr(v->arena, r, "valueString");
    const msgpack_object *vc = cds_mp_get_nn(r, "valueCodeableConcept"), *c0 = cds_mp_get(vc, "coding");
    if (!o->value_text) o->value_text = cc_text(&b, vc);
    if (c0 && c0->type == MSGPACK_OBJECT_ARRAY && c0->via.array.size > 0)
        o->value_code = cds_mp_getstr(v->arena, &c0->via.array.ptr[0], "code");
    const char *vt = cds_mp_getstr(v->arena, r, "valueDateTime");
    if (vt && !cds_parse_time(vt, &o->value_time)) o->value_time = 0;
    o->detailed = true;
    return o;
}

static void add_patient(builder *b, const msgpack_object *r)
{
    cds_patient *p = &b->v->patient;
    if (p->found) return;
    p->found = true;
    p->sex = cds_mp_getstr(b->a, r, "gender");
    time_t born;
    const char *bd = cds_mp_getstr(b->a, r, "birthDate");
    p->birth_date = bd;
    if (bd && cds_parse_time(bd, &born)) {
        struct tm n, t;
        gmtime_r(&b->v->now, &n);
        gmtime_r(&born, &t);
        int age = n.tm_year - t.tm_year;
        if (n.tm_mon < t.tm_mon || (n.tm_mon == t.tm_mon && n.tm_mday < t.tm_mday)) age--;
        p->age = age < 0 ? -1 : age;
    }
}

/* Calls fn for each resource in a prefetch value or Bundle (one level of Bundle nesting). */
typedef void (*res_fn)(builder *, const msgpack_object *, bool draft, uint32_t ordinal);

static void each_resource(builder *b, const msgpack_object *v, bool draft, res_fn fn)
{
    if (!v || v->type != MSGPACK_OBJECT_MAP) return;
    if (type_is(v, "OperationOutcome")) { b->v->prefetch_errors++; return; }
    if (!type_is(v, "Bundle")) { fn(b, v, draft, 0); return; }
    const msgpack_object *e = cds_mp_get(v, "entry");
    for (uint32_t i = 0; e && e->type == MSGPACK_OBJECT_ARRAY && i < e->via.array.size; i++) {
        const msgpack_object *r = cds_mp_get_nn(&e->via.array.ptr[i], "resource");
        if (!r || r->type != MSGPACK_OBJECT_MAP) continue;
        if (type_is(r, "OperationOutcome")) { b->v->prefetch_errors++; continue; }
        fn(b, r, draft, i);
    }
}

static void pass_index(builder *b, const msgpack_object *r, bool draft, uint32_t ordinal)
{
    (void)draft;
    (void)ordinal;
    index_medication(b, r);
}

static void add_order(builder *b, const msgpack_object *r, uint32_t ordinal)
{
    static const char *const inactive[] = {"revoked", "completed", "entered-in-error", "cancelled", NULL};
    cds_arena *a = b->a;
    cds_order o = {.resource_type = cds_mp_getstr(a, r, "resourceType"), .status = status_code(a, cds_mp_get(r, "status"))};
    if (!o.resource_type || is(o.status, inactive)) return;   /* request validation requires the type */
    const char *id = cds_mp_getstr(a, r, "id");
    o.ref = id ? cds_arena_join(a, o.resource_type, "/", id) : cds_arena_printf(a, "%s/#%u", o.resource_type, ordinal);
    const msgpack_object *code = cds_mp_get_nn(r, "code");
    codings(b, code, &o.codes, &o.ncodes);
    o.text = cc_text(b, code);
    cds_order *p = cds_arena_grow(a, b->v->orders, b->v->norders, &b->caporders, sizeof *p);
    if (!p) return;
    b->v->orders = p;
    p[b->v->norders++] = o;
}

static void pass_clinical(builder *b, const msgpack_object *r, bool draft, uint32_t ordinal)
{
    const msgpack_object *t = cds_mp_get(r, "resourceType");   /* looked up once per resource */
    if (cds_mp_str_eq(t, "MedicationRequest") || cds_mp_str_eq(t, "MedicationStatement") ||
        cds_mp_str_eq(t, "MedicationOrder"))
        add_med(b, r, draft, ordinal);
    else if (draft) add_order(b, r, ordinal);   /* lab and other orders being placed */
    else if (cds_mp_str_eq(t, "AllergyIntolerance")) add_allergy(b, r);
    else if (cds_mp_str_eq(t, "Condition")) add_condition(b, r);
    else if (cds_mp_str_eq(t, "Observation")) add_observation(b, r);
    else if (cds_mp_str_eq(t, "Patient")) add_patient(b, r);
}

static void each_source(builder *b, res_fn fn)
{
    const cds_request *q = b->v->req;
    each_resource(b, q->draft_orders, true, fn);
    const msgpack_object *p = q->prefetch;
    for (uint32_t i = 0; p && i < p->via.map.size; i++) each_resource(b, &p->via.map.ptr[i].val, false, fn);
}

const cds_observation *cds_view_obs_by_code(const cds_view *v, const char *code)
{
    uint32_t i;
    if (!code || !cds_strmap_get(&v->obs_index, code, strlen(code), &i) || i >= v->nobs) return NULL;
    return &v->obs[i];
}

cds_rc cds_view_build(const cds_request *req, const cds_kb *kb, time_t now, cds_arena *a, cds_view *out,
                      cds_error *err)
{
    memset(out, 0, sizeof *out);
    out->req = req;
    out->kb = kb;
    out->now = now;
    out->patient.age = -1;
    out->arena = a;
    builder b = {.v = out, .a = a, .kb = kb};
    each_source(&b, pass_index);
    out->prefetch_errors = 0;   /* counted again by the clinical pass */
    each_source(&b, pass_clinical);
    cds_strmap_free(&b.med_refs);
    cds_strmap_free(&b.stopped_refs);
    if (b.obs_codes.cap) {   /* kept as the view's index: its slots move to the arena */
        out->obs_index = b.obs_codes;
        out->obs_index.slots = cds_arena_alloc(a, b.obs_codes.cap * sizeof *b.obs_codes.slots);
        if (out->obs_index.slots) memcpy(out->obs_index.slots, b.obs_codes.slots, b.obs_codes.cap * sizeof *b.obs_codes.slots);
        else out->obs_index.cap = out->obs_index.count = 0;
    }
    cds_strmap_free(&b.obs_codes);
    for (uint32_t i = 0; i < out->nobs; i++) {
        if (strcmp(out->obs[i].code, "29463-7") != 0) continue;   /* body weight */
        const cds_observation *o = cds_view_observation(out, i);
        if (o->has_value) out->patient.weight_kg = o->unit && strstr(o->unit, "lb") ? o->value * 0.45359237 : o->value;
    }
    /* An allocation that failed anywhere above left out a medication, an allergy or a field:
     * a view with a hole would screen as "no problems". */
    if (a->failed) return cds_error_set(err, CDS_EINTERNAL, NULL, "out of memory building the clinical view");
    return CDS_OK;
}
