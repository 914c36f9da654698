-- rules/interactions/pddi_warfarin_nsaid.lua — owner: pharmacy informatics
-- Warfarin with an NSAID, judged in context as the HL7 PDDI-CDS implementation guide's
-- warfarin-NSAIDs artifact does (its CQL "Get ... Indicator" definitions), folded into one card
-- whose indicator is the highest of the IG's cards:
--   topical diclofenac                      -> info     "No special precautions"
--   systemic NSAID, no PPI or misoprostol   -> critical "Use only if benefit outweighs risk"
--   systemic NSAID with a PPI or misoprostol -> warning  "Assess risk and take action if necessary"
-- Age over 65 or a history of upper GI bleeding/ulcer, and a corticosteroid, aldosterone
-- antagonist or second NSAID, are warnings in the IG: they are listed as risk factors (as is a
-- second anticoagulant, which the IG does not name). The generic ddi.interaction rule leaves
-- this pair to this rule.

local CORTICOSTEROIDS = { "prednisone", "prednisolone", "methylprednisolone", "dexamethasone", "hydrocortisone" }
local ALDOSTERONE_ANTAGONISTS = { "spironolactone", "eplerenone" }
local OTHER_ANTICOAGULANTS = { "class:direct-oral-anticoagulants", "class:heparins" }
local GASTROPROTECTION = { "class:proton-pump-inhibitors", "misoprostol" }
-- Topical diclofenac is recognised by its dose form in the order's text or coding display.
local TOPICAL = { "topical", "transdermal", "patch", " gel", "gel ", "ophthalmic" }
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

local function is_topical(med)
  local texts = { (med.text or ""):lower() }
  for _, c in ipairs(med.codes or {}) do texts[#texts + 1] = (c.display or ""):lower() end
  for _, t in ipairs(texts) do
    for _, w in ipairs(TOPICAL) do
      if t:find(w, 1, true) then return true end
    end
  end
  return false
end

local function medication_order(ctx, code, display)
  return {
    resourceType = "MedicationRequest", status = "draft", intent = "proposal",
    medicationCodeableConcept = { coding = { { system = RXNORM, code = code, display = display } }, text = display },
    subject = ctx.patient_id and { reference = "Patient/" .. ctx.patient_id } or nil,
  }
end

rule {
  id = "pddi.warfarin-nsaid", version = "1.2.0",
  title = "Warfarin with an NSAID: bleeding risk in context",
  hooks = { "order-select", "order-sign", "patient-view" },
  references = { "HL7 PDDI-CDS implementation guide: warfarin + NSAIDs",
                 "Phansalkar S et al. JAMIA 2012 (ONC high-priority list)" },

  evaluate = function(ctx)
    local pair = ctx.interaction("warfarin", "class:nsaids")
    if not pair then return nil end
    local nsaid = pair.a_ingredient == "warfarin" and pair.b or pair.a
    local nsaid_ingredient = pair.a_ingredient == "warfarin" and pair.b_ingredient or pair.a_ingredient
    local topical = nsaid_ingredient == "diclofenac" and is_topical(nsaid)

    if topical then
      return card {
        issue = "DRG",
        key = "warfarin:" .. nsaid.ref,
        explain = { matched = { pair.a, pair.b }, rows = { kb_row("interactions", pair) }, values = { topical = true } },
        indicator = "info",
        summary = shorten("Warfarin with topical " .. nsaid.name .. ": no special precautions", 139),
        detail = "Topical diclofenac is absorbed far less than oral diclofenac (a few percent of a systemic dose at "
          .. "the labelled amount), so the bleeding interaction with warfarin is unlikely. No special precautions; "
          .. "keep to the labelled dose and area.\n\nSource: HL7 PDDI-CDS implementation guide, warfarin-NSAIDs artifact",
        override = { "benefit-outweighs-risk", "will-monitor", "already-tolerating" },
      }
    end

    local factors = {}
    if ctx.patient.age and ctx.patient.age > 65 then factors[#factors + 1] = "age " .. ctx.patient.age end
    local bleed = ctx.conditions.any(GI_BLEED_OR_ULCER)
    if bleed then factors[#factors + 1] = "history of " .. (bleed.text or "GI bleeding or ulcer") end
    local steroid = any_of(ctx, CORTICOSTEROIDS)
    if steroid then factors[#factors + 1] = "corticosteroid (" .. steroid.name .. ")" end
    local mra = any_of(ctx, ALDOSTERONE_ANTAGONISTS)
    if mra then factors[#factors + 1] = "aldosterone antagonist (" .. mra.name .. ")" end
    for _, m in ipairs(ctx.meds.all("class:nsaids")) do
      if m.ref ~= nsaid.ref then factors[#factors + 1] = "second NSAID (" .. m.name .. ")" break end
    end
    local anticoag = any_of(ctx, OTHER_ANTICOAGULANTS)
    if anticoag then factors[#factors + 1] = "second anticoagulant (" .. anticoag.name .. ")" end
    local ppi = any_of(ctx, GASTROPROTECTION)

    local indicator = ppi and "warning" or "critical"
    local lines = { "Warfarin with " .. nsaid.name .. " raises the risk of bleeding, above all from the upper "
                    .. "gastrointestinal tract: NSAIDs inhibit platelets while present and can cause peptic ulcers." }
    if #factors > 0 then
      lines[#lines + 1] = "**Raising the risk:** " .. table.concat(factors, "; ") .. "."
    elseif not retrieved(ctx, "patient", "conditions", "medications") then
      -- a list that was not sent or came back as an error was not looked at: never claim that
      -- nothing was found
      lines[#lines + 1] = "Risk factors could not all be checked: the patient's age, problem list or medication list "
        .. "was not available to this check."
    else
      lines[#lines + 1] = "No added risk factor was found (age over 65, GI bleeding or ulcer, corticosteroid, "
        .. "aldosterone antagonist, second NSAID or anticoagulant)."
    end
    if ppi then
      lines[#lines + 1] = "Gastroprotection (" .. ppi.name .. ") is already prescribed, which lowers the GI bleeding risk. "
        .. "**Assess the risk and act if necessary.**"
    else
      lines[#lines + 1] = "No proton-pump inhibitor or misoprostol is prescribed. **Use only if the benefit outweighs the risk.**"
    end
    lines[#lines + 1] = "**Management:** prefer acetaminophen (check the INR if more than 2 g a day is taken for several "
      .. "days) or, for severe pain, a short opioid course; if the NSAID is needed, use the lowest dose for the shortest "
      .. "time, add gastroprotection and check the INR."
    lines[#lines + 1] = "Source: HL7 PDDI-CDS implementation guide, warfarin-NSAIDs artifact"

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
      issue = "DRG",
      key = "warfarin:" .. nsaid.ref,
      explain = {
        matched = { pair.a, pair.b, bleed, steroid, mra, anticoag, ppi },
        rows = { kb_row("interactions", pair) },
        values = { risk_factors = #factors, age_years = ctx.patient.age, gastroprotection = ppi ~= nil },
      },
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
