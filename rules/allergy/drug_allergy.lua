-- rules/allergy/drug_allergy.lua — owner: pharmacy informatics
-- An ordered (or, on patient-view, active) drug against the patient's active allergy records.
-- Matching is done in C: direct (the allergen is the ingredient or a class containing it) or
-- through cross-sensitivity between classes. Refuted, entered-in-error, resolved and inactive
-- records never reach this rule.

-- Levels come from rules/allergy/knowledge/cross_sensitivity.tsv (the highest matching row).
-- A low level stays informational whatever the recorded criticality: the 2022 practice parameter
-- advises giving such drugs (e.g. a carbapenem after penicillin anaphylaxis) without precautions.
local function indicator(m)
  local a = m.allergy
  if not m.cross then
    if a.type == "intolerance" then return "warning" end
    if a.criticality == "low" then return "warning" end
    return "critical"
  end
  if m.level == "high" then return a.type == "intolerance" and "warning" or "critical" end
  if m.level == "moderate" then return "warning" end
  return "info"
end

-- A recorded ingredient that stands for its class (rules/allergy/knowledge/allergen_codes.tsv:
-- penicillin G coded for "penicillin allergy") is a class allergy: the card names the class.
local function allergen(m)
  if m.cross or not m.via or m.via:lower() == m.ingredient:lower() then return m.allergy.text end
  for _, s in ipairs(m.allergy.substances) do
    if s.code then return m.via:lower() .. " (recorded as " .. m.allergy.text .. ")" end
  end
  return m.allergy.text
end

local function detail(m)
  local a, lines = m.allergy, {}
  local kind = a.type == "intolerance" and "Intolerance" or "Allergy"
  lines[#lines + 1] = string.format("**%s on record:** %s%s", kind, a.text,
                                    a.criticality and (" (criticality " .. a.criticality .. ")") or "")
  if a.reaction then lines[#lines + 1] = "**Reaction:** " .. a.reaction end
  lines[#lines + 1] = "**Ordered:** " .. m.med.text .. " (contains " .. m.ingredient .. ")"
  if m.cross then
    lines[#lines + 1] = string.format("**Cross-sensitivity (%s):** %s", m.level, m.note or "")
  end
  if a.verification == "unconfirmed" then lines[#lines + 1] = "_The allergy record is unconfirmed._" end
  return table.concat(lines, "\n\n")
end

-- What matched: the order, the allergy record, and the knowledge that links them (the
-- ingredient, the recorded substance or class it matched, the cross-sensitivity row's level).
local function explain_match(m)
  local rows = { { "ingredients", m.ingredient } }
  if m.cross then rows[1] = { "cross_sensitivity", (m.via or "?") .. ">" .. m.ingredient }
  elseif m.via and m.via:lower() ~= m.ingredient:lower() then rows[1] = { "classes", m.via .. ">" .. m.ingredient } end
  return {
    matched = { m.med, m.allergy.ref or ("AllergyIntolerance/" .. (m.allergy.id or "?")) },
    rows = rows,
    values = { ingredient = m.ingredient, via = m.via, cross = m.cross, level = m.level },
  }
end

rule {
  id = "allergy.drug", version = "1.1.0",
  title = "Drug-allergy conflict",
  hooks = { "order-select", "order-sign", "patient-view" },
  references = { "Khan DA et al. Drug allergy: a 2022 practice parameter update. JACI 2022" },

  evaluate = function(ctx)
    local cards = {}
    for _, m in ipairs(ctx.allergy_matches) do
      local what = m.cross and ("possible cross-sensitivity with " .. m.allergy.text)
                            or ("documented " .. (m.allergy.type or "allergy") .. " to " .. allergen(m))
      cards[#cards + 1] = card {
        key       = (m.allergy.id or m.allergy.text) .. ":" .. m.med.ref,
        explain   = explain_match(m),
        issue     = m.allergy.type == "intolerance" and "INT" or "ALGY",
        indicator = indicator(m),
        summary   = shorten(m.med.name .. ": " .. what, 139),
        detail    = detail(m),
        suggest   = { m.med.draft and remove(m.med) or nil },
        override  = { "tolerated-previously", "desensitisation-planned", "allergy-record-wrong" },
      }
    end
    return cards
  end,
}
