/* strength.c — the strength grammar of RxNorm clinical drug and component names. */
#include "strength.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A number at p ("25", "0.4", ".5"); advances *p past it. */
static bool number(const char **p, double *out)
{
    const char *s = *p;
    if (!isdigit((unsigned char)*s) && !(*s == '.' && isdigit((unsigned char)s[1]))) return false;
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v)) return false;
    *p = end;
    *out = v;
    return true;
}

/* An upper-case RxNorm unit word at p, ending at a space, '/', or the end. */
static bool word(const char **p, const char *w)
{
    size_t n = strlen(w);
    if (strncmp(*p, w, n) != 0) return false;
    char c = (*p)[n];
    if (c && c != ' ' && c != '/' && c != ']' && c != ')') return false;
    *p += n;
    return true;
}

/* Amount unit: factor to the normalised unit. */
static const char *amount_unit(const char **p, double *factor)
{
    *factor = 1;
    if (word(p, "MG")) return "mg";
    if (word(p, "MCG")) { *factor = 0.001; return "mg"; }
    if (word(p, "G")) { *factor = 1000; return "mg"; }
    if (word(p, "NG")) { *factor = 1e-6; return "mg"; }
    if (word(p, "UNT") || word(p, "UNITS")) return "unit";
    if (word(p, "MEQ")) return "mEq";
    if (word(p, "MMOL")) return "mmol";
    return NULL;
}

/* One component: [N ML] substance words  N UNIT[/[N]DENOM] [dose form words]. */
static bool component(const char *s, const char *e, cds_strength *out)
{
    char buf[512];
    size_t n = (size_t)(e - s);
    if (n >= sizeof buf) n = sizeof buf - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    const char *p = buf;
    while (*p == ' ') p++;
    double pkg;
    const char *q = p;
    /* a leading quantity is the package volume ("1 ML heparin ..."), not a strength */
    if (number(&q, &pkg) && *q == ' ' && (q++, word(&q, "ML") || word(&q, "L"))) p = q;
    while (*p == ' ') p++;
    const char *subst = p;
    for (const char *w = p; *w; w++) {
        if (w > buf && w[-1] != ' ') continue;
        const char *x = w;
        double amount, factor;
        if (!number(&x, &amount) || *x != ' ') continue;
        x++;
        const char *unit = amount_unit(&x, &factor);
        if (!unit) continue;
        double per_ml = 0;
        if (*x == '/') {
            x++;
            double vol = 1;
            if (isdigit((unsigned char)*x) || *x == '.') {
                if (!number(&x, &vol) || vol <= 0) return false;
            }
            if (word(&x, "ML")) per_ml = vol;
            else if (word(&x, "L")) per_ml = vol * 1000;
            else if (word(&x, "ACTUAT")) per_ml = 0;   /* per actuation: a dose unit */
            else return false;                          /* per mass, per hour, per area: not a dose-unit strength */
        }
        size_t sl = (size_t)(w - subst);
        while (sl && subst[sl - 1] == ' ') sl--;
        if (sl >= sizeof out->substance) sl = sizeof out->substance - 1;
        memcpy(out->substance, subst, sl);
        out->substance[sl] = '\0';
        out->amount = amount * factor;
        out->unit = unit;
        out->per_volume_ml = per_ml;
        return out->amount > 0 && isfinite(out->amount);
    }
    return false;
}

size_t cds_strength_parse(const char *name, cds_strength *out, size_t max)
{
    if (!name || strchr(name, '{')) return 0;   /* packs: "{21 (...) / 7 (...) } Pack" */
    size_t n = 0;
    const char *s = name, *end = name + strlen(name);
    const char *br = strchr(name, '[');   /* branded: "... Oral Tablet [Lopressor]" */
    if (br) end = br;
    while (s < end && n < max) {
        const char *sep = strstr(s, " / ");
        const char *e = sep && sep < end ? sep : end;
        if (component(s, e, &out[n])) n++;
        s = e == end ? end : e + 3;
    }
    return n;
}
