/* patient_facts.c — age, weight, height, BSA and kidney function at the evaluation time. */
#include "patient_facts.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mp.h"

/* LOINC codes, each found in published value sets or code lists (eGFR: DICOM CID 10046,
 * cqframework's CKD eGFR value set, OHDSI phenotype lists; 98979-8 is CKD-EPI 2021, 94677-2
 * creatinine and cystatin C; creatinine: the PCORnet serum creatinine list). Codes that could not
 * be checked (8341-0 dry weight, 8306-3/8308-9 lying/standing height) are left out. */
static const char *const weight_codes[] = {"29463-7", "3141-9", NULL};   /* body weight; measured */
static const char *const height_codes[] = {"8302-2", NULL};              /* body height */
static const char *const egfr_codes[] = {"33914-3", "62238-1", "98979-8", "48642-3", "48643-1", "50044-7",
                                         "70969-1", "88293-6", "88294-4", "69405-9", "77147-7", "94677-2",
                                         "50210-4", "50384-7", NULL};
static const char *const creat_codes[] = {"2160-0", "38483-4", "14682-9", "35203-9", NULL};   /* serum/plasma; blood; molar */

/* SNOMED CT and ICD-10-CM codes for a patient on dialysis. 105502003 Dependence on renal
 * dialysis (finding); 236435004 End stage renal failure on dialysis (disorder); 714152005
 * Chronic kidney disease stage 5 on dialysis (disorder); 428937001 Dependence on peritoneal
 * dialysis due to end stage renal disease (finding); ICD-10-CM Z99.2 Dependence on renal dialysis. */
static const char *const dialysis_codes[] = {"105502003", "236435004", "714152005", "428937001", "Z99.2", "Z992", NULL};

static bool in(const char *s, const char *const *set)
{
    for (; s && *set; set++)
        if (strcmp(s, *set) == 0) return true;
    return false;
}

enum { F_WEIGHT, F_HEIGHT, F_EGFR, F_CREAT, F_COUNT };
static const char *const *const fact_codes[F_COUNT] = {weight_codes, height_codes, egfr_codes, creat_codes};

/* Result i, if later than *best (ties: the result first in the request). */
static void consider(const cds_view *v, uint32_t i, int64_t *best)
{
    time_t w = v->obs[i].when;
    if (*best < 0 || w > v->obs[*best].when || (w == v->obs[*best].when && i < *best)) *best = i;
}

/* The latest observation of each fact: the view keeps the latest result per LOINC code in an
 * index, so each fact looks its few codes up instead of comparing every result with every code.
 * Without the index (it could not be allocated) every result is compared. */
static void latest_all(const cds_view *v, int64_t best[F_COUNT])
{
    bool indexed = v->obs_index.cap > 0;
    for (int f = 0; f < F_COUNT; f++) {
        best[f] = -1;
        for (int k = 0; fact_codes[f][k]; k++) {
            const char *c = fact_codes[f][k];
            if (indexed) {
                const cds_observation *o = cds_view_obs_by_code(v, c);
                if (o) consider(v, (uint32_t)(o - v->obs), &best[f]);
                continue;
            }
            for (uint32_t i = 0; i < v->nobs; i++)
                if (strcmp(v->obs[i].code, c) == 0) consider(v, i, &best[f]);
        }
    }
}

/* Reads the latest value under codes; converts by unit (unit_fn returns the factor to the fact's
 * unit, 0 when the unit is not one it knows); checks the range. */
static void read_fact(const cds_view *v, int64_t i, const char *what, const char *none, double (*unit_fn)(const char *, const char *),
                      double lo, double hi, cds_fact *f)
{
    if (i < 0) { f->why = none; return; }
    const cds_observation *o = cds_view_observation(v, (uint32_t)i);
    f->when = o->when;
    f->code = o->code;
    if (!o->has_value) { f->why = cds_arena_printf(v->arena, "the latest %s result has no number", what); return; }
    if (!isfinite(o->value)) {
        f->why = cds_arena_printf(v->arena, "the latest %s is not a number", what);
        f->unusable = true;
        return;
    }
    double k = unit_fn(o->unit, o->code);
    if (k <= 0) {
        f->why = cds_arena_printf(v->arena, "the latest %s has %s unit%s%s%s", what, o->unit ? "the" : "no",
                                  o->unit ? " '" : "", o->unit ? o->unit : "", o->unit ? "', which is not understood" : "");
        f->unusable = true;
        return;
    }
    double x = o->value * k;
    if (!(x > lo && x <= hi)) {
        f->why = cds_arena_printf(v->arena, "the latest %s (%g %s) is implausible", what, o->value, o->unit ? o->unit : "");
        f->unusable = true;
        return;
    }
    const msgpack_object *q = cds_mp_get_nn(o->resource, "valueQuantity");
    f->comparator = cds_mp_getstr(v->arena, q, "comparator");
    f->value = x;
    f->known = true;
}

static bool unit_is(const char *u, const char *const *set)
{
    for (; u && *set; set++)
        if (strcasecmp(u, *set) == 0) return true;
    return false;
}

static double weight_unit(const char *u, const char *code)
{
    (void)code;
    if (unit_is(u, (const char *const[]){"kg", "kilogram", "kilograms", NULL})) return 1;
    if (unit_is(u, (const char *const[]){"g", "gram", "grams", NULL})) return 0.001;
    if (unit_is(u, (const char *const[]){"[lb_av]", "lb", "lbs", "pound", "pounds", NULL})) return 0.45359237;
    if (unit_is(u, (const char *const[]){"[oz_av]", "oz", NULL})) return 0.028349523125;
    return 0;
}

static double height_unit(const char *u, const char *code)
{
    (void)code;
    if (unit_is(u, (const char *const[]){"cm", NULL})) return 1;
    if (unit_is(u, (const char *const[]){"m", NULL})) return 100;
    if (unit_is(u, (const char *const[]){"mm", NULL})) return 0.1;
    if (unit_is(u, (const char *const[]){"[in_i]", "in", "inch", "inches", NULL})) return 2.54;
    return 0;
}

static double egfr_unit(const char *u, const char *code)
{
    (void)code;
    if (!u) return 0;
    return strncasecmp(u, "mL/min", 6) == 0 ? 1 : 0;   /* mL/min/{1.73_m2}, mL/min/1.73m2, ... */
}

static double creat_unit(const char *u, const char *code)
{
    (void)code;
    if (unit_is(u, (const char *const[]){"mg/dL", "mg/dl", NULL})) return 1;
    if (unit_is(u, (const char *const[]){"umol/L", "\xc2\xb5mol/L", "\xce\xbcmol/L", "micromol/L", "umol/l", NULL}))
        return 1 / 88.42;
    if (unit_is(u, (const char *const[]){"mmol/L", NULL})) return 1000 / 88.42;
    if (unit_is(u, (const char *const[]){"mg/L", NULL})) return 0.1;
    return 0;
}

static bool text_has(const char *t, const char *w) { return t && strcasestr(t, w) != NULL; }

void cds_patient_age(const cds_view *v, cds_patient_facts *f)
{
    const char *bd = v->patient.birth_date;
    time_t born;
    if (!bd) { f->age_why = v->patient.found ? "the patient has no birth date" : "no Patient resource in the request"; return; }
    if (!cds_parse_time(bd, &born)) { f->age_why = cds_arena_printf(v->arena, "birth date '%s' is not a date", bd); return; }
    if (born > v->now) {
        f->age_why = cds_arena_printf(v->arena, "birth date %s is after the evaluation time", bd);
        f->age_unusable = true;
        return;
    }
    size_t l = strlen(bd);
    f->age_precision = l == 4 ? "year" : l == 7 ? "month" : "day";
    struct tm n, b;
    gmtime_r(&v->now, &n);
    gmtime_r(&born, &b);
    f->age_days = (int64_t)(v->now - born) / 86400;
    int months = (n.tm_year - b.tm_year) * 12 + (n.tm_mon - b.tm_mon) - (n.tm_mday < b.tm_mday);
    f->age_months = months < 0 ? 0 : months;
    f->age_years = f->age_months / 12;
    f->age_known = true;
}

static void crcl(const cds_view *v, cds_patient_facts *f)
{
    cds_fact *c = &f->crcl;
    if (!f->age_known) {
        c->why = cds_arena_printf(v->arena, "age unknown (%s)", f->age_why);
        c->unusable = f->age_unusable;
        return;
    }
    if (f->age_years < 18) { c->why = "Cockcroft-Gault is for adults (the patient is under 18)"; return; }
    bool female = f->sex && strcmp(f->sex, "female") == 0, male = f->sex && strcmp(f->sex, "male") == 0;
    if (!female && !male) { c->why = "sex is not recorded as male or female"; return; }
    if (!f->weight_kg.known) {
        c->why = cds_arena_printf(v->arena, "weight unknown (%s)", f->weight_kg.why);
        c->unusable = f->weight_kg.unusable;
        return;
    }
    if (!f->creatinine.known) {
        c->why = cds_arena_printf(v->arena, "serum creatinine unknown (%s)", f->creatinine.why);
        c->unusable = f->creatinine.unusable;
        return;
    }
    c->value = (140.0 - f->age_years) * f->weight_kg.value / (72.0 * f->creatinine.value) * (female ? 0.85 : 1.0);
    c->when = f->creatinine.when < f->weight_kg.when ? f->creatinine.when : f->weight_kg.when;   /* the older input */
    c->comparator = f->creatinine.comparator;
    c->known = true;
    f->crcl_weight = "actual";
}

const cds_patient_facts *cds_view_patient_facts(const cds_view *v)
{
    if (v->facts) return v->facts;
    cds_patient_facts *f = cds_arena_alloc(v->arena, sizeof *f);
    static const cds_patient_facts none = {.age_why = "out of memory"};
    if (!f) return &none;
    f->sex = v->patient.sex;
    cds_patient_age(v, f);
    int64_t best[F_COUNT];
    latest_all(v, best);
    read_fact(v, best[F_WEIGHT], "body weight", "no body weight result", weight_unit, 0.2, 650, &f->weight_kg);   /* kg */
    read_fact(v, best[F_HEIGHT], "body height", "no body height result", height_unit, 20, 275, &f->height_cm);   /* cm */
    read_fact(v, best[F_EGFR], "eGFR", "no eGFR result", egfr_unit, 0, 250, &f->egfr);   /* mL/min/1.73m2 */
    read_fact(v, best[F_CREAT], "serum creatinine", "no serum creatinine result", creat_unit, 0.05, 30, &f->creatinine);   /* mg/dL */
    if (f->weight_kg.known && f->height_cm.known) {
        f->bsa = (cds_fact){.known = true, .value = sqrt(f->weight_kg.value * f->height_cm.value / 3600.0),
                            .when = f->weight_kg.when < f->height_cm.when ? f->weight_kg.when : f->height_cm.when};
    } else {
        f->bsa.why = f->weight_kg.known ? f->height_cm.why : f->weight_kg.why;
    }
    crcl(v, f);
    for (uint32_t i = 0; i < v->nconditions && !f->dialysis; i++) {
        const cds_condition *c = &v->conditions[i];
        for (uint32_t k = 0; k < c->ncodes && !f->dialysis; k++) f->dialysis = in(c->codes[k].code, dialysis_codes);
        if (!f->dialysis && text_has(c->text, "dialysis") && !text_has(c->text, "pre-dialysis") &&   /* rare: checked only then */
            !text_has(c->text, "predialysis") && !text_has(c->text, "not on dialysis") && !text_has(c->text, "no dialysis"))
            f->dialysis = true;
        if (f->dialysis) f->dialysis_condition = c->text ? c->text : c->ncodes ? c->codes[0].code : "dialysis";
    }
    ((cds_view *)v)->facts = f;   /* logically const: a cache in the view's own arena */
    return f;
}
