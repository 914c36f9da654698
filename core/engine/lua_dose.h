/* lua_dose.h — the dose facts rules read: med.dose, the new ctx.patient fields, and the
 * dosing-table lookups. Read-only, built lazily (nothing is parsed unless a rule reads it).
 *
 * med.dose (a table; every number in the unit named beside it; nil = not known):
 *   amount, unit            the dose as ordered (high end of a range; of the taper step with the
 *                           largest daily amount), unit as written ("mg", "{tbl}", "mg/kg")
 *   mg[rxcui]               per administration, per ingredient, in units[rxcui]: "mg" for every
 *                           mass (g, mcg, ng converted), "unit", "mEq" or "mmol"; tablets, capsules
 *                           and mL converted through the product's strength; mg/kg times the weight
 *   units[rxcui]            the unit of mg[rxcui] and daily[rxcui]
 *   daily[rxcui]            per day for this order (administrations x amount; PRN at its maximum;
 *                           capped by maxDosePerPeriod; a taper's largest step)
 *   doses_per_day           the most the timing allows (frequencyMax, shortest period)
 *   doses_per_day_min       the least (frequency, periodMax)
 *   interval_h              24 / doses_per_day
 *   schedule                "weekly" for once every 7 days, else nil
 *   route                   route group: oral sublingual buccal iv im sc intrathecal epidural topical
 *                           transdermal inhaled nasal ophthalmic otic rectal vaginal; nil unknown
 *   route_text, route_from  the route as written; "dosage" or "product" (the product's dose form)
 *   prn                     true for as-needed orders
 *   per_kg, weight_kg       the order was per kg, and the weight used
 *   text                    the sig text
 *   not_computed            nil, or why no dose could be read, in words ("free-text sig: ...",
 *                           "dose is negative (-5)", "dose unit 'banana' is not understood")
 *   daily_not_computed      nil, or why daily[] is missing though mg[] is there
 *
 * ctx.patient gains (nil when unknown, and then NAME_unknown says why):
 *   age_days, age_months, age_years (whole), age_precision ("day", "month", "year"), age_unknown
 *   weight_kg, weight_date, height_cm, height_date, bsa (m2, Mosteller), bsa_unknown
 *   egfr (mL/min/1.73m2), egfr_date, egfr_comparator ("<", ">", ... when given as a bound)
 *   creatinine (mg/dL; umol/L converted), creatinine_date
 *   crcl (mL/min, Cockcroft-Gault, adults), crcl_date (the older input), crcl_weight ("actual")
 *   dialysis (true/false), dialysis_condition (its text)
 *
 * Functions (drug = ingredient RxCUI string, or "product:<rxcui>"):
 *   ctx.dose_limits(drug, route [, {all=true}]) -> rows, skipped
 *       dose_limits.tsv rows for the drug whose route is `route` or "any" (route nil: every row)
 *       and whose age and weight bands contain the patient's; rows whose band needs an unknown
 *       age or weight are left out and `skipped` says why (nil when none). {all=true}: no filtering.
 *   ctx.renal_dosing(drug, route) -> rows, skipped, unusable
 *       renal_dosing.tsv rows whose band [min, max) contains the patient's eGFR or CrCl (per the
 *       row's measure), or dialysis rows when the patient is on dialysis; each row also carries
 *       value and value_date (the patient's measure). Rows needing an unknown measure: `skipped`;
 *       `unusable` is true when one of them was skipped because the measure is on file but cannot
 *       be used (cds_fact.unusable: implausible, not a number, a unit not understood; for CrCl
 *       also a birth date after now), not merely absent.
 *   ctx.routes(drug) -> rows; allowed and forbidden are lists of route groups
 *   ctx.daily_total(ingredient, route) -> amount, unit, refs, uncounted
 *       every active and draft order containing the ingredient, by route group (nil: all routes):
 *       amount (nil when none could be summed), its unit, the list of med refs summed, and a list
 *       of {ref=, reason=} for orders that could not be counted.
 *   ctx.convert(amount, from, to) -> number or nil   (mg, mcg, g, ng, unit, mEq, mmol) */
#ifndef CDS_LUA_DOSE_H
#define CDS_LUA_DOSE_H

#include <stdint.h>

#include "view.h"

typedef struct lua_State lua_State;

/* Sets med.dose on the (real) med table at idx: an empty table filled on first read. */
void cds_lua_dose_set(lua_State *L, int idx, uint32_t med, long long serial);
/* Adds the patient facts to the (real) ctx.patient table at idx. */
void cds_lua_patient_facts_fill(lua_State *L, int idx, const cds_view *v);
/* Adds dose_limits, renal_dosing, routes, daily_total, convert to the table on top. */
void cds_lua_dose_functions(lua_State *L);

/* From lua_view.c: the view being evaluated (raises a Lua error when none), and the number of
 * the evaluation in progress. */
const cds_view *cds_lua_view_current(lua_State *L);
long long cds_lua_view_serial(lua_State *L);

#endif
