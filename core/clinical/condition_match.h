/* condition_match.h — which of the patient's conditions a wanted code names, answered from an
 * index built once per request (on first use) instead of comparing every wanted code with every
 * coding of every condition: a drug-disease row lists twenty codes, a Synthea patient has dozens
 * of conditions, and every order asks. */
#ifndef CDS_CONDITION_MATCH_H
#define CDS_CONDITION_MATCH_H

#include <stdint.h>

#include "view.h"

#define CDS_NO_CONDITION UINT32_MAX
/* The index could not be built (out of memory): nobody can say whether a condition matches. */
#define CDS_CONDITION_UNKNOWN (UINT32_MAX - 1)

/* The first condition (in view order) that `want` names, CDS_NO_CONDITION, or
 * CDS_CONDITION_UNKNOWN when the index could not be built. want is a bare code
 * (any system), "sct:CODE", "icd10:CODE" (dots and case ignored; "G40*" is G40 and every code
 * below it), "loinc:CODE", or "text:words" (case-insensitive, in the condition's text). */
uint32_t cds_view_condition_first(const cds_view *v, const char *want);

#endif
