-- rules/manifest.lua — the shipped rule set: which CDS services cdsd offers and which rules
-- each one runs (rule ids or patterns such as "ddi.*").
-- Prefetch the client may send. Keys it leaves out are fetched from its FHIR server when the
-- request carries fhirServer and fhirAuthorization. A key listed in required_prefetch that can
-- be neither sent nor fetched (or came back as an OperationOutcome, or only in part) is, by
-- default (missing_prefetch = "card"), answered 200 with a warning card per key: "Allergy
-- screening did not run: the allergy list could not be retrieved". Many EHR clients show
-- nothing at all for a failed call, which would read as "all clear". A service with
-- missing_prefetch = "reject" fails such a call with HTTP 412 (prefetch_missing) instead, for
-- clients known to show a failed call to the clinician.
local required = { "medications", "allergies" }
-- Each service's description ends with the interaction site policy at its hook, made by
-- ddi.interaction from rules/interactions/tables/ddi_policy.tsv at load (its service_notes).
local prefetch = {
  patient      = "Patient/{{context.patientId}}",
  medications  = "MedicationRequest?patient={{context.patientId}}&status=active",
  statements   = "MedicationStatement?patient={{context.patientId}}&status=active",
  allergies    = "AllergyIntolerance?patient={{context.patientId}}",
  conditions   = "Condition?patient={{context.patientId}}&clinical-status=active",
  -- laboratory and vital signs in one search (a comma is OR in FHIR search): dose checks need the
  -- body weight and height (vital signs) beside creatinine and eGFR (laboratory); one fetch, not two
  observations = "Observation?patient={{context.patientId}}&category=laboratory,vital-signs&_sort=-date&_count=200",
}

ruleset {
  name = "cdsd-shipped",
  version = "0.1.0",
  source = "cdsd medication safety (hospital pharmacy)",
  services = {
    { id = "medication-safety", hook = "order-sign",
      title = "Medication safety at signing",
      description = "Screens draft medication orders for drug-drug interactions and drug allergies before they are signed.",
      prefetch = prefetch, required_prefetch = required,
      rules = { "ddi.*", "pddi.*", "allergy.*", "screen.*", "orders.*", "context.*", "dose.*", "route.*" } },
    { id = "medication-safety-select", hook = "order-select",
      title = "Medication safety while ordering",
      description = "Screens the medication just selected for interactions and allergies.",
      prefetch = prefetch, required_prefetch = required,
      rules = { "ddi.*", "pddi.*", "allergy.*", "screen.*", "orders.*", "context.*", "dose.*", "route.*" } },
    { id = "medication-safety-strict", hook = "order-sign",
      title = "Medication safety at signing (strict prefetch)",
      description = "Screens draft medication orders for interactions and allergies; refuses (HTTP 412) a call "
        .. "without the medication and allergy lists instead of answering with a did-not-run card.",
      prefetch = prefetch, required_prefetch = required, missing_prefetch = "reject",
      rules = { "ddi.*", "pddi.*", "allergy.*", "screen.*", "orders.*", "context.*", "dose.*", "route.*" } },
    { id = "medication-review", hook = "patient-view",
      title = "Medication review",
      description = "Reviews the active medication list for interactions, allergy conflicts and missing monitoring.",
      prefetch = prefetch, required_prefetch = required,
      rules = { "ddi.*", "pddi.*", "allergy.*", "screen.*", "orders.*", "context.*", "dose.*", "route.*" } },
  },
}
