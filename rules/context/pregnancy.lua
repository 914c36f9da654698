-- rules/context/pregnancy.lua — owner: pharmacy informatics
-- Drugs to avoid in pregnancy and in lactation (issue 16, check 4): tables/pregnancy_lactation.tsv,
-- one row per drug (or class) x state, and tables/status_codes.tsv, the codes that say a patient
-- is pregnant, not pregnant or breastfeeding. Two rules:
--   context.pregnancy (PREG): a selected order with a `pregnancy` row for a patient known to be
--     pregnant; for rows with requires_negative_test = yes, also a female patient aged 12-55 with
--     no negative pregnancy test in the last 30 days ("no negative pregnancy test on file").
--   context.lactation (LACT): a selected order with a `lactation` row for a breastfeeding patient.
-- Unknown status is silent (no card) except for requires_negative_test rows. A known male
-- (Patient.gender male) is never pregnant or breastfeeding.
--
-- Pregnant when any of:
--   - an active condition coded with a `pregnant` row (SNOMED CT, ICD-10-CM);
--   - for a patient aged 10 to 60 (or of unknown age), the latest dated result among the
--     pregnancy-status, hCG and delivery-date codes, no older than 280 days (one pregnancy), says
--     so: a status answer with meaning `pregnant` (LA15173-0, 77386006), a positive hCG, or an
--     expected delivery date from 14 days ago to 300 days ahead. A later negative test or "not pregnant" answer wins over an earlier positive
--     result; an active pregnancy condition is not overruled by results (a contradiction is shown,
--     not hidden).
-- hCG: qualitative positive/negative by coded answer (SNOMED CT 10828004 / 260385009, 52101004 /
-- 2667000; LOINC LA6576-8 / LA6577-6) or by text ("positive", "detected" / "negative", "not
-- detected"); quantitative in mIU/mL (= IU/L): 25 or more positive, under 5 negative, in between
-- no verdict (the thresholds of tables/README.md); a comparator counts only when it makes the
-- verdict certain ("<2" is negative, ">1000" positive); other units give no verdict. Undated
-- results are never used.

local ROWS = knowledge_table("pregnancy_lactation", {
  id = "id", drug = "drug", drug_label = "text", state = { "pregnancy", "lactation" },
  severity = { "critical", "warning", "info" }, requires_negative_test = "yesno", note = "text", source = "text",
  required = { "id", "drug", "state", "severity", "requires_negative_test", "note", "source" },
  check = function(row)
    if row.requires_negative_test and row.state ~= "pregnancy" then
      return "requires_negative_test = yes is for pregnancy rows only"
    end
  end,
})

local OBSERVATION_MEANINGS = { ["pregnancy-status"] = true, hcg = true, edd = true }
local STATUS = knowledge_table("status_codes", {
  system = { "sct", "icd10", "loinc" }, code = "text", display = "text",
  meaning = { "pregnant", "not-pregnant", "lactating", "pregnancy-status", "hcg", "edd" }, source = "text",
  required = { "system", "code", "meaning", "source" },
  check = function(row)
    if OBSERVATION_MEANINGS[row.meaning] then
      if row.system ~= "loinc" then return "meaning '" .. row.meaning .. "' is an observation: its code must be LOINC" end
      return knowledge_code_problem("loinc:" .. row.code)
    end
    if row.system == "loinc" then   -- an answer code of a status observation
      if not row.code:match("^LA%d+%-%d$") then return "'" .. row.code .. "' is not a LOINC answer code (LA...-N)" end
      return nil
    end
    return knowledge_code_problem(row.system .. ":" .. row.code)
  end,
})

-- conditions by meaning, as ctx.conditions.any reads them; answers (observation values) by code
local CONDITIONS, ANSWERS, OBS = { pregnant = {}, lactating = {} }, {}, { ["pregnancy-status"] = {}, hcg = {}, edd = {} }
for _, s in ipairs(STATUS) do
  if OBSERVATION_MEANINGS[s.meaning] then
    local l = OBS[s.meaning]; l[#l + 1] = s.code
  elseif s.system == "loinc" or s.system == "sct" then
    ANSWERS[s.code] = s.meaning
  end
  if s.system ~= "loinc" and CONDITIONS[s.meaning] then
    local l = CONDITIONS[s.meaning]; l[#l + 1] = s.system .. ":" .. s.code
  end
end

local NONE = {}
local BY_STATE = { pregnancy = {}, lactation = {} }
do
  local split = { pregnancy = {}, lactation = {} }
  for _, r in ipairs(ROWS) do local l = split[r.state]; l[#l + 1] = r end
  for state, rows in pairs(split) do BY_STATE[state] = index_by_ingredient(rows, "drug") end
end

local PREGNANCY_DAYS = 280     -- a result older than one pregnancy says nothing about now
local NEGATIVE_TEST_DAYS = 30  -- a negative test this recent rules pregnancy out for the label's purpose
local CHILDBEARING = { 12, 55 } -- ages (years, inclusive) at which "no negative test" is a finding
local EDD_PAST_DAYS, EDD_AHEAD_DAYS = 14, 300
-- Results are read for patients aged 10 to 60 (or of unknown age) only: outside that band a
-- positive hCG is a tumour marker far more often than a pregnancy, and a recorded "pregnant" or
-- "breastfeeding" answer is a data error; conditions are read at any age.
local RESULT_AGES = { 10, 60 }
local function results_plausible(ctx)
  local age = ctx.patient.age
  return age == nil or (age >= RESULT_AGES[1] and age <= RESULT_AGES[2])
end

local HCG_POSITIVE = { ["10828004"] = true, ["52101004"] = true, ["LA6576-8"] = true }
local HCG_NEGATIVE = { ["260385009"] = true, ["2667000"] = true, ["LA6577-6"] = true }
local HCG_UNITS = { ["mIU/mL"] = true, ["m[IU]/mL"] = true, ["IU/L"] = true, ["[IU]/L"] = true }
local HCG_POSITIVE_AT, HCG_NEGATIVE_BELOW = 25, 5

local function hcg_verdict(o)
  if o.code and HCG_POSITIVE[o.code] then return "pregnant", "positive" end
  if o.code and HCG_NEGATIVE[o.code] then return "not-pregnant", "negative" end
  if o.value then
    if not HCG_UNITS[o.unit or ""] then return nil end
    local cmp = o.comparator
    if (cmp == nil or cmp == ">" or cmp == ">=") and o.value >= HCG_POSITIVE_AT then
      return "pregnant", string.format("%s%g %s", cmp or "", o.value, o.unit)
    end
    if (cmp == nil or cmp == "<=") and o.value < HCG_NEGATIVE_BELOW or cmp == "<" and o.value <= HCG_NEGATIVE_BELOW then
      return "not-pregnant", string.format("%s%g %s", cmp or "", o.value, o.unit)
    end
    return nil
  end
  local t = (o.text or ""):lower()
  if t:find("negative") or t:find("not detected") then return "not-pregnant", "negative" end
  if t:find("positive") or t:find("detected") then return "pregnant", "positive" end
  return nil
end

local function fmt_date(o) return o.date and o.date:sub(1, 10) or "undated" end

-- The words for a result's verdict, made for the latest one only.
local function result_what(b)
  local o, code = b.o, b.code
  local what
  if b.kind == "status" then
    what = "pregnancy status " .. b.verdict:gsub("%-", " ") .. " (" .. o.code .. ")"
  elseif b.kind == "hcg" then
    what = "pregnancy test (hCG, LOINC " .. code .. ") " .. b.how
  else
    what = "expected delivery date " .. o.value_date:sub(1, 10)
  end
  return what .. " (" .. fmt_date(o) .. ")"
end

-- best, or the result o with its verdict when it is the later one (a tie: "pregnant" wins)
local function consider(best, o, verdict, kind, how, code)
  if not verdict or not o.days_ago or o.days_ago > PREGNANCY_DAYS then return best end
  if not best or o.days_ago < best.days_ago or (o.days_ago == best.days_ago and verdict == "pregnant") then
    return { verdict = verdict, days_ago = o.days_ago, o = o, kind = kind, how = how, code = code }
  end
  return best
end

-- The latest dated verdict of the pregnancy results: { verdict, days_ago, what, negative_test, matched }
local function latest_result(ctx)
  local best = nil
  for _, code in ipairs(OBS["pregnancy-status"]) do
    local o = ctx.obs(code)
    if o then
      local m = o.code and ANSWERS[o.code]
      if m == "pregnant" or m == "not-pregnant" then best = consider(best, o, m, "status", nil, code) end
    end
  end
  for _, code in ipairs(OBS.hcg) do
    local o = ctx.obs(code)
    if o then
      local verdict, how = hcg_verdict(o)
      if verdict then best = consider(best, o, verdict, "hcg", how, code) end
    end
  end
  for _, code in ipairs(OBS.edd) do
    local o = ctx.obs(code)
    if o and o.value_days and o.value_days >= -EDD_PAST_DAYS and o.value_days <= EDD_AHEAD_DAYS then
      best = consider(best, o, "pregnant", "edd", nil, code)
    end
  end
  if best then
    best.what, best.matched = result_what(best), { best.o, best.code }
    best.negative_test = best.kind == "hcg" and best.verdict == "not-pregnant"
  end
  return best
end

-- The selected orders with rows of a state: { {med, row}, ... } (one per med and row)
local function hits(ctx, state)
  local out = {}
  for _, med in ipairs(ctx.selected) do   -- the orders being placed
    for _, row in ipairs(ctx.rows_for(med, BY_STATE[state]) or NONE) do   -- each row once
      out[#out + 1] = { med = med, row = row }
    end
  end
  return out
end

local WORDS = {
  pregnancy = { critical = "contraindicated in pregnancy", warning = "avoid in pregnancy", info = "review in pregnancy" },
  lactation = { critical = "not for breastfeeding", warning = "avoid while breastfeeding", info = "review while breastfeeding" },
}

-- evidence_of: the condition or result the state was read from (an explain.matched entry)
local function drug_card(h, state, issue, evidence, evidence_of)
  return card {
    key = h.med.ref .. ":" .. h.row.id, issue = issue, indicator = h.row.severity,
    explain = { matched = { h.med, evidence_of }, rows = { kb_row("pregnancy_lactation", h.row) }, values = { state = state } },
    summary = shorten(string.format("%s: %s", h.med.name, WORDS[state][h.row.severity]), 139),
    detail = string.format("%s (%s).\n\n%s\n\nSource: %s", evidence, h.row.id, h.row.note, h.row.source),
    suggest = { remove(h.med) },
    override = { "benefit-outweighs-risk", "will-monitor", "not-applicable" },
  }
end

rule {
  id = "context.pregnancy", version = "1.0.0",
  title = "Drug to avoid in pregnancy",
  hooks = { "order-select", "order-sign" },
  references = { "FDA prescribing information (sections 4, 5, 8.1, boxed warnings), per row of tables/pregnancy_lactation.tsv",
                 "FDA Drug Safety Communication, 20 July 2021: statins no longer contraindicated in pregnancy" },

  evaluate = function(ctx)
    if ctx.patient.sex == "male" then return nil end
    local found = hits(ctx, "pregnancy")
    if #found == 0 then return nil end
    local cond = ctx.conditions.any(CONDITIONS.pregnant)
    local result = not cond and results_plausible(ctx) and latest_result(ctx) or nil
    local evidence, evidence_of
    if cond then
      evidence, evidence_of = "Pregnant: **" .. (cond.text or "pregnancy") .. "** is on the problem list", cond
    elseif result and result.verdict == "pregnant" then
      evidence, evidence_of = "Pregnant: " .. result.what, result.matched
    end
    local cards = {}
    for _, h in ipairs(found) do
      if evidence then
        cards[#cards + 1] = drug_card(h, "pregnancy", "PREG", evidence, evidence_of)
      elseif h.row.requires_negative_test then
        -- claim "no negative test on file" only from a result list seen whole, for a woman of
        -- childbearing age not known to be not pregnant by a recent negative test
        local age = ctx.patient.age
        local negative = result and result.negative_test and result.days_ago <= NEGATIVE_TEST_DAYS
        if ctx.patient.sex == "female" and age and age >= CHILDBEARING[1] and age <= CHILDBEARING[2]
           and not negative and retrieved(ctx, "observations") then
          cards[#cards + 1] = card {
            key = h.med.ref .. ":" .. h.row.id .. ":test", issue = "PREG", indicator = "warning",
            explain = { matched = { h.med, patient_ref(ctx) }, rows = { kb_row("pregnancy_lactation", h.row) },
                        values = { age_years = age, sex = "female", negative_test_within_days = NEGATIVE_TEST_DAYS,
                                   negative_test = negative and true or false } },
            summary = shorten(h.med.name .. ": no negative pregnancy test on file", 139),
            detail = string.format("The label requires a negative pregnancy test before the first dose; no negative "
              .. "pregnancy test (hCG) within %d days was found for this %d-year-old patient (%s).\n\n%s\n\nSource: %s",
              NEGATIVE_TEST_DAYS, age, h.row.id, h.row.note, h.row.source),
            suggest = {
              suggestion { label = "Order a pregnancy test (hCG, urine)",
                actions = { create(lab_order { code = "2106-3", display = "Choriogonadotropin (pregnancy test) [Presence] in Urine",
                                               patient = ctx.patient_id, reason = "Before " .. h.med.name }, "Order a pregnancy test") } },
              remove(h.med),
            },
            override = { "not-applicable", "benefit-outweighs-risk" },
          }
        end
      end
    end
    return cards
  end,
}

rule {
  id = "context.lactation", version = "1.0.0",
  title = "Drug to avoid while breastfeeding",
  hooks = { "order-select", "order-sign" },
  references = { "FDA prescribing information (section 8.2), LactMed, per row of tables/pregnancy_lactation.tsv" },

  evaluate = function(ctx)
    if ctx.patient.sex == "male" then return nil end
    local found = hits(ctx, "lactation")
    if #found == 0 then return nil end
    local evidence, evidence_of
    local cond = ctx.conditions.any(CONDITIONS.lactating)
    if cond then
      evidence, evidence_of = "Breastfeeding: **" .. (cond.text or "lactation") .. "** is on the problem list", cond
    elseif results_plausible(ctx) then
      for _, code in ipairs(OBS["pregnancy-status"]) do
        local o = ctx.obs(code)
        if o and o.code and ANSWERS[o.code] == "lactating" and o.days_ago and o.days_ago <= PREGNANCY_DAYS then
          evidence = "Breastfeeding: " .. (o.text or "currently breastfeeding") .. " (" .. fmt_date(o) .. ")"
          evidence_of = { o, code }
        end
      end
    end
    if not evidence then return nil end
    local cards = {}
    for _, h in ipairs(found) do cards[#cards + 1] = drug_card(h, "lactation", "LACT", evidence, evidence_of) end
    return cards
  end,
}
