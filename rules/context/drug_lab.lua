-- rules/context/drug_lab.lua — owner: pharmacy informatics
-- A drug ordered against a dangerous lab value (issue 16, check 5): tables/drug_lab.tsv, one row
-- per drug (or class) x lab x threshold. For each selected order, the latest dated result of any
-- of the row's LOINC codes no older than max_age_days is compared with `op threshold` in the
-- row's unit. Several rows of one drug and lab (platelets under 100 and under 50 with heparin):
-- the most severe matching row gives the one card.
--
-- Units (UCUM as sent in valueQuantity.unit, or its code): a result in the row's unit, or in one
-- known to be equal or convertible, is compared; any other unit (or none, except for the INR)
-- gives an info card "could not check: unit X" rather than a silent pass. Equal: ng/mL = ug/L,
-- ug/mL = mg/L, 10*3/uL = 10*9/L, mmol/L = mEq/L for the monovalent ions (potassium, sodium,
-- lithium). Converted: glucose mmol/L x 18.016 = mg/dL (molar mass 180.16 g/mol); magnesium
-- mmol/L x 2.431 = mg/dL (24.305 g/mol) and mEq/L x 1.215 (divalent); haemoglobin g/L / 10 =
-- g/dL; cell counts /uL / 1000 = 10*3/uL.
-- Comparators (valueQuantity.comparator): ">5.5" is some value above 5.5. The row matches when
-- every value the result allows matches, and is silent when none does; otherwise ("<3" against
-- "below 2") the info card says the result could not be judged.
-- Results with no date (neither effective[x] nor issued) are never used. Without the results
-- list (not sent, failed, in part) the check is silent: the did-not-run and could-not-screen
-- cards speak for it.

-- row unit -> { [result unit] = factor } (value in row unit = result value x factor); `ions`:
-- equal only for these LOINC codes (monovalent ions); `only`: conversions that hold for these codes
local MONOVALENT = { ["2823-3"] = true, ["6298-4"] = true, ["2951-2"] = true, ["2947-0"] = true, ["14334-7"] = true }
local GLUCOSE = { ["2345-7"] = true, ["2339-0"] = true, ["41653-7"] = true }
local MAGNESIUM = { ["19123-9"] = true }
local HAEMOGLOBIN = { ["718-7"] = true }
local UNITS = {
  ["mmol/L"] = { { "mmol/L", 1 }, { "mmol/l", 1 }, { "mEq/L", 1, MONOVALENT }, { "meq/L", 1, MONOVALENT },
                 { "m[eq]/L", 1, MONOVALENT }, { "mEq/l", 1, MONOVALENT } },
  ["mg/dL"]  = { { "mg/dL", 1 }, { "mg/dl", 1 }, { "mmol/L", 18.016, GLUCOSE }, { "mmol/l", 18.016, GLUCOSE },
                 { "mmol/L", 2.431, MAGNESIUM }, { "mEq/L", 1.215, MAGNESIUM }, { "meq/L", 1.215, MAGNESIUM } },
  ["ug/mL"]  = { { "ug/mL", 1 }, { "mcg/mL", 1 }, { "mg/L", 1 }, { "ug/ml", 1 } },
  ["ng/mL"]  = { { "ng/mL", 1 }, { "ng/ml", 1 }, { "ug/L", 1 }, { "mcg/L", 1 } },
  ["10*3/uL"] = { { "10*3/uL", 1 }, { "10^3/uL", 1 }, { "10*9/L", 1 }, { "10^9/L", 1 }, { "K/uL", 1 }, { "/nL", 1 },
                  { "/uL", 0.001 }, { "{cells}/uL", 0.001 }, { "cells/uL", 0.001 } },
  ["g/dL"]   = { { "g/dL", 1 }, { "g/dl", 1 }, { "g/L", 0.1, HAEMOGLOBIN } },
  ["ms"]     = { { "ms", 1 }, { "msec", 1 } },
  ["{INR}"]  = { { "{INR}", 1 }, { "INR", 1 }, { "{ratio}", 1 }, { "", 1 } },
}

local function factor(row_unit, result_unit, loinc)
  for _, u in ipairs(UNITS[row_unit]) do
    if u[1] == (result_unit or "") and (not u[3] or u[3][loinc]) then return u[2] end
  end
  return nil
end

local ROWS = knowledge_table("drug_lab", {
  id = "id", drug = "drug", drug_label = "text", loinc = "loincs", lab_label = "text",
  op = { ">", ">=", "<", "<=" }, threshold = "number", unit = "text", max_age_days = "integer",
  severity = { "critical", "warning", "info" }, note = "text", source = "text",
  required = { "id", "drug", "loinc", "lab_label", "op", "threshold", "unit", "max_age_days", "severity", "note", "source" },
  check = function(row)
    if not UNITS[row.unit] then
      local known = {}
      for u in pairs(UNITS) do known[#known + 1] = u end
      table.sort(known)
      return "column 'unit': '" .. row.unit .. "' is not a unit this check can compare (units: " .. table.concat(known, ", ") .. ")"
    end
    if row.max_age_days < 1 then return "column 'max_age_days': must be at least 1" end
  end,
})
for _, row in ipairs(ROWS) do row.lab_key = table.concat(row.loinc, ";") end   -- one lab = one LOINC list

-- At load: per ingredient, its labs (a LOINC list) with their rows, most severe first (file order
-- among equals) and the longest max_age_days, so that a request looks each lab up once.
local SEVERITY_RANK = { info = 1, warning = 2, critical = 3 }
local NONE = {}
local LABS = {}
for code, rows in pairs(index_by_ingredient(ROWS, "drug")) do
  local labs, by_key = {}, {}
  for _, row in ipairs(rows) do
    local lab = by_key[row.lab_key]
    if not lab then
      lab = { key = row.lab_key, loinc = row.loinc, rows = {}, max_days = 0 }
      by_key[row.lab_key] = lab; labs[#labs + 1] = lab
    end
    lab.rows[#lab.rows + 1] = row
    if row.max_age_days > lab.max_days then lab.max_days = row.max_age_days end
  end
  for _, lab in ipairs(labs) do
    local pos = {}
    for i, r in ipairs(lab.rows) do pos[r] = i end
    table.sort(lab.rows, function(a, b)
      if a.severity ~= b.severity then return SEVERITY_RANK[a.severity] > SEVERITY_RANK[b.severity] end
      return pos[a] < pos[b]
    end)
  end
  LABS[code] = labs
end

-- Does a result (comparator, value) satisfy `op threshold`? true (for every value it allows),
-- false (for none), nil (cannot tell).
local INF = math.huge
local function judge(cmp, v, op, t)
  local lo, lo_open, hi, hi_open = v, false, v, false
  if cmp == ">" then hi, lo_open = INF, true
  elseif cmp == ">=" then hi = INF
  elseif cmp == "<" then lo, hi_open = -INF, true
  elseif cmp == "<=" then lo = -INF end
  local inside, outside
  if op == ">" then inside, outside = lo > t or (lo == t and lo_open), hi <= t
  elseif op == ">=" then inside, outside = lo >= t, hi < t or (hi == t and hi_open)
  elseif op == "<" then inside, outside = hi < t or (hi == t and hi_open), lo >= t
  else inside, outside = hi <= t, lo > t or (lo == t and lo_open) end
  if inside then return true elseif outside then return false end
  return nil
end

local WORDS = { [">"] = "above", [">="] = "at or above", ["<"] = "below", ["<="] = "at or below" }

-- the latest dated result of any of the codes, no older than days
local function latest(ctx, codes, days)
  local best, best_code = nil, nil
  for _, code in ipairs(codes) do
    local o = ctx.obs(code)
    if o and o.days_ago and o.days_ago <= days and (not best or o.days_ago < best.days_ago) then best, best_code = o, code end
  end
  return best, best_code
end

local function fmt(n) return string.format("%g", n) end
local function shown_unit(u) return u == "{INR}" and "" or " " .. u end

local function lab_card(med, gkey, best, o, code)
  local row = best.row
  -- a converted value is rounded to one decimal (57.6512 -> 57.7 mg/dL) and shown as sent too
  local v = best.f == 1 and best.value or math.floor(best.value * 10 + 0.5) / 10
  local value = (o.comparator or "") .. fmt(v) .. shown_unit(row.unit)
  local as_sent = best.f ~= 1 and " (reported as " .. best.shown .. ")" or ""
  return card {
    key = gkey, issue = "LAB", indicator = row.severity,
    explain = { matched = { med, { o, code } }, rows = { kb_row("drug_lab", row) },
                values = { value = best.value, unit = row.unit, threshold = row.threshold, op = row.op, days_ago = math.floor(o.days_ago) } },
    summary = shorten(string.format("%s with %s %s (%s %s)", med.name, row.lab_label, value,
                                    (WORDS[row.op]:gsub("^at or ", "")), fmt(row.threshold)), 139),
    detail = string.format("**%s %s**%s on %s (%d days ago; LOINC %s) is %s the threshold of %s%s for %s (%s).\n\n%s\n\nSource: %s",
                           row.lab_label, value, as_sent, o.date:sub(1, 10), math.floor(o.days_ago), code,
                           WORDS[row.op], fmt(row.threshold), shown_unit(row.unit), row.drug_label or med.name, row.id, row.note, row.source),
    suggest = { remove(med) },
    override = { "benefit-outweighs-risk", "will-monitor", "dose-adjusted", "not-applicable" },
  }
end

local function unchecked_card(med, gkey, unsure, o, code)
  local row = unsure.row
  return card {
    key = gkey .. ":unchecked", issue = "LAB", indicator = "info",
    explain = { matched = { med, { o, code } }, rows = { kb_row("drug_lab", row) }, values = { not_compared = unsure.why } },
    summary = shorten(string.format("%s: %s could not be checked (%s)", med.name, row.lab_label, unsure.why), 139),
    detail = string.format("The latest %s (%s, %s) could not be compared with the threshold %s %s %s for %s (%s): "
                             .. "%s. Check it before signing.\n\n%s\n\nSource: %s",
                           row.lab_label, string.format("%s%s %s", o.comparator or "", o.value and fmt(o.value) or (o.text or "no value"), o.unit or ""),
                           o.date:sub(1, 10), row.op, fmt(row.threshold), row.unit, row.drug_label or med.name, row.id,
                           unsure.why, row.note, row.source),
    override = { "will-monitor", "not-applicable" },
  }
end

rule {
  id = "context.drug-lab", version = "1.0.0",
  title = "Drug ordered against a lab value",
  hooks = { "order-select", "order-sign" },
  references = { "FDA prescribing information and guidelines, per row of tables/drug_lab.tsv" },

  evaluate = function(ctx)
    if not retrieved(ctx, "observations") then return nil end
    local cards = {}
    for _, med in ipairs(ctx.selected) do   -- the orders being placed
      local done = nil                      -- labs already judged for this order
      do   -- (the labs of every ingredient, each once)
        for _, lab in ipairs(ctx.rows_for(med, LABS) or NONE) do
          if not (done and done[lab.key]) then
            done = done or {}
            done[lab.key] = true
            local o, code = latest(ctx, lab.loinc, lab.max_days)
            if o then
              local gkey = med.ref .. ":" .. lab.key
              local best, unsure = nil, nil
              -- rows most severe first: the first that certainly matches gives the card
              for _, row in ipairs(lab.rows) do
                if o.days_ago <= row.max_age_days then
                  local f = o.value and factor(row.unit, o.unit, code)
                  if not f then
                    unsure = unsure or { row = row, why = o.value and ("unit '" .. (o.unit or "none") .. "'") or "no numeric value" }
                  else
                    local verdict = judge(o.comparator, o.value * f, row.op, row.threshold)
                    if verdict == nil then
                      unsure = unsure or { row = row, why = string.format("result %s%s %s", o.comparator or "", fmt(o.value), o.unit or "") }
                    elseif verdict then
                      best = { row = row, value = o.value * f, f = f,
                               shown = string.format("%s%s %s", o.comparator or "", fmt(o.value), o.unit or "") }
                      break
                    end
                  end
                end
              end
              cards[#cards + 1] = best and lab_card(med, gkey, best, o, code) or unsure and unchecked_card(med, gkey, unsure, o, code) or nil
            end
          end
        end
      end
    end
    return cards
  end,
}
