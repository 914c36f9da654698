-- rules/ordersets/monitoring.lua — owner: pharmacy informatics
-- Drug-triggered monitoring: when one of these drugs is among the orders being placed, suggest
-- the laboratory tests that should accompany it, unless the test is already ordered in this
-- session or a result lies inside the look-back window. Windows are stated per test.

-- Results that satisfy a panel order (issue 16, check 6): `components` must ALL be recent (a
-- WBC, haemoglobin and platelet count stand for a CBC; an ALT and AST for a liver panel); any one
-- code of `also` is enough (alternative codes or tests for the same thing: eGFR for a creatinine).
local CBC = { "6690-2", "718-7", "777-3" }
local LFT = { "1742-6", "1920-8" }
local LIPIDS = { "2093-3", "2085-9", "2571-8" }   -- total cholesterol, HDL, triglycerides (LDL is calculated from them)
local CREAT = { "62238-1", "98979-8", "33914-3" }

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
      { code = "24325-3", display = "Hepatic function 2000 panel - Serum or Plasma", days = 180, components = LFT },
    },
    why = "Amiodarone causes thyroid dysfunction and hepatotoxicity; baseline and six-monthly tests are advised.",
    source = "HRS expert consensus on amiodarone monitoring (Goldschlager et al., Heart Rhythm 2007)" },
  order_set { id = "methotrexate", title = "Methotrexate: blood count, liver and renal function", when = { "methotrexate" },
    -- baseline within 30 days at a start; a stable patient's refill needs them every 12 weeks
    orders = {
      { code = "58410-2", display = "CBC panel - Blood by Automated count", days = 90, start_days = 30, components = CBC },
      { code = "24325-3", display = "Hepatic function 2000 panel - Serum or Plasma", days = 90, start_days = 30, components = LFT },
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
  -- issue 16, check 6: drugs whose labels or guidelines call for levels or safety labs
  order_set { id = "phenytoin", title = "Phenytoin: serum level", when = { "phenytoin", "fosphenytoin" },
    orders = {
      { code = "3968-5", display = "Phenytoin [Mass/volume] in Serum or Plasma", days = 180, not_at_start = true,
        at_start = "Phenytoin level: at steady state, about 7-10 days after starting or a dose change (sooner after a loading dose); interpret with albumin." },
    },
    why = "Phenytoin has saturable kinetics and a narrow range (10-20 mcg/mL total): levels guide dosing after a start or change, when toxicity or breakthrough seizures occur, and periodically.",
    source = "Dilantin (phenytoin) US label, sections 2 and 12.3 (DailyMed, current 2024)" },
  order_set { id = "carbamazepine", title = "Carbamazepine: level, blood count, liver tests and sodium", when = { "carbamazepine" },
    orders = {
      { code = "3432-2", display = "Carbamazepine [Mass/volume] in Serum or Plasma", days = 180, not_at_start = true,
        at_start = "Carbamazepine level: after 2-4 weeks, when autoinduction is complete, and after dose changes." },
      { code = "58410-2", display = "CBC panel - Blood by Automated count", days = 180, start_days = 30, components = CBC },
      { code = "24325-3", display = "Hepatic function 2000 panel - Serum or Plasma", days = 180, start_days = 30, components = LFT },
      { code = "2951-2", display = "Sodium [Moles/volume] in Serum or Plasma", days = 180, also = { "2947-0" } },
    },
    why = "Carbamazepine can cause aplastic anaemia and agranulocytosis (boxed warning), liver injury and hyponatraemia: blood count and liver tests before starting and periodically, sodium periodically, and a level once autoinduction is complete.",
    source = "Tegretol (carbamazepine) US label, boxed warning and section 5 (DailyMed, current 2024)" },
  order_set { id = "valproate", title = "Valproate: liver tests, platelets and level", when = { "class:valproates" },
    orders = {
      { code = "24325-3", display = "Hepatic function 2000 panel - Serum or Plasma", days = 180, start_days = 30, components = LFT },
      { code = "58410-2", display = "CBC panel - Blood by Automated count", days = 180, start_days = 30, components = CBC },
      { code = "4086-5", display = "Valproate [Mass/volume] in Serum or Plasma", days = 180, not_at_start = true,
        at_start = "Valproate level: a trough after 3-5 days at a stable dose, and when toxicity or poor control is suspected." },
    },
    why = "Valproate can cause fatal hepatotoxicity (boxed warning, highest in the first 6 months) and dose-related thrombocytopenia: liver tests and platelets before starting and at intervals, especially in the first 6 months.",
    source = "Depakote / valproic acid US labels, boxed warning and section 5 (DailyMed, current 2024)" },
  order_set { id = "vancomycin", title = "Vancomycin (IV): level and renal function", when = { "vancomycin" },
    orders = {
      { code = "4092-3", display = "Vancomycin [Mass/volume] in Serum or Plasma --trough", days = 7, not_at_start = true,
        at_start = "Vancomycin levels: for AUC-guided dosing draw two levels (or a trough) around the fourth dose, within the first 24-48 hours." },
      { code = "2160-0", display = "Creatinine [Mass/volume] in Serum or Plasma", days = 3, also = CREAT },
    },
    why = "IV vancomycin is dosed to an AUC of 400-600 mg*h/L with level monitoring; nephrotoxicity needs creatinine at baseline and every few days. Oral vancomycin for C. difficile needs neither: override for oral use.",
    source = "ASHP/IDSA/PIDS/SIDP consensus on vancomycin monitoring (Rybak MJ et al., Am J Health Syst Pharm 2020;77:835)" },
  order_set { id = "gentamicin", title = "Gentamicin: trough level and renal function", when = { "gentamicin" },
    orders = {
      { code = "3665-7", display = "Gentamicin [Mass/volume] in Serum or Plasma --trough", days = 7, not_at_start = true,
        at_start = "Gentamicin level: per the dosing protocol (trough before the third dose, or a timed level with extended-interval dosing)." },
      { code = "2160-0", display = "Creatinine [Mass/volume] in Serum or Plasma", days = 3, also = CREAT },
    },
    why = "Aminoglycosides are nephro- and ototoxic (boxed warning): monitor serum levels and renal function; avoid troughs above 2 mcg/mL.",
    source = "Gentamicin sulfate injection US label, boxed warning (DailyMed, current 2024)" },
  order_set { id = "tobramycin", title = "Tobramycin: trough level and renal function", when = { "tobramycin" },
    orders = {
      { code = "4059-2", display = "Tobramycin [Mass/volume] in Serum or Plasma --trough", days = 7, not_at_start = true, also = { "35670-9" },
        at_start = "Tobramycin level: per the dosing protocol (trough before the third dose, or a timed level with extended-interval dosing)." },
      { code = "2160-0", display = "Creatinine [Mass/volume] in Serum or Plasma", days = 3, also = CREAT },
    },
    why = "Aminoglycosides are nephro- and ototoxic (boxed warning): monitor serum levels and renal function. Inhaled tobramycin needs neither routinely: override for inhaled use.",
    source = "Tobramycin injection US label, boxed warning (DailyMed, current 2024)" },
  order_set { id = "clozapine", title = "Clozapine: absolute neutrophil count", when = { "clozapine" },
    orders = {
      { code = "751-8", display = "Neutrophils [#/volume] in Blood by Automated count", days = 30, start_days = 7, also = { "753-4", "26499-4" } },
    },
    why = "Clozapine can cause severe neutropenia: a baseline ANC of at least 1500/uL before starting, then ANC weekly for 6 months, every 2 weeks to 12 months, and monthly after that.",
    source = "Clozaril (clozapine) US label, sections 2 and 5 (DailyMed, current 2024)" },
  order_set { id = "heparin", title = "Heparin: platelet count", when = { "heparin" },
    orders = {
      { code = "777-3", display = "Platelets [#/volume] in Blood by Automated count", days = 3, also = { "26515-7" } },
    },
    why = "Heparin-induced thrombocytopenia: a baseline platelet count, then every 2-3 days from day 4 to day 14 while the risk is above 1% (therapeutic heparin, post-operative patients). aPTT or anti-Xa monitoring of infusions follows the hospital's nomogram.",
    source = "ASH 2018 guideline on HIT (Cuker A et al., Blood Adv 2018;2:3360); heparin sodium US label, section 5 (DailyMed, current 2024)" },
  order_set { id = "enoxaparin", title = "Enoxaparin: blood count and renal function", when = { "enoxaparin" },
    orders = {
      { code = "58410-2", display = "CBC panel - Blood by Automated count", days = 7, components = CBC },
      { code = "2160-0", display = "Creatinine [Mass/volume] in Serum or Plasma", days = 30, start_days = 7, also = CREAT },
    },
    why = "Enoxaparin needs a baseline and periodic blood count (platelets for HIT, haemoglobin for bleeding) and renal function, since the dose is reduced when creatinine clearance is under 30 mL/min.",
    source = "Lovenox (enoxaparin) US label, sections 2 and 5 (DailyMed, current 2024)" },
  order_set { id = "doac", title = "Direct oral anticoagulant: renal function and blood count", when = { "class:direct-oral-anticoagulants" },
    orders = {
      { code = "2160-0", display = "Creatinine [Mass/volume] in Serum or Plasma", days = 365, start_days = 30, also = CREAT },
      { code = "58410-2", display = "CBC panel - Blood by Automated count", days = 365, start_days = 30, components = CBC },
    },
    why = "DOAC doses depend on renal function: creatinine clearance before starting and at least yearly (more often when it is under 60 mL/min), with a blood count to detect occult bleeding.",
    source = "Eliquis, Xarelto, Pradaxa, Savaysa US labels, section 2; 2021 EHRA practical guide on NOACs (Steffel J et al., Europace 2021;23:1612)" },
  order_set { id = "metformin", title = "Metformin: renal function", when = { "metformin" },
    orders = {
      { code = "2160-0", display = "Creatinine [Mass/volume] in Serum or Plasma", days = 365, start_days = 90, also = CREAT },
    },
    why = "Metformin is contraindicated below an eGFR of 30 and not to be started between 30 and 45 mL/min/1.73 m2: check eGFR before starting and at least yearly.",
    source = "Glucophage (metformin) US label, sections 2 and 4 (DailyMed, current 2024); ADA Standards of Care in Diabetes 2024, section 9" },
  order_set { id = "statin", title = "Statin: lipid panel and baseline ALT", when = { "class:statins" },
    orders = {
      { code = "24331-1", display = "Lipid panel - Serum or Plasma", days = 365, start_days = 90, components = LIPIDS },
      { code = "1742-6", display = "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", days = 365, start_days = 90 },
    },
    why = "A baseline lipid panel and liver enzymes before starting a statin; the lipid response 4-12 weeks after starting or a dose change, then every 3-12 months. Routine ALT monitoring after baseline is not needed.",
    source = "2018 AHA/ACC cholesterol guideline (Grundy SM et al., Circulation 2019;139:e1082), monitoring section; statin US labels, section 5 (DailyMed, current 2024)" },
  order_set { id = "mra", title = "Spironolactone or eplerenone: potassium and renal function", when = { "class:mineralocorticoid-receptor-antagonists" },
    orders = {
      { code = "2823-3", display = "Potassium [Moles/volume] in Serum or Plasma", days = 90, start_days = 7, also = { "6298-4" } },
      { code = "2160-0", display = "Creatinine [Mass/volume] in Serum or Plasma", days = 90, start_days = 7, also = CREAT },
    },
    why = "Mineralocorticoid receptor antagonists cause hyperkalaemia: potassium and renal function before starting, within the first week, at 4 weeks, then regularly.",
    source = "Aldactone and Inspra US labels, sections 2 and 5 (DailyMed, current 2024); 2022 AHA/ACC/HFSA heart failure guideline" },
  order_set { id = "linezolid", title = "Linezolid: blood count", when = { "linezolid" },
    orders = {
      { code = "58410-2", display = "CBC panel - Blood by Automated count", days = 7, components = CBC },
    },
    why = "Linezolid causes myelosuppression (thrombocytopenia, anaemia), more often beyond 2 weeks of use: weekly blood counts.",
    source = "Zyvox (linezolid) US label, section 5 (myelosuppression), DailyMed, current 2024" },
  order_set { id = "allopurinol", title = "Allopurinol: renal function", when = { "allopurinol" },
    orders = {
      { code = "2160-0", display = "Creatinine [Mass/volume] in Serum or Plasma", days = 365, start_days = 90, also = CREAT },
    },
    why = "Allopurinol is started at a low dose adjusted to renal function (the risk of severe cutaneous reactions is higher in kidney disease) and titrated to the urate target.",
    source = "2020 ACR gout guideline (FitzGerald JD et al., Arthritis Care Res 2020;72:744); Zyloprim US label, section 2 (DailyMed, current 2024)" },
  order_set { id = "azathioprine", title = "Azathioprine: blood count and liver tests", when = { "azathioprine" },
    orders = {
      { code = "58410-2", display = "CBC panel - Blood by Automated count", days = 30, start_days = 14, components = CBC },
      { code = "24325-3", display = "Hepatic function 2000 panel - Serum or Plasma", days = 90, start_days = 30, components = LFT },
    },
    why = "Azathioprine causes dose-related myelosuppression (earlier and severe with low TPMT or NUDT15 activity) and hepatotoxicity: blood counts weekly in the first month, twice monthly for the next two, then monthly; liver tests periodically.",
    source = "Imuran (azathioprine) US label, section 5 (cytopenias, TPMT/NUDT15), DailyMed, current 2024" },
  order_set { id = "leflunomide", title = "Leflunomide: liver tests and blood count", when = { "leflunomide" },
    orders = {
      { code = "1742-6", display = "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", days = 60, start_days = 30 },
      { code = "58410-2", display = "CBC panel - Blood by Automated count", days = 60, start_days = 30, components = CBC },
    },
    why = "Leflunomide can cause severe liver injury (boxed warning) and cytopenias: ALT and a blood count before starting, monthly for 6 months, then every 6-8 weeks.",
    source = "Arava (leflunomide) US label, boxed warning and section 5 (DailyMed, current 2024)" },
  order_set { id = "levothyroxine", title = "Levothyroxine: TSH", when = { "levothyroxine" },
    orders = {
      { code = "3016-3", display = "Thyrotropin [Units/volume] in Serum or Plasma", days = 365 },
    },
    why = "TSH 6-8 weeks after starting or changing the dose, then every 6-12 months once stable.",
    source = "Synthroid (levothyroxine) US label, section 2 (DailyMed, current 2024); ATA guideline on hypothyroidism (Jonklaas J et al., Thyroid 2014;24:1670)" },
  order_set { id = "antipsychotic-metabolic", title = "Antipsychotic: glucose and lipid monitoring", when = { "class:antipsychotics" },
    orders = {
      { code = "4548-4", display = "Hemoglobin A1c/Hemoglobin.total in Blood", days = 365, start_days = 90, also = { "17856-6", "2345-7" } },
      { code = "24331-1", display = "Lipid panel - Serum or Plasma", days = 365, start_days = 90, components = LIPIDS },
    },
    why = "Antipsychotics, second-generation ones especially, cause weight gain, diabetes and dyslipidaemia: glucose (or A1c) and lipids at baseline, at 12 weeks, then yearly.",
    source = "ADA/APA/AACE/NAASO consensus on antipsychotic drugs and obesity and diabetes (Diabetes Care 2004;27:596); APA schizophrenia guideline 2020, table 2" },
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
  id = "orders.monitoring", version = "1.3.0",
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
        local missing, names, notes, windows, codes = {}, {}, {}, {}, {}
        for _, order in ipairs(set.orders) do
          local days = start and order.start_days or order.days
          local recent = not after_start and recent_result(ctx, { code = order.code, also = order.also,
                                                                 components = order.components, days = days })
          if start and order.not_at_start then
            notes[#notes + 1] = order.at_start
          elseif not has_code(ctx.orders, order.code) and not recent then
            missing[#missing + 1] = suggestion {
              label = "Order " .. order.display,
              actions = { create(lab_order { code = order.code, display = order.display, patient = ctx.patient_id,
                                             reason = set.title }, "Order " .. order.display) },
            }
            names[#names + 1] = order.display:match("^[^%[]+"):gsub("%s+$", "")
            codes[#codes + 1] = order.code
          end
          if not (start and order.not_at_start) then
            windows[#windows + 1] = after_start and string.format("%s: after the start (earlier results do not count)", order.display)
                                    or string.format("%s: a result within %d days%s", order.display, days,
                                                     order.components and " (or all of its parts: " .. table.concat(order.components, ", ") .. ")" or "")
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
            explain = { matched = { med }, rows = { { "order_set", set.id } },
                        values = { due = table.concat(codes, "+"), starting = start and true or false,
                                   results_checked = not unchecked } },
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
