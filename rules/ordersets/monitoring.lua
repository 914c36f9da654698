-- rules/ordersets/monitoring.lua — owner: pharmacy informatics
-- Drug-triggered monitoring: when one of these drugs is among the orders being placed, suggest
-- the laboratory tests that should accompany it, unless the test is already ordered in this
-- session or a result lies inside the look-back window. Windows are stated per test.

local SETS = {
  order_set { id = "warfarin", title = "Warfarin: INR monitoring", when = { "warfarin" },
    orders = {
      { code = "6301-6", display = "INR in Platelet poor plasma by Coagulation assay", days = 7, also = { "34714-6" } },
    },
    why = "Start and dose changes of warfarin need an INR within a week.",
    source = "CHEST guideline on antithrombotic therapy (Holbrook et al., Chest 2012;141(2 Suppl):e152S)" },
  order_set { id = "lithium", title = "Lithium: level, renal, thyroid and calcium", when = { "lithium" },
    orders = {
      -- a level before the first dose has no value: at a start it is due 5-7 days later (12 h post-dose)
      { code = "14334-7", display = "Lithium [Moles/volume] in Serum or Plasma", days = 7, not_at_start = true,
        at_start = "Lithium level: 5-7 days after starting and after each dose change, 12 hours after the last dose." },
      { code = "2160-0", display = "Creatinine [Mass/volume] in Serum or Plasma", days = 180, also = { "62238-1", "98979-8", "33914-3" } },
      { code = "3016-3", display = "Thyrotropin [Units/volume] in Serum or Plasma", days = 180 },
      { code = "17861-6", display = "Calcium [Mass/volume] in Serum or Plasma", days = 180 },
    },
    why = "Lithium has a narrow therapeutic range and affects the kidney, the thyroid and calcium; renal, thyroid and calcium tests are due before starting and every 6 months.",
    source = "NICE CG185 bipolar disorder (2014, updated 2023), lithium monitoring" },
  order_set { id = "amiodarone", title = "Amiodarone: thyroid and liver function", when = { "amiodarone" },
    orders = {
      { code = "3016-3", display = "Thyrotropin [Units/volume] in Serum or Plasma", days = 180 },
      { code = "24325-3", display = "Hepatic function 2000 panel - Serum or Plasma", days = 180 },
    },
    why = "Amiodarone causes thyroid dysfunction and hepatotoxicity; baseline and six-monthly tests are advised.",
    source = "HRS expert consensus on amiodarone monitoring (Goldschlager et al., Heart Rhythm 2007)" },
  order_set { id = "methotrexate", title = "Methotrexate: blood count, liver and renal function", when = { "methotrexate" },
    -- baseline within 30 days at a start; a stable patient's refill needs them every 12 weeks
    orders = {
      { code = "58410-2", display = "CBC panel - Blood by Automated count", days = 90, start_days = 30 },
      { code = "24325-3", display = "Hepatic function 2000 panel - Serum or Plasma", days = 90, start_days = 30 },
      { code = "2160-0", display = "Creatinine [Mass/volume] in Serum or Plasma", days = 90, start_days = 30 },
    },
    why = "Methotrexate can suppress the marrow and injure the liver; clearance depends on the kidney. Baseline tests before starting, then every 2-4 weeks for 3 months, every 8-12 weeks to 6 months, and every 12 weeks after that (high-dose oncology methotrexate follows its own protocol).",
    source = "Singh JA et al. 2012 ACR rheumatoid arthritis update, Arthritis Care Res 2012;64:625 (monitoring intervals)" },
  order_set { id = "digoxin", title = "Digoxin: level, potassium and renal function", when = { "digoxin" },
    orders = {
      { code = "10535-3", display = "Digoxin [Mass/volume] in Serum or Plasma", days = 30 },
      { code = "2823-3", display = "Potassium [Moles/volume] in Serum or Plasma", days = 30 },
      { code = "2160-0", display = "Creatinine [Mass/volume] in Serum or Plasma", days = 30 },
    },
    why = "Digoxin toxicity rises with high levels, low potassium and reduced renal clearance.",
    source = "2023 ACC/AHA/ACCP/HRS atrial fibrillation guideline; digoxin labeling" },
  order_set { id = "raas-potassium", title = "ACE inhibitor or ARB with a potassium-sparing agent: potassium and creatinine",
    when = { "class:raas-inhibitors", "class:potassium-sparing-agents-potassium" }, all = true,
    -- a result from before the potassium-sparing agent starts is a baseline, never the check after it
    after_start_of = "class:potassium-sparing-agents-potassium",
    orders = {
      { code = "2823-3", display = "Potassium [Moles/volume] in Serum or Plasma", days = 14 },
      { code = "2160-0", display = "Creatinine [Mass/volume] in Serum or Plasma", days = 14 },
    },
    why = "The combination raises potassium. When the potassium-sparing agent starts (or its dose rises), check potassium and creatinine within 3 days and again at 1 week; a result from before the start does not count.",
    source = "Aldactone US label, section 5; 2013 ACCF/AHA heart failure guideline (potassium at 3 days and 1 week)" },
}

-- the selected draft order matching spec, if any
local function ordering(ctx, spec)
  for _, m in ipairs(ctx.meds.all(spec)) do
    if m.draft and m.selected then return m end
  end
  return nil
end

-- a start: the drug is being ordered and is not on the active list
local function starting(ctx, spec)
  for _, m in ipairs(ctx.meds.all(spec)) do
    if m.active then return false end
  end
  return ordering(ctx, spec) ~= nil
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
  id = "orders.monitoring", version = "1.2.0",
  title = "Monitoring tests for drugs being ordered",
  hooks = { "order-select", "order-sign" },
  references = { "see each set's source" },

  evaluate = function(ctx)
    local cards = {}
    -- Results that were not sent or could not be retrieved are not absent: the card then says
    -- it could not check instead of "no result".
    local unchecked = not retrieved(ctx, "observations")
    for _, set in ipairs(SETS) do
      local med = triggered(ctx, set)
      if med then
        local start = starting(ctx, set.when[1])
        local after_start = set.after_start_of and starting(ctx, set.after_start_of)
        local missing, names, notes, windows = {}, {}, {}, {}
        for _, order in ipairs(set.orders) do
          local days = start and order.start_days or order.days
          local recent = not after_start and recent_result(ctx, { code = order.code, also = order.also, days = days })
          if start and order.not_at_start then
            notes[#notes + 1] = order.at_start
          elseif not has_code(ctx.orders, order.code) and not recent then
            missing[#missing + 1] = suggestion {
              label = "Order " .. order.display,
              actions = { create(lab_order { code = order.code, display = order.display, patient = ctx.patient_id,
                                             reason = set.title }, "Order " .. order.display) },
            }
            names[#names + 1] = order.display:match("^[^%[]+"):gsub("%s+$", "")
          end
          if not (start and order.not_at_start) then
            windows[#windows + 1] = after_start and string.format("%s: after the start (earlier results do not count)", order.display)
                                    or string.format("%s: a result within %d days", order.display, days)
          end
        end
        if #missing > 0 then
          local lines = { set.why }
          if unchecked then
            lines[#lines + 1] = "_The lab results were not available to this check, so recent results could not be "
              .. "checked: they may exist._"
          end
          for _, n in ipairs(notes) do lines[#lines + 1] = n end
          lines[#lines + 1] = table.concat(windows, "\n\n")
          lines[#lines + 1] = "Source: " .. set.source
          cards[#cards + 1] = card {
            key = set.id,
            indicator = "info",
            summary = shorten(set.title:match("^[^:]+") .. ": order " .. table.concat(names, ", ")
                              .. (unchecked and " (recent results not checked)" or ""), 139),
            detail = table.concat(lines, "\n\n"),
            suggest = missing,
            selection = "any",
          }
        end
      end
    end
    return cards
  end,
}
