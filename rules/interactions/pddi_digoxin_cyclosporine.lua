-- rules/interactions/pddi_digoxin_cyclosporine.lua — owner: pharmacy informatics
-- Digoxin with cyclosporine (after the HL7 PDDI-CDS implementation guide): cyclosporine reduces
-- digoxin clearance through P-glycoprotein inhibition, so digoxin levels rise. A recent digoxin
-- level and the potassium decide how loud the card is; without a level in the last 14 days,
-- ordering one is suggested. The generic ddi.interaction rule leaves this pair to this rule.

local DIGOXIN_LEVEL, POTASSIUM = "10535-3", "2823-3"

-- The 1.2 ng/mL threshold holds for ng/mL (= ug/L); nmol/L is converted (1 ng/mL = 1.28 nmol/L,
-- digoxin 780.9 g/mol). An unknown unit never escalates the card.
local function to_ng_per_ml(o)
  local u = (o.unit or ""):lower():gsub("%s", ""):gsub("µ", "u"):gsub("μ", "u")
  if u == "ng/ml" or u == "ug/l" or u == "mcg/l" then return o.value end
  if u == "nmol/l" then return o.value / 1.28 end
  return nil
end

rule {
  id = "pddi.digoxin-cyclosporine", version = "1.2.0",
  title = "Digoxin with cyclosporine: digoxin toxicity risk",
  hooks = { "order-select", "order-sign", "patient-view" },
  references = { "HL7 PDDI-CDS implementation guide: digoxin + cyclosporine" },

  evaluate = function(ctx)
    local pair = ctx.interaction("digoxin", "cyclosporine")
    if not pair then return nil end
    local level = ctx.obs(DIGOXIN_LEVEL)
    local k = ctx.obs(POTASSIUM)
    local recent_level = level and level.days_ago and level.days_ago <= 14
    local lines = { "Cyclosporine inhibits P-glycoprotein and can raise digoxin levels into the toxic range." }
    local indicator = "warning"
    if recent_level and level.value then
      lines[#lines + 1] = string.format("**Digoxin level:** %.2f %s on %s.", level.value, level.unit or "", level.date or "?")
      local ng = to_ng_per_ml(level)
      if ng and ng > 1.2 then indicator = "critical" end
      if not ng then lines[#lines + 1] = "_The level's unit is not one this rule knows (ng/mL, ug/L, nmol/L): judge it against your laboratory's range._" end
    elseif not retrieved(ctx, "observations") then
      lines[#lines + 1] = "**Digoxin level:** could not be checked (the lab results were not available to this check)."
    else
      lines[#lines + 1] = "**Digoxin level:** none in the last 14 days."
    end
    if k and k.value then
      lines[#lines + 1] = string.format("**Potassium:** %.1f %s.", k.value, k.unit or "")
      if k.value < 3.5 then
        indicator = "critical"
        lines[#lines + 1] = "Low potassium adds to the risk of digoxin toxicity."
      end
    end
    lines[#lines + 1] = "**Management:** consider lowering the digoxin dose, check the digoxin level and potassium, and watch for toxicity (nausea, visual changes, bradycardia)."
    local suggest = {}
    if not recent_level then
      suggest[#suggest + 1] = suggestion {
        label = "Order a digoxin level",
        actions = { create(lab_order { code = DIGOXIN_LEVEL, display = "Digoxin [Mass/volume] in Serum or Plasma",
                                       patient = ctx.patient_id, reason = "digoxin with cyclosporine" }, "Order a digoxin level") },
      }
    end
    if pair.draft then suggest[#suggest + 1] = remove(pair.draft) end
    return card {
      issue = "DRG",
      key = "digoxin-cyclosporine",
      explain = {
        matched = { pair.a, pair.b, level and { level, DIGOXIN_LEVEL } or nil, k and { k, POTASSIUM } or nil },
        rows = { kb_row("interactions", pair) },
        values = { digoxin_level = recent_level and level.value or nil, digoxin_ng_ml = recent_level and to_ng_per_ml(level) or nil,
                   potassium = k and k.value or nil, level_recent = recent_level and true or false },
      },
      indicator = indicator,
      summary = "Digoxin with cyclosporine: risk of digoxin toxicity" ..
                (recent_level and "" or (not retrieved(ctx, "observations") and "; digoxin level not checked" or "; no recent digoxin level")),
      detail = table.concat(lines, "\n\n"),
      suggest = suggest,
      selection = "any",
      override = { "will-monitor", "dose-adjusted", "benefit-outweighs-risk" },
    }
  end,
}
