/* dose.c — FHIR Dosage to amounts per ingredient per administration and per day. */
#include "dose.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mp.h"
#include "patient_facts.h"
#include "route_group.h"
#include "units.h"

#define RXNORM "http://www.nlm.nih.gov/research/umls/rxnorm"
#define SNOMED "http://snomed.info/sct"
#define MAX_AMOUNT 1e6   /* above this, in the ordered unit or in mg/unit/mEq/mmol: implausible */

/* One Dosage entry, read. */
typedef struct entry {
    const char *why;          /* hard error: the whole order is not computed */
    bool text_only;
    double amount;
    bool has_amount;
    cds_unit unit;
    const char *unit_text;
    double per_day, per_day_min;   /* NAN unknown */
    const char *daily_why;
    double period_days;
    double maxpp_amount;      /* maxDosePerPeriod numerator, per day; NAN none */
    cds_unit maxpp_unit;
    bool prn;
    int64_t sequence;
    const char *route, *route_text;
} entry;

static const char *num_problem(cds_arena *a, const char *what, double x)
{
    if (isnan(x)) return cds_arena_printf(a, "%s is not a number", what);
    if (!isfinite(x) || x > MAX_AMOUNT) return cds_arena_printf(a, "%s %g is implausibly large", what, x);
    if (x < 0) return cds_arena_printf(a, "%s is negative (%g)", what, x);
    if (x == 0) return cds_arena_printf(a, "%s is 0", what);
    return NULL;
}

/* Reads a number field; absent -> false; present but not a number -> *why. */
static bool getnum(cds_arena *a, const msgpack_object *o, const char *k, double *out, const char **why)
{
    const msgpack_object *x = cds_mp_get_nn(o, k);
    if (!x) return false;
    if (!cds_mp_number(x, out)) {
        *why = cds_arena_printf(a, "%s is not a number", k);
        return false;
    }
    return true;
}

static double period_days(const char *u)
{
    static const struct { const char *u; double d; } t[] = {{"s", 1.0 / 86400}, {"min", 1.0 / 1440}, {"h", 1.0 / 24},
                                                            {"d", 1}, {"wk", 7}, {"mo", 30}, {"a", 365}};
    for (size_t i = 0; u && i < sizeof t / sizeof t[0]; i++)
        if (strcmp(u, t[i].u) == 0) return t[i].d;
    return 0;
}

/* HL7 v3 GTSAbbreviation (and common variants): administrations per period_days. */
static bool timing_code(const char *c, double *per, double *days)
{
    static const struct { const char *c; double n, d; } t[] = {
        {"QD", 1, 1}, {"DAILY", 1, 1}, {"QDAY", 1, 1}, {"BID", 2, 1}, {"TID", 3, 1}, {"QID", 4, 1},
        {"AM", 1, 1}, {"PM", 1, 1}, {"QAM", 1, 1}, {"QPM", 1, 1}, {"QHS", 1, 1}, {"HS", 1, 1}, {"BED", 1, 1},
        {"Q1H", 24, 1}, {"Q2H", 12, 1}, {"Q3H", 8, 1}, {"Q4H", 6, 1}, {"Q6H", 4, 1}, {"Q8H", 3, 1},
        {"Q12H", 2, 1}, {"Q24H", 1, 1}, {"Q48H", 1, 2}, {"Q72H", 1, 3}, {"QOD", 1, 2},
        {"WK", 1, 7}, {"QWK", 1, 7}, {"QW", 1, 7}, {"MO", 1, 30}, {"ONCE", 1, 1}, {"STAT", 1, 1},
    };
    for (size_t i = 0; c && i < sizeof t / sizeof t[0]; i++)
        if (strcasecmp(c, t[i].c) == 0) {
            *per = t[i].n;
            *days = t[i].d;
            return true;
        }
    return false;
}

static void read_timing(cds_arena *a, const msgpack_object *timing, entry *e)
{
    const msgpack_object *rep = cds_mp_get_nn(timing, "repeat");
    double f = NAN, fmax = NAN, p = NAN, pmax = NAN, count = NAN;
    const char *why = NULL;
    bool hf = getnum(a, rep, "frequency", &f, &why), hfm = getnum(a, rep, "frequencyMax", &fmax, &why);
    bool hp = getnum(a, rep, "period", &p, &why), hpm = getnum(a, rep, "periodMax", &pmax, &why);
    bool hc = getnum(a, rep, "count", &count, &why);
    if (why) { e->why = why; return; }
    const char *pu = cds_mp_getstr(a, rep, "periodUnit");
    const msgpack_object *when = cds_mp_get_nn(rep, "when"), *dow = cds_mp_get_nn(rep, "dayOfWeek");
    uint32_t nwhen = when && when->type == MSGPACK_OBJECT_ARRAY ? when->via.array.size : 0;
    uint32_t ndow = dow && dow->type == MSGPACK_OBJECT_ARRAY ? dow->via.array.size : 0;
    if ((hf && f <= 0) || (hfm && fmax <= 0) || (hf && !isfinite(f)) || (hfm && !isfinite(fmax))) {
        e->why = isnan(hf ? f : fmax) ? "frequency is not a number" : cds_arena_printf(a, "frequency is %g", hf ? f : fmax);
        return;
    }
    if ((hp && !(p > 0 && isfinite(p))) || (hpm && !(pmax > 0 && isfinite(pmax)))) {
        e->why = isnan(hp ? p : pmax) ? "period is not a number" : cds_arena_printf(a, "period is %g", hp ? p : pmax);
        return;
    }
    double unit_days = period_days(pu);
    if (hf || hp || hfm) {
        if (!unit_days) {
            e->daily_why = pu ? cds_arena_printf(a, "period unit '%s' is not understood", pu) : "the timing has no period unit";
            return;
        }
        if (!hf) f = 1;
        if (!hp) p = 1;
        double fm = hfm ? fmax : f;
        e->period_days = p * unit_days;
        e->per_day = fm / (p * unit_days);
        e->per_day_min = f / ((hpm ? pmax : p) * unit_days);
        if (ndow && unit_days >= 7) { e->per_day *= ndow; e->per_day_min *= ndow; }
        return;
    }
    if (nwhen) { e->per_day = e->per_day_min = nwhen; e->period_days = 1; return; }
    if (ndow) { e->per_day = e->per_day_min = ndow / 7.0; e->period_days = 7; return; }
    const msgpack_object *code = cds_mp_get_nn(timing, "code");
    const msgpack_object *cod = cds_mp_get(code, "coding");
    double per, days;
    for (uint32_t i = 0; cod && cod->type == MSGPACK_OBJECT_ARRAY && i < cod->via.array.size; i++) {
        const char *c = cds_mp_getstr(a, &cod->via.array.ptr[i], "code");
        if (timing_code(c, &per, &days)) {
            e->per_day = e->per_day_min = per / days;
            e->period_days = days / per;
            return;
        }
    }
    if (timing_code(cds_mp_getstr(a, code, "text"), &per, &days)) {
        e->per_day = e->per_day_min = per / days;
        e->period_days = days / per;
        return;
    }
    if (hc && count == 1) { e->per_day = e->per_day_min = 1; return; }   /* a single dose */
    e->daily_why = timing || code ? "the timing gives no frequency that can be read" : "the order has no timing";
}

static void read_route(cds_arena *a, const msgpack_object *route, entry *e)
{
    const msgpack_object *c = cds_mp_get(route, "coding");
    for (uint32_t i = 0; c && c->type == MSGPACK_OBJECT_ARRAY && i < c->via.array.size && !e->route; i++) {
        const msgpack_object *x = &c->via.array.ptr[i];
        const char *code = cds_mp_getstr(a, x, "code"), *sys = cds_mp_getstr(a, x, "system");
        if (!sys || strcmp(sys, SNOMED) == 0) e->route = cds_route_group_snomed(code);
        if (!e->route) e->route = cds_route_group_text(cds_mp_getstr(a, x, "display"));
        if (!e->route_text) e->route_text = cds_mp_getstr(a, x, "display");
        if (!e->route_text) e->route_text = code;
    }
    const char *t = cds_mp_getstr(a, route, "text");
    if (t) e->route_text = t;
    if (!e->route) e->route = cds_route_group_text(t);
}

/* A Quantity: value and unit. */
static bool quantity(cds_arena *a, const msgpack_object *q, double *amount, cds_unit *u, const char **text, const char **why)
{
    const msgpack_object *v = cds_mp_get_nn(q, "value");
    if (!v) { *why = "the dose has no value"; return false; }
    if (!cds_mp_number(v, amount)) { *why = "the dose is not a number"; return false; }
    const char *sys = cds_mp_getstr(a, q, "system"), *code = cds_mp_getstr(a, q, "code"), *unit = cds_mp_getstr(a, q, "unit");
    *u = cds_unit_parse(sys, code, unit);
    *text = unit ? unit : code;
    return true;
}

static void read_entry(cds_arena *a, const msgpack_object *d, entry *e)
{
    e->amount = NAN;
    e->per_day = e->per_day_min = e->maxpp_amount = NAN;
    double seq;
    const char *why = NULL;
    e->sequence = getnum(a, d, "sequence", &seq, &why) ? (int64_t)seq : -1;
    const msgpack_object *an = cds_mp_get_nn(d, "asNeededBoolean");
    e->prn = (an && an->type == MSGPACK_OBJECT_BOOLEAN && an->via.boolean) || cds_mp_get_nn(d, "asNeededCodeableConcept") ||
             cds_mp_get_nn(d, "asNeededFor");
    read_route(a, cds_mp_get_nn(d, "route"), e);
    const msgpack_object *dr = cds_mp_get_nn(d, "doseAndRate");
    bool rate = false;
    for (uint32_t i = 0; dr && dr->type == MSGPACK_OBJECT_ARRAY && i < dr->via.array.size && !e->has_amount && !e->why; i++) {
        const msgpack_object *x = &dr->via.array.ptr[i];
        const msgpack_object *q = cds_mp_get_nn(x, "doseQuantity");
        if (!q) q = cds_mp_get_nn(cds_mp_get_nn(x, "doseRange"), "high");
        if (!q && cds_mp_get_nn(x, "doseRange")) { e->why = "the dose range has no upper end"; break; }
        rate |= cds_mp_get_nn(x, "rateQuantity") || cds_mp_get_nn(x, "rateRatio") || cds_mp_get_nn(x, "rateRange");
        if (q) e->has_amount = quantity(a, q, &e->amount, &e->unit, &e->unit_text, &e->why);
    }
    const msgpack_object *mpa = cds_mp_get_nn(d, "maxDosePerAdministration");
    if (!e->has_amount && mpa && !e->why) e->has_amount = quantity(a, mpa, &e->amount, &e->unit, &e->unit_text, &e->why);
    if (e->why) return;
    if (!e->has_amount) {
        if (rate) e->why = "infusion rates are not checked yet";
        else if (cds_mp_get_nn(d, "text") || cds_mp_get_nn(d, "patientInstruction")) e->text_only = true;
        else e->why = "the dosage gives no dose";
        return;
    }
    if ((e->why = num_problem(a, "dose", e->amount))) return;
    if (e->unit.kind == CDS_UNIT_UNKNOWN) {
        e->why = e->unit_text ? cds_arena_printf(a, "dose unit '%s' is not understood", e->unit_text) : "the dose has no unit";
        return;
    }
    read_timing(a, cds_mp_get_nn(d, "timing"), e);
    if (e->why) return;
    /* maxDosePerPeriod: a Ratio (R4) or a list of them (R5) */
    const msgpack_object *mpp = cds_mp_get_nn(d, "maxDosePerPeriod");
    if (mpp && mpp->type == MSGPACK_OBJECT_ARRAY) mpp = mpp->via.array.size ? &mpp->via.array.ptr[0] : NULL;
    if (mpp) {
        double num = NAN, den = NAN;
        cds_unit nu = {0}, du;
        const char *nt = NULL, *dt = NULL, *w = NULL;
        if (!quantity(a, cds_mp_get_nn(mpp, "numerator"), &num, &nu, &nt, &w)) num = NAN;
        const msgpack_object *dq = cds_mp_get_nn(mpp, "denominator");
        const msgpack_object *dv = cds_mp_get_nn(dq, "value");
        const char *dunit = cds_mp_getstr(a, dq, "code");
        if (!dunit) dunit = cds_mp_getstr(a, dq, "unit");
        double days = period_days(dunit);
        if (!days && dunit && (strcasecmp(dunit, "day") == 0 || strcasecmp(dunit, "days") == 0)) days = 1;
        if (!days && dunit && (strcasecmp(dunit, "hour") == 0 || strcasecmp(dunit, "hours") == 0)) days = 1.0 / 24;
        (void)du;
        (void)dt;
        if (!w && nu.kind != CDS_UNIT_UNKNOWN && dv && cds_mp_number(dv, &den) && den > 0 && isfinite(den) && days > 0 &&
            num > 0 && num <= MAX_AMOUNT) {
            e->maxpp_amount = num / (den * days);
            e->maxpp_unit = nu;
        }
    }
}

/* Converts an entry's amount (in its unit) into per-ingredient amounts. */
static const char *per_ingredient(const cds_view *v, const cds_med *m, double amount, cds_unit u, const char *unit_text,
                                  cds_dose *d, double *out, const char **units)
{
    cds_arena *a = v->arena;
    if (u.per_kg) {
        const cds_patient_facts *f = cds_view_patient_facts(v);
        if (!f->weight_kg.known) return cds_arena_printf(a, "the dose is per kg and the weight is unknown (%s)", f->weight_kg.why);
        amount *= f->weight_kg.value;
        d->per_kg = true;
        d->weight_kg = f->weight_kg.value;
    }
    if (!m->ningredients) return "the medication is not mapped to an ingredient";
    if (u.kind == CDS_UNIT_AMOUNT) {
        if (m->ningredients != 1)
            return m->ningredients ? cds_arena_printf(a, "the dose is in %s and the product has %u ingredients: which one is meant is not stated",
                                                      unit_text, m->ningredients)
                                   : "the medication is not mapped to an ingredient";
        out[0] = amount * u.factor;
        units[0] = u.base;
        return NULL;
    }
    const cds_kb_strength *s = NULL;
    size_t ns = 0;
    for (uint32_t i = 0; i < m->ncodes && !ns; i++)
        if (m->codes[i].system && strcmp(m->codes[i].system, RXNORM) == 0) ns = cds_kb_product_strengths(v->kb, m->codes[i].code, &s);
    if (!ns) return cds_arena_printf(a, "the dose is in %s and the product's strength is not known", unit_text);
    for (uint32_t i = 0; i < m->ningredients; i++) {
        const cds_kb_strength *k = NULL;
        for (size_t j = 0; j < ns && !k; j++)
            if (s[j].ingredient == m->ingredients[i]) k = &s[j];
        if (!k) return cds_arena_printf(a, "the strength of %s in the product is not known", cds_kb_ingredient_at(v->kb, m->ingredients[i])->name);
        if (u.kind == CDS_UNIT_VOLUME) {
            if (k->per_volume_ml <= 0) return cds_arena_printf(a, "the dose is in %s but the product's strength is per unit, not per mL", unit_text);
            out[i] = amount * u.factor * k->amount / k->per_volume_ml;
        } else {
            if (k->per_volume_ml > 0) return cds_arena_printf(a, "the dose is in %s but the product's strength is per mL", unit_text);
            out[i] = amount * k->amount;
        }
        units[i] = k->unit;
    }
    return NULL;
}

static void join_text(cds_arena *a, const char **acc, const char *t)
{
    if (!t || !*t) return;
    *acc = *acc ? cds_arena_join(a, *acc, "; ", t) : t;
}

static const cds_dose *compute(const cds_view *v, const cds_med *m)
{
    cds_arena *a = v->arena;
    cds_dose *d = cds_arena_alloc(a, sizeof *d);
    static const cds_dose oom = {.not_computed = "out of memory", .amount = NAN, .doses_per_day = NAN,
                                 .doses_per_day_min = NAN, .interval_h = NAN};
    if (!d) return &oom;
    d->amount = d->doses_per_day = d->doses_per_day_min = d->interval_h = NAN;
    const msgpack_object *list = cds_mp_get_nn(m->resource, "dosageInstruction");
    if (!list) list = cds_mp_get_nn(m->resource, "dosage");
    uint32_t n = list && list->type == MSGPACK_OBJECT_ARRAY ? list->via.array.size : 0;
    if (!n) { d->not_computed = "the order has no dosage instructions"; return d; }
    if (n > 64) n = 64;
    d->ningredients = m->ningredients;
    d->ingredients = cds_arena_alloc(a, (m->ningredients + 1) * sizeof *d->ingredients);
    double *per = cds_arena_alloc(a, (m->ningredients + 1) * sizeof *per * 2);
    const char **units = cds_arena_alloc(a, (m->ningredients + 1) * sizeof *units);
    entry *es = cds_arena_alloc(a, n * sizeof *es);
    double *daily = cds_arena_alloc(a, (size_t)n * (m->ningredients + 1) * sizeof *daily);
    if (!d->ingredients || !per || !units || !es || !daily) return &oom;
    for (uint32_t i = 0; i < m->ningredients; i++)
        d->ingredients[i] = (cds_dose_ingredient){m->ingredients[i], NAN, NAN, NULL};
    uint32_t computed = 0;
    double best_daily = -1;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *x = &list->via.array.ptr[i];
        entry *e = &es[i];
        memset(e, 0, sizeof *e);
        join_text(a, &d->text, cds_mp_getstr(a, x, "text"));
        if (x->type != MSGPACK_OBJECT_MAP) { d->not_computed = "a dosage instruction is not an object"; return d; }
        read_entry(a, x, e);
        d->prn |= e->prn;
        if (!d->route && e->route) { d->route = e->route; d->route_from = "dosage"; }
        if (!d->route_text && e->route_text) d->route_text = e->route_text;
        if (e->why) { d->not_computed = e->why; return d; }
        if (e->text_only) continue;
        const char *w = per_ingredient(v, m, e->amount, e->unit, e->unit_text, d, per, units);
        if (w) { d->not_computed = w; return d; }
        /* daily: administrations x amount, capped by maxDosePerPeriod; PRN at its maximum */
        double *dl = &daily[(size_t)i * (m->ningredients + 1)];
        double ppd = e->unit.per_day ? 1 : e->per_day;
        for (uint32_t g = 0; g < m->ningredients; g++) {
            if (per[g] > MAX_AMOUNT || !isfinite(per[g])) {
                d->not_computed = cds_arena_printf(a, "dose %g %s is implausibly large", per[g], units[g]);
                return d;
            }
            dl[g] = isnan(ppd) ? NAN : per[g] * ppd;
            if (e->unit.per_day) {   /* "mg/kg/d": the ordered amount is the daily amount */
                if (!isnan(e->per_day) && e->per_day > 0) per[g] /= e->per_day;
                else per[g] = NAN;
            }
            cds_dose_ingredient *di = &d->ingredients[g];
            if (di->unit && units[g] && strcmp(di->unit, units[g]) != 0) {
                d->not_computed = "the dosage instructions use different units for one ingredient";
                return d;
            }
            di->unit = units[g];
            if (!isnan(per[g]) && (isnan(di->per_admin) || per[g] > di->per_admin)) di->per_admin = per[g];
        }
        if (!isnan(e->maxpp_amount)) {
            double cap[64];
            const char *cu[64];
            if (m->ningredients <= 64 &&
                !per_ingredient(v, m, e->maxpp_amount, e->maxpp_unit, "the maximum per period", d, cap, cu))
                for (uint32_t g = 0; g < m->ningredients; g++)
                    if (cu[g] && units[g] && strcmp(cu[g], units[g]) == 0 && (isnan(dl[g]) || cap[g] < dl[g])) dl[g] = cap[g];
        }
        if (isnan(dl[0]) && !d->daily_not_computed)
            d->daily_not_computed = e->daily_why ? e->daily_why : "the administrations per day are not known";
        double total = 0;
        for (uint32_t g = 0; g < m->ningredients; g++) total += isnan(dl[g]) ? 0 : dl[g];
        if (total > best_daily || computed == 0) {
            best_daily = total;
            d->amount = e->amount;
            d->unit = e->unit_text;
            d->doses_per_day = e->per_day;
            d->doses_per_day_min = e->per_day_min;
            d->schedule = e->period_days >= 6.99 && e->period_days <= 7.01 && e->per_day * 7 < 1.01 ? "weekly" : NULL;
        }
        computed++;
    }
    d->nentries = n;
    if (!computed) {
        d->not_computed = d->text ? "free-text sig: the dose is only in the instructions' text" : "the dosage gives no dose";
        return d;
    }
    if (!d->route && !d->route_text) {   /* the product's dose form: "Oral Tablet", "Rectal Suppository" */
        for (uint32_t i = 0; i < m->ncodes && !d->route; i++)
            if (m->codes[i].system && strcmp(m->codes[i].system, RXNORM) == 0) d->route = cds_kb_product_route(v->kb, m->codes[i].code);
        if (!d->route) d->route = cds_route_group_text(m->text);
        for (uint32_t i = 0; i < m->ncodes && !d->route; i++) d->route = cds_route_group_text(m->codes[i].display);
        if (d->route) d->route_from = "product";
    }
    if (!isnan(d->doses_per_day) && d->doses_per_day > 0) d->interval_h = 24 / d->doses_per_day;
    /* Daily per ingredient: entries with the same sequence run together (summed); different
     * sequences follow each other (a taper: the largest). Entries without a sequence each stand alone. */
    if (d->daily_not_computed) return d;
    for (uint32_t g = 0; g < m->ningredients; g++) {
        double best = NAN;
        for (uint32_t i = 0; i < n; i++) {
            if (es[i].text_only) continue;
            double sum = daily[(size_t)i * (m->ningredients + 1) + g];
            if (es[i].sequence >= 0) {
                bool first = true;
                for (uint32_t j = 0; j < i; j++) first &= es[j].text_only || es[j].sequence != es[i].sequence;
                if (!first) continue;
                for (uint32_t j = i + 1; j < n; j++)
                    if (!es[j].text_only && es[j].sequence == es[i].sequence) sum += daily[(size_t)j * (m->ningredients + 1) + g];
            }
            if (isnan(best) || sum > best) best = sum;
        }
        d->ingredients[g].daily = best;
    }
    return d;
}

const cds_dose *cds_view_dose(const cds_view *v, uint32_t med)
{
    static const cds_dose none = {.not_computed = "no such medication", .amount = NAN, .doses_per_day = NAN,
                                  .doses_per_day_min = NAN, .interval_h = NAN};
    if (med >= v->nmeds) return &none;
    cds_view *w = (cds_view *)v;   /* logically const: a cache in the view's own arena */
    if (!w->doses) {
        w->doses = cds_arena_alloc(v->arena, (v->nmeds + 1) * sizeof *w->doses);
        if (!w->doses) return compute(v, &v->meds[med]);
    }
    if (!w->doses[med]) w->doses[med] = compute(v, &v->meds[med]);
    return w->doses[med];
}

void cds_dose_daily_total(const cds_view *v, uint32_t ingredient, const char *route, cds_daily_total *out)
{
    memset(out, 0, sizeof *out);
    cds_arena *a = v->arena;
    out->meds = cds_arena_alloc(a, (v->nmeds + 1) * sizeof *out->meds);
    out->uncounted = cds_arena_alloc(a, (v->nmeds + 1) * sizeof *out->uncounted);
    out->reasons = cds_arena_alloc(a, (v->nmeds + 1) * sizeof *out->reasons);
    if (!out->meds || !out->uncounted || !out->reasons) return;
    for (uint32_t i = 0; i < v->nmeds; i++) {
        const cds_med *m = &v->meds[i];
        uint32_t g = 0;
        while (g < m->ningredients && m->ingredients[g] != ingredient) g++;
        if (g == m->ningredients) continue;
        const cds_dose *d = cds_view_dose(v, i);
        const char *why = d->not_computed ? d->not_computed : d->daily_not_computed;
        if (!why && route && !d->route) why = "its route is not known";
        if (!why && route && strcmp(route, d->route) != 0) continue;
        const cds_dose_ingredient *di = g < d->ningredients ? &d->ingredients[g] : NULL;
        if (!why && (!di || isnan(di->daily))) why = "its daily amount is not known";
        if (!why && out->unit && strcmp(out->unit, di->unit) != 0)
            why = cds_arena_printf(a, "it is in %s, the others in %s", di->unit, out->unit);
        if (why) {
            out->reasons[out->nuncounted] = why;
            out->uncounted[out->nuncounted++] = i;
            continue;
        }
        out->unit = di->unit;
        out->amount += di->daily;
        out->meds[out->nmeds++] = i;
    }
}
