-- rules/manifest.lua — the shipped rule set: which CDS services cdsd offers and which rules
-- each one runs (rule ids or patterns such as "ddi.*").
-- Prefetch the client may send. Keys it leaves out are fetched from its FHIR server when the
-- request carries fhirServer and fhirAuthorization; a key listed in required_prefetch that can
-- be neither sent nor fetched makes the call fail with HTTP 412 (prefetch_missing), because
-- screening without the medication list or the allergy list would look like "no problems".
local required = { "medications", "allergies" }
local prefetch = {
  patient      = "Patient/{{context.patientId}}",
  medications  = "MedicationRequest?patient={{context.patientId}}&status=active",
  statements   = "MedicationStatement?patient={{context.patientId}}&status=active",
  allergies    = "AllergyIntolerance?patient={{context.patientId}}",
  conditions   = "Condition?patient={{context.patientId}}&clinical-status=active",
  observations = "Observation?patient={{context.patientId}}&category=laboratory&_sort=-date&_count=100",
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
      rules = { "ddi.*", "pddi.*", "allergy.*", "screen.*", "orders.*" } },
    { id = "medication-safety-select", hook = "order-select",
      title = "Medication safety while ordering",
      description = "Screens the medication just selected for interactions and allergies.",
      prefetch = prefetch, required_prefetch = required,
      rules = { "ddi.*", "pddi.*", "allergy.*", "screen.*", "orders.*" } },
    { id = "medication-review", hook = "patient-view",
      title = "Medication review",
      description = "Reviews the active medication list for interactions, allergy conflicts and missing monitoring.",
      prefetch = prefetch, required_prefetch = required,
      rules = { "ddi.*", "pddi.*", "allergy.*", "screen.*", "orders.*" } },
  },
}
