-- rules/ordersets/chronic_care.lua — owner: pharmacy informatics
-- Condition-triggered care gaps on patient-view (medication-review): the tests a chronic
-- condition calls for, suggested when no result lies inside the stated window.

local SETS = {
  order_set { id = "t2dm", title = "Type 2 diabetes: annual tests", conditions = { "44054006" },
    orders = {
      { code = "4548-4", display = "Hemoglobin A1c/Hemoglobin.total in Blood", days = 182, also = { "17856-6" } },
      { code = "24331-1", display = "Lipid panel - Serum or Plasma", days = 365, also = { "2093-3", "13457-7", "18262-6" } },
      { code = "9318-7", display = "Albumin/Creatinine [Mass Ratio] in Urine", days = 365, also = { "14959-1" } },
      { code = "62238-1", display = "eGFR (creatinine, CKD-EPI) in Serum or Plasma", days = 365,
        also = { "98979-8", "33914-3", "48642-3", "48643-1", "2160-0" } },
    },
    source = "ADA Standards of Care in Diabetes 2024, sections 6 (glycemic goals), 10 (lipids) and 11 (kidney)" },
  order_set { id = "prediabetes", title = "Prediabetes: yearly glycemic test", conditions = { "15777000" },
    orders = { { code = "4548-4", display = "Hemoglobin A1c/Hemoglobin.total in Blood", days = 365, also = { "17856-6" } } },
    source = "ADA Standards of Care in Diabetes 2024, section 2 (testing people with prediabetes at least yearly)" },
  order_set { id = "hypertension", title = "Hypertension: electrolytes and renal function", conditions = { "38341003", "59621000" },
    orders = { { code = "51990-0", display = "Basic metabolic panel - Blood", days = 365, also = { "24323-8", "2160-0" } } },
    source = "2017 ACC/AHA high blood pressure guideline (basic laboratory tests; follow-up on therapy)" },
  order_set { id = "hyperlipidemia", title = "Hyperlipidemia: lipid panel", conditions = { "55822004" },
    orders = { { code = "24331-1", display = "Lipid panel - Serum or Plasma", days = 365, also = { "2093-3", "13457-7", "18262-6" } } },
    source = "2018 AHA/ACC cholesterol guideline (lipid response every 3-12 months on therapy)" },
  order_set { id = "heart-failure", title = "Heart failure: potassium and renal function", conditions = { "88805009", "84114007" },
    orders = { { code = "51990-0", display = "Basic metabolic panel - Blood", days = 182, also = { "24323-8", "2823-3" } } },
    source = "2022 AHA/ACC/HFSA heart failure guideline (monitoring renal function and potassium on GDMT)" },
}

rule {
  id = "orders.chronic-care", version = "1.2.0",
  title = "Care gaps for chronic conditions",
  hooks = { "patient-view" },
  references = { "see each set's source" },

  evaluate = function(ctx)
    -- A care gap is a claim that a result is absent: when the lab results were not sent, came
    -- back as an error (an OperationOutcome) or only in part, the rule did not see them, so it
    -- says nothing (screen.unresolved reports a list that came back as an error).
    if not retrieved(ctx, "observations") then return nil end
    local cards = {}
    for _, set in ipairs(SETS) do
      local condition = ctx.conditions.any(set.conditions)
      if condition then
        local missing, names, lines, codes = {}, {}, {}, {}
        for _, order in ipairs(set.orders) do
          if not recent_result(ctx, order) then
            missing[#missing + 1] = suggestion {
              label = "Order " .. order.display,
              actions = { create(lab_order { code = order.code, display = order.display, patient = ctx.patient_id,
                                             reason = condition.text }, "Order " .. order.display) },
            }
            names[#names + 1] = order.display:match("^[^/%[]+"):gsub("%s+$", "")
            lines[#lines + 1] = string.format("No %s within %d days.", order.display, order.days)
            codes[#codes + 1] = order.code
          end
        end
        if #missing > 0 then
          cards[#cards + 1] = card {
            key = set.id,
            explain = { matched = { condition, patient_ref(ctx) }, rows = { { "order_set", set.id } }, values = { due = table.concat(codes, "+") } },
            indicator = "info",
            summary = shorten(set.title:match("^[^:]+") .. ": due " .. table.concat(names, ", "), 139),
            detail = table.concat(lines, "\n\n") .. "\n\nSource: " .. set.source,
            suggest = missing,
            selection = "any",
          }
        end
      end
    end
    return cards
  end,
}
