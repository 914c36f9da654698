/* route_group.c — route groups and their SNOMED CT codes and words. */
#include "route_group.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

static const char *const groups[] = {"oral", "sublingual", "buccal", "iv", "im", "sc", "intrathecal", "epidural",
                                     "topical", "transdermal", "inhaled", "nasal", "ophthalmic", "otic", "rectal",
                                     "vaginal", NULL};

/* SNOMED CT "Route of administration value" (284009009) descendants. Checked against published
 * value sets (HL7 UK Core route value set, DICOM CID 11, OncoFAIR IG code system). */
static const struct { const char *code, *group; } snomed[] = {
    {"26643006", "oral"},         /* Oral route */
    {"37839007", "sublingual"},   /* Sublingual route */
    {"54471007", "buccal"},       /* Buccal route */
    {"47625008", "iv"},           /* Intravenous route */
    {"255560000", "iv"},          /* Intravenous (qualifier) */
    {"386358000", "iv"},          /* intravenous (NZ SACT value set) */
    {"78421000", "im"},           /* Intramuscular route */
    {"386356001", "im"},          /* intramuscular injection */
    {"34206005", "sc"},           /* Subcutaneous route */
    {"386362006", "sc"},          /* subcutaneous injection */
    {"72607000", "intrathecal"},  /* Intrathecal route */
    {"406188003", "intrathecal"}, /* intrathecal injection */
    {"404820008", "epidural"},    /* Epidural route */
    {"6064005", "topical"},       /* Topical route */
    {"45890007", "transdermal"},  /* Transdermal route */
    {"447694001", "inhaled"},     /* Respiratory tract route */
    {"18679011000001101", "inhaled"}, /* Inhalation (UK extension) */
    {"46713006", "nasal"},        /* Nasal route */
    {"54485002", "ophthalmic"},   /* Ophthalmic route */
    {"10547007", "otic"},         /* Otic route */
    {"37161004", "rectal"},       /* Per rectum */
    {"16857009", "vaginal"},      /* Per vagina */
};

/* Words (lowercase; several words separated by one space) naming a group, longest first where
 * one contains another. */
static const struct { const char *words, *group; } texts[] = {
    {"by mouth", "oral"}, {"per os", "oral"}, {"orally", "oral"}, {"oral", "oral"}, {"po", "oral"},
    {"enteral", "oral"}, {"via ng tube", "oral"},
    {"sublingual", "sublingual"}, {"sublingually", "sublingual"}, {"sl", "sublingual"},
    {"buccal", "buccal"},
    {"intravenous", "iv"}, {"intravenously", "iv"}, {"iv", "iv"}, {"ivpb", "iv"}, {"iv push", "iv"},
    {"intramuscular", "im"}, {"intramuscularly", "im"}, {"im", "im"},
    {"subcutaneous", "sc"}, {"subcutaneously", "sc"}, {"subcut", "sc"}, {"sc", "sc"}, {"sq", "sc"}, {"sub q", "sc"},
    {"intrathecal", "intrathecal"}, {"intrathecally", "intrathecal"},
    {"epidural", "epidural"},
    {"topical", "topical"}, {"topically", "topical"}, {"cutaneous", "topical"}, {"ointment", "topical"},
    {"cream", "topical"},
    {"transdermal", "transdermal"}, {"patch", "transdermal"},
    {"inhalation", "inhaled"}, {"inhaled", "inhaled"}, {"inhalant", "inhaled"}, {"respiratory tract", "inhaled"},
    {"nebulized", "inhaled"}, {"nebulised", "inhaled"}, {"inhaler", "inhaled"},
    {"nasal", "nasal"}, {"intranasal", "nasal"},
    {"ophthalmic", "ophthalmic"}, {"eye", "ophthalmic"},
    {"otic", "otic"}, {"ear", "otic"},
    {"rectal", "rectal"}, {"per rectum", "rectal"}, {"pr", "rectal"}, {"suppository", "rectal"},
    {"vaginal", "vaginal"}, {"per vagina", "vaginal"}, {"pv", "vaginal"},
};

const char *cds_route_group_name(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; groups[i]; i++)
        if (strcasecmp(name, groups[i]) == 0) return groups[i];
    return NULL;
}

const char *cds_route_group_snomed(const char *code)
{
    if (!code) return NULL;
    for (size_t i = 0; i < sizeof snomed / sizeof snomed[0]; i++)
        if (strcmp(code, snomed[i].code) == 0) return snomed[i].group;
    return NULL;
}

/* Does `words` (lowercase, single spaces) occur in text at p as whole words? */
static bool words_at(const char *p, const char *words)
{
    for (; *words; words++, p++) {
        if (*words == ' ') {
            if (isalnum((unsigned char)*p)) return false;
            while (*p && !isalnum((unsigned char)*p)) p++;
            p--;
            continue;
        }
        if (tolower((unsigned char)*p) != *words) return false;
    }
    return !isalnum((unsigned char)*p);
}

const char *cds_route_group_text(const char *text)
{
    if (!text) return NULL;
    for (const char *p = text; *p; p++) {
        if (!isalnum((unsigned char)*p) || (p > text && isalnum((unsigned char)p[-1]))) continue;
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
            if (words_at(p, texts[i].words)) return texts[i].group;
    }
    return NULL;
}
