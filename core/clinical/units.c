/* units.c — dose units. */
#include "units.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#define UCUM "http://unitsofmeasure.org"

static const struct { const char *name, *base; double factor; cds_unit_kind kind; } table[] = {
    {"mg", "mg", 1, CDS_UNIT_AMOUNT}, {"milligram", "mg", 1, CDS_UNIT_AMOUNT}, {"milligrams", "mg", 1, CDS_UNIT_AMOUNT},
    {"g", "mg", 1000, CDS_UNIT_AMOUNT}, {"gram", "mg", 1000, CDS_UNIT_AMOUNT}, {"grams", "mg", 1000, CDS_UNIT_AMOUNT},
    {"gm", "mg", 1000, CDS_UNIT_AMOUNT},
    {"mcg", "mg", 0.001, CDS_UNIT_AMOUNT}, {"ug", "mg", 0.001, CDS_UNIT_AMOUNT}, {"\xc2\xb5g", "mg", 0.001, CDS_UNIT_AMOUNT},
    {"\xce\xbcg", "mg", 0.001, CDS_UNIT_AMOUNT}, {"microgram", "mg", 0.001, CDS_UNIT_AMOUNT},
    {"micrograms", "mg", 0.001, CDS_UNIT_AMOUNT},
    {"ng", "mg", 1e-6, CDS_UNIT_AMOUNT}, {"nanogram", "mg", 1e-6, CDS_UNIT_AMOUNT}, {"nanograms", "mg", 1e-6, CDS_UNIT_AMOUNT},
    {"[iU]", "unit", 1, CDS_UNIT_AMOUNT}, {"[IU]", "unit", 1, CDS_UNIT_AMOUNT}, {"iu", "unit", 1, CDS_UNIT_AMOUNT},
    {"U", "unit", 1, CDS_UNIT_AMOUNT}, {"unit", "unit", 1, CDS_UNIT_AMOUNT}, {"units", "unit", 1, CDS_UNIT_AMOUNT},
    {"[USP'U]", "unit", 1, CDS_UNIT_AMOUNT}, {"unt", "unit", 1, CDS_UNIT_AMOUNT},
    {"kU", "unit", 1000, CDS_UNIT_AMOUNT}, {"MU", "unit", 1e6, CDS_UNIT_AMOUNT},
    {"meq", "mEq", 1, CDS_UNIT_AMOUNT}, {"mEq", "mEq", 1, CDS_UNIT_AMOUNT},
    {"mmol", "mmol", 1, CDS_UNIT_AMOUNT},
    {"mL", "mL", 1, CDS_UNIT_VOLUME}, {"ml", "mL", 1, CDS_UNIT_VOLUME}, {"milliliter", "mL", 1, CDS_UNIT_VOLUME},
    {"milliliters", "mL", 1, CDS_UNIT_VOLUME}, {"millilitre", "mL", 1, CDS_UNIT_VOLUME}, {"cc", "mL", 1, CDS_UNIT_VOLUME},
    {"L", "mL", 1000, CDS_UNIT_VOLUME}, {"l", "mL", 1000, CDS_UNIT_VOLUME}, {"liter", "mL", 1000, CDS_UNIT_VOLUME},
    {"tablet", "tablet", 1, CDS_UNIT_COUNT}, {"tablets", "tablet", 1, CDS_UNIT_COUNT}, {"tab", "tablet", 1, CDS_UNIT_COUNT},
    {"tabs", "tablet", 1, CDS_UNIT_COUNT}, {"{tbl}", "tablet", 1, CDS_UNIT_COUNT}, {"{tablet}", "tablet", 1, CDS_UNIT_COUNT},
    {"{tablets}", "tablet", 1, CDS_UNIT_COUNT}, {"TAB", "tablet", 1, CDS_UNIT_COUNT},
    {"capsule", "capsule", 1, CDS_UNIT_COUNT}, {"capsules", "capsule", 1, CDS_UNIT_COUNT}, {"cap", "capsule", 1, CDS_UNIT_COUNT},
    {"caps", "capsule", 1, CDS_UNIT_COUNT}, {"{cap}", "capsule", 1, CDS_UNIT_COUNT}, {"{capsule}", "capsule", 1, CDS_UNIT_COUNT},
    {"{capsules}", "capsule", 1, CDS_UNIT_COUNT}, {"CAP", "capsule", 1, CDS_UNIT_COUNT},
    {"puff", "puff", 1, CDS_UNIT_COUNT}, {"puffs", "puff", 1, CDS_UNIT_COUNT}, {"{puff}", "puff", 1, CDS_UNIT_COUNT},
    {"{puffs}", "puff", 1, CDS_UNIT_COUNT}, {"actuation", "puff", 1, CDS_UNIT_COUNT}, {"actuations", "puff", 1, CDS_UNIT_COUNT},
    {"{actuat}", "puff", 1, CDS_UNIT_COUNT}, {"{actuation}", "puff", 1, CDS_UNIT_COUNT}, {"spray", "puff", 1, CDS_UNIT_COUNT},
    {"sprays", "puff", 1, CDS_UNIT_COUNT},
    {"drop", "drop", 1, CDS_UNIT_COUNT}, {"drops", "drop", 1, CDS_UNIT_COUNT}, {"{drop}", "drop", 1, CDS_UNIT_COUNT},
    {"{drops}", "drop", 1, CDS_UNIT_COUNT}, {"[drp]", "drop", 1, CDS_UNIT_COUNT},
    {"patch", "patch", 1, CDS_UNIT_COUNT}, {"patches", "patch", 1, CDS_UNIT_COUNT}, {"{patch}", "patch", 1, CDS_UNIT_COUNT},
    {"suppository", "suppository", 1, CDS_UNIT_COUNT}, {"suppositories", "suppository", 1, CDS_UNIT_COUNT},
    {"{suppository}", "suppository", 1, CDS_UNIT_COUNT},
    {"vial", "vial", 1, CDS_UNIT_COUNT}, {"{vial}", "vial", 1, CDS_UNIT_COUNT},
    {"ampule", "ampule", 1, CDS_UNIT_COUNT}, {"{ampule}", "ampule", 1, CDS_UNIT_COUNT},
    {"lozenge", "lozenge", 1, CDS_UNIT_COUNT}, {"{lozenge}", "lozenge", 1, CDS_UNIT_COUNT},
    {"{dose}", "dose", 1, CDS_UNIT_COUNT}, {"dose", "dose", 1, CDS_UNIT_COUNT},
};

static bool lookup(const char *s, size_t n, bool exact_case, cds_unit *u)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strlen(table[i].name) != n) continue;
        if (exact_case ? strncmp(s, table[i].name, n) : strncasecmp(s, table[i].name, n)) continue;
        u->kind = table[i].kind;
        u->base = table[i].base;
        u->factor = table[i].factor;
        return true;
    }
    return false;
}

/* "mg", "mg/kg", "mg/kg/d", "mg/d", "mg/(kg.d)", "mg/kg/day" */
static cds_unit parse(const char *s)
{
    cds_unit u = {CDS_UNIT_UNKNOWN, 0, NULL, false, false};
    if (!s) return u;
    while (*s == ' ') s++;
    size_t len = strlen(s);
    while (len && s[len - 1] == ' ') len--;
    if (!len) return u;
    const char *slash = memchr(s, '/', len);
    size_t head = slash ? (size_t)(slash - s) : len;
    /* UCUM is case-sensitive, but "MG" and "Tablet" are seen in real feeds: exact first, then
     * without case */
    if (!lookup(s, head, true, &u) && !lookup(s, head, false, &u)) return u;
    if (!slash) return u;
    const char *rest = slash + 1;
    size_t rl = len - head - 1;
    if (rl >= 2 && (rest[0] == '(' && rest[rl - 1] == ')')) { rest++; rl -= 2; }
    static const char *const kg[] = {"kg", "kg/d", "kg/day", "kg.d", "kg/24.h", "kg/24h", "d", "day", "24.h", "24h"};
    for (size_t i = 0; i < sizeof kg / sizeof kg[0]; i++) {
        if (strlen(kg[i]) != rl || strncasecmp(rest, kg[i], rl)) continue;
        u.per_kg = i < 6;
        u.per_day = i >= 1;   /* everything but plain "kg" is per day */
        if (u.kind == CDS_UNIT_AMOUNT) return u;
    }
    u.kind = CDS_UNIT_UNKNOWN;   /* mg/mL, mg/h, ... are not dose units */
    return u;
}

cds_unit cds_unit_parse(const char *system, const char *code, const char *text)
{
    bool ucum = !system || strcmp(system, UCUM) == 0;
    cds_unit u = {CDS_UNIT_UNKNOWN, 0, NULL, false, false};
    if (ucum && code) u = parse(code);
    if (u.kind == CDS_UNIT_UNKNOWN && text) u = parse(text);
    if (u.kind == CDS_UNIT_UNKNOWN && !ucum && code) u = parse(code);
    return u;
}

bool cds_unit_convert(double amount, const char *from, const char *to, double *out)
{
    cds_unit a = parse(from), b = parse(to);
    if (a.kind != CDS_UNIT_AMOUNT || b.kind != CDS_UNIT_AMOUNT || a.per_kg || b.per_kg || a.per_day || b.per_day ||
        strcmp(a.base, b.base) != 0)
        return false;
    *out = amount * a.factor / b.factor;
    return true;
}
