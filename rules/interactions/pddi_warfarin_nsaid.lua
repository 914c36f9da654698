-- rules/interactions/pddi_warfarin_nsaid.lua — owner: pharmacy informatics
-- Warfarin with an NSAID, judged in context (after the HL7 PDDI-CDS implementation guide):
-- the bleeding risk is raised by age 65 or over, a history of GI bleeding or peptic ulcer, and
-- a concurrent corticosteroid, aldosterone antagonist or other anticoagulant; a proton-pump
-- inhibitor already on the list lowers it. The generic ddi.interaction rule leaves this pair
-- to this rule.

local CORTICOSTEROIDS = { "prednisone", "prednisolone", "methylprednisolone", "dexamethasone", "hydrocortisone" }
local ALDOSTERONE_ANTAGONISTS = { "spironolactone", "eplerenone" }
local OTHER_ANTICOAGULANTS = { "heparin", "enoxaparin", "apixaban", "rivaroxaban", "dabigatran", "edoxaban" }
local GI_BLEED_OR_ULCER = { "12847006", "13200003", "74474003", "37442009", "235729008", "40845000",
                            "text:ulcer", "text:gastrointestinal hemorrhage", "text:GI bleed" }
local RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"

local function any_of(ctx, names)
  for _, n in ipairs(names) do
    local m = ctx.meds.any(n)
    if m then return m end
  end
  return nil
end

local function medication_order(ctx, code, display)
  return {
    resourceType = "MedicationRequest", status = "draft", intent = "proposal",
    medicationCodeableConcept = { coding = { { system = RXNORM, code = code, display = display } }, text = display },
    subject = ctx.patient_id and { reference = "Patient/" .. ctx.patient_id } or nil,
  }
end

rule {
  id = "pddi.warfarin-nsaid", version = "1.0.0",
  title = "Warfarin with an NSAID: bleeding risk in context",
  hooks = { "order-select", "order-sign", "patient-view" },
  references = { "HL7 PDDI-CDS implementation guide: warfarin + NSAIDs",
                 "Phansalkar S et al. JAMIA 2012 (ONC high-priority list)" },

  evaluate = function(ctx)
    local pair = ctx.interaction("warfarin", "class:nsaids")
    if not pair then return nil end
    local nsaid = pair.a_ingredient == "warfarin" and pair.b or pair.a
    local factors = {}
    if ctx.patient.age and ctx.patient.age >= 65 then factors[#factors + 1] = "age " .. ctx.patient.age end
    local bleed = ctx.conditions.any(GI_BLEED_OR_ULCER)
    if bleed then factors[#factors + 1] = "history of " .. (bleed.text or "GI bleeding or ulcer") end
    local steroid = any_of(ctx, CORTICOSTEROIDS)
    if steroid then factors[#factors + 1] = "corticosteroid (" .. steroid.name .. ")" end
    local mra = any_of(ctx, ALDOSTERONE_ANTAGONISTS)
    if mra then factors[#factors + 1] = "aldosterone antagonist (" .. mra.name .. ")" end
    local anticoag = any_of(ctx, OTHER_ANTICOAGULANTS)
    if anticoag then factors[#factors + 1] = "second anticoagulant (" .. anticoag.name .. ")" end
    local ppi = ctx.meds.any("class:proton-pump-inhibitors")

    local level = #factors >= 2 and 3 or (#factors == 1 and 2 or 1)
    if ppi and level > 1 then level = level - 1 end
    local indicator = ({ "info", "warning", "critical" })[level]

    local lines = { "Warfarin with " .. nsaid.name .. " raises the risk of bleeding, above all from the gut." }
    if #factors > 0 then
      lines[#lines + 1] = "**Raising the risk:** " .. table.concat(factors, "; ") .. "."
    else
      lines[#lines + 1] = "No added risk factor was found (age, GI bleeding or ulcer, corticosteroid, aldosterone antagonist, second anticoagulant)."
    end
    if ppi then lines[#lines + 1] = "A proton-pump inhibitor (" .. ppi.name .. ") is already prescribed, which lowers the GI bleeding risk." end
    lines[#lines + 1] = "**Management:** avoid the NSAID where possible; if it is needed, use the lowest dose for the shortest time, add gastroprotection and check the INR."

    local suggest = {}
    if pair.draft then suggest[#suggest + 1] = remove(pair.draft) end
    suggest[#suggest + 1] = suggestion {
      label = "Use acetaminophen for pain instead",
      actions = { create(medication_order(ctx, "198440", "acetaminophen 500 MG Oral Tablet"), "Order acetaminophen 500 mg") },
    }
    if not ppi then
      suggest[#suggest + 1] = suggestion {
        label = "Add a proton-pump inhibitor",
        actions = { create(medication_order(ctx, "198051", "Omeprazole 20 MG Delayed Release Oral Capsule"), "Order omeprazole 20 mg daily") },
      }
    end
    return card {
      key = "warfarin:" .. nsaid.ref,
      indicator = indicator,
      summary = shorten("Warfarin with " .. nsaid.name .. ": increased bleeding risk" ..
                        (#factors > 0 and (" (" .. #factors .. " risk factor" .. (#factors > 1 and "s" or "") .. ")") or ""), 139),
      detail = table.concat(lines, "\n\n"),
      suggest = suggest,
      selection = "any",
      override = { "benefit-outweighs-risk", "will-monitor", "already-tolerating" },
    }
  end,
}
