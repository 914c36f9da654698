-- rules/ordersets/monitoring.lua — owner: pharmacy informatics
-- Drug-triggered monitoring: when one of these drugs is among the orders being placed, suggest
-- the laboratory tests that should accompany it, unless the test is already ordered in this
-- session or a result lies inside the look-back window. Windows are stated per test.

local SETS = {
  { id = "warfarin", title = "Warfarin: INR monitoring", when = { "warfarin" },
    orders = {
      { code = "6301-6", display = "INR in Platelet poor plasma by Coagulation assay", days = 7, also = { "34714-6" } },
    },
    why = "Start and dose changes of warfarin need an INR within a week.",
    source = "CHEST guideline on antithrombotic therapy (Holbrook et al., Chest 2012;141(2 Suppl):e152S)" },
  { id = "lithium", title = "Lithium: level, renal and thyroid function", when = { "lithium" },
    orders = {
      { code = "14334-7", display = "Lithium [Moles/volume] in Serum or Plasma", days = 7 },
      { code = "2160-0", display = "Creatinine [Mass/volume] in Serum or Plasma", days = 90 },
      { code = "3016-3", display = "Thyrotropin [Units/volume] in Serum or Plasma", days = 180 },
    },
    why = "Lithium has a narrow therapeutic range and affects the kidney and the thyroid.",
    source = "NICE CG185 bipolar disorder, lithium monitoring; BAP guidelines 2016" },
  { id = "amiodarone", title = "Amiodarone: thyroid and liver function", when = { "amiodarone" },
    orders = {
      { code = "3016-3", display = "Thyrotropin [Units/volume] in Serum or Plasma", days = 180 },
      { code = "24325-3", display = "Hepatic function 2000 panel - Serum or Plasma", days = 180 },
    },
    why = "Amiodarone causes thyroid dysfunction and hepatotoxicity; baseline and six-monthly tests are advised.",
    source = "HRS expert consensus on amiodarone monitoring (Goldschlager et al., Heart Rhythm 2007)" },
  { id = "methotrexate", title = "Methotrexate: blood count, liver and renal function", when = { "methotrexate" },
    orders = {
      { code = "58410-2", display = "CBC panel - Blood by Automated count", days = 30 },
      { code = "24325-3", display = "Hepatic function 2000 panel - Serum or Plasma", days = 30 },
      { code = "2160-0", display = "Creatinine [Mass/volume] in Serum or Plasma", days = 30 },
    },
    why = "Methotrexate can suppress the marrow and injure the liver; clearance depends on the kidney.",
    source = "ACR 2021 rheumatoid arthritis guideline, methotrexate monitoring" },
  { id = "digoxin", title = "Digoxin: level, potassium and renal function", when = { "digoxin" },
    orders = {
      { code = "10535-3", display = "Digoxin [Mass/volume] in Serum or Plasma", days = 30 },
      { code = "2823-3", display = "Potassium [Moles/volume] in Serum or Plasma", days = 30 },
      { code = "2160-0", display = "Creatinine [Mass/volume] in Serum or Plasma", days = 30 },
    },
    why = "Digoxin toxicity rises with high levels, low potassium and reduced renal clearance.",
    source = "2023 ACC/AHA/ACCP/HRS atrial fibrillation guideline; digoxin labeling" },
  { id = "raas-potassium", title = "ACE inhibitor or ARB with a potassium-sparing agent: potassium and creatinine",
    when = { "class:raas-inhibitors", "class:potassium-sparing-agents-potassium" }, all = true,
    orders = {
      { code = "2823-3", display = "Potassium [Moles/volume] in Serum or Plasma", days = 14 },
      { code = "2160-0", display = "Creatinine [Mass/volume] in Serum or Plasma", days = 14 },
    },
    why = "The combination raises potassium; check potassium and renal function within two weeks.",
    source = "2022 AHA/ACC/HFSA heart failure guideline (RAAS inhibitors with MRAs)" },
}

-- the selected draft order matching spec, if any
local function ordering(ctx, spec)
  for _, m in ipairs(ctx.meds.all(spec)) do
    if m.draft and m.selected then return m end
  end
  return nil
end

local function triggered(ctx, set)
  if set.all then
    local new = nil
    for _, spec in ipairs(set.when) do
      if not ctx.meds.any(spec) then return nil end
      new = new or ordering(ctx, spec)
    end
    return new
  end
  for _, spec in ipairs(set.when) do
    local m = ordering(ctx, spec)
    if m then return m end
  end
  return nil
end

rule {
  id = "orders.monitoring", version = "1.0.0",
  title = "Monitoring tests for drugs being ordered",
  hooks = { "order-select", "order-sign" },
  references = { "see each set's source" },

  evaluate = function(ctx)
    local cards = {}
    for _, set in ipairs(SETS) do
      local med = triggered(ctx, set)
      if med then
        local missing, names = {}, {}
        for _, order in ipairs(set.orders) do
          if not has_code(ctx.orders, order.code) and not recent_result(ctx, order) then
            missing[#missing + 1] = suggestion {
              label = "Order " .. order.display,
              actions = { create(lab_order { code = order.code, display = order.display, patient = ctx.patient_id,
                                             reason = set.title }, "Order " .. order.display) },
            }
            names[#names + 1] = order.display:match("^[^%[]+"):gsub("%s+$", "")
          end
        end
        if #missing > 0 then
          local windows = {}
          for _, order in ipairs(set.orders) do
            windows[#windows + 1] = string.format("%s: a result within %d days", order.display, order.days)
          end
          cards[#cards + 1] = card {
            key = set.id,
            indicator = "info",
            summary = shorten(set.title:match("^[^:]+") .. ": order " .. table.concat(names, ", "), 139),
            detail = set.why .. "\n\n" .. table.concat(windows, "\n\n") .. "\n\nSource: " .. set.source,
            suggest = missing,
            selection = "any",
          }
        end
      end
    end
    return cards
  end,
}
