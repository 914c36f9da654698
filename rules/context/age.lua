-- rules/context/age.lua — owner: pharmacy informatics
-- A drug ordered for a patient whose age falls in a band of tables/age_cautions.tsv: geriatric
-- potentially inappropriate medications (AGS Beers Criteria 2023, STOPP/START v3) and
-- paediatric minimum ages and neonatal cautions (FDA labels and safety communications).
-- A row applies when age_min_days <= age < age_max_days (a blank bound is open), the order's route
-- is one of the row's (blank: every route; see route_in in the prelude) and the patient has none
-- of the row's except_conditions (the uses the criteria accept). One card per order: the most
-- severe matching row, the others named in its detail. Unknown age: silent.
--
-- Age: ctx.patient.age_days (the dose facts) when the birth date is complete; with a partial birth
-- date (or without age_days) the whole years, which decide a bound set at a whole number of years
-- (23725 = 65 x 365, 2922 = 8 years) exactly, and a bound inside a year (29 days, 60 days,
-- 182 days) only when every day of that year of age is on one side of it; a band the years cannot
-- decide stays silent.

local INDICATOR = { critical = "critical", warning = "warning", info = "info" }
local RANK = { critical = 3, warning = 2, info = 1 }

local ROWS = knowledge_table("age_cautions", {
  id = "id", drug = "drug", drug_label = "text", route = "routes", age_min_days = "integer",
  age_max_days = "integer", severity = { "critical", "warning", "info" }, except_conditions = "codes",
  note = "text", source = "text",
  required = { "id", "drug", "drug_label", "severity", "note", "source" },
  check = function(row)
    local lo, hi = row.age_min_days, row.age_max_days
    if lo == nil and hi == nil then return "age_min_days and age_max_days are both empty (a row needs an age band)" end
    if lo and hi and lo >= hi then return "age_min_days " .. lo .. " is not below age_max_days " .. hi end
  end,
})
local BY_INGREDIENT = index_by_ingredient(ROWS, "drug")
local NONE = {}

-- A bound in whole years: 365 x k days up to 365.25 x k + 1 (the table writes 65 years as 23725,
-- 8 years as 2922); nil for a bound inside a year.
local function whole_years(days)
  local k = math.floor(days / 365.25 + 0.5)
  if k >= 1 and days >= 365 * k and days <= 365.25 * k + 1 then return k end
  return nil
end

-- The days a patient of y whole years can be: the y-th birthday is 365y + floor(y/4) to
-- 365y + ceil(y/4) days after birth.
local function days_range(y)
  return 365 * y + y // 4, 365 * (y + 1) + (y + 4) // 4 - 1
end

local function in_band(row, days, years)
  local lo, hi = row.age_min_days, row.age_max_days
  if days then return (lo == nil or days >= lo) and (hi == nil or days < hi) end
  local first, last = days_range(years)
  if lo then
    local k = whole_years(lo)
    if k then if years < k then return false end elseif first < lo then return false end
  end
  if hi then
    local k = whole_years(hi)
    if k then if years >= k then return false end elseif last >= hi then return false end
  end
  return true
end

local function age_text(days, months, years)
  if days and days < 61 then return days .. (days == 1 and " day" or " days") end
  if months and months < 24 then return months .. (months == 1 and " month" or " months") end
  return years .. (years == 1 and " year" or " years")
end

local function bound_text(d)
  local k = whole_years(d)
  if k then return k .. (k == 1 and " year" or " years") end
  return d .. " days"
end

local function band_text(row)
  local lo, hi = row.age_min_days, row.age_max_days
  if lo and hi then return "between " .. bound_text(lo) .. " and " .. bound_text(hi) end
  if hi then return "under " .. bound_text(hi) end
  return bound_text(lo) .. " and older"
end

rule {
  id = "context.age", version = "1.0.0",
  title = "Drug inappropriate for the patient's age",
  hooks = { "order-select", "order-sign" },
  references = { "AGS Beers Criteria 2023; STOPP/START v3; FDA labels, per row of tables/age_cautions.tsv" },

  evaluate = function(ctx)
    -- age in days when the birth date is complete; with a partial one ("1950", "1950-03") only
    -- the whole years (or months) are sure
    local p = ctx.patient
    local precise = p.age_precision == nil or p.age_precision == "day"
    local days = precise and p.age_days or nil
    local months = p.age_precision ~= "year" and p.age_months or nil
    local years = p.age_years or p.age
    if days == nil and years == nil then return nil end   -- unknown age: silent
    local conditions_known = retrieved(ctx, "conditions")
    local cards = {}
    for _, med in ipairs(ctx.selected) do
      local matched = {}
      for _, row in ipairs(ctx.rows_for(med, BY_INGREDIENT) or NONE) do   -- each row once
        if in_band(row, days, years) and route_in(row.route, med) then
          local exception = row.except_conditions and conditions_known and ctx.conditions.any(row.except_conditions)
          if not exception then matched[#matched + 1] = row end
        end
      end
      local best
      for _, row in ipairs(matched) do
        if not best or RANK[row.severity] > RANK[best.severity] then best = row end
      end
      -- "use with caution" rows (info) are told with a stronger card for the order, never alone:
      -- a caution on every warfarin or SSRI order of every older patient is the nuisance alert a
      -- CPOE test counts against the service
      if best and best.severity == "info" then best = nil end
      if best then
        local also = {}
        for _, row in ipairs(matched) do
          if row ~= best then also[#also + 1] = string.format("%s (%s, %s): %s", row.id, row.drug_label, band_text(row), row.note) end
        end
        local unchecked = ""
        if best.except_conditions and not conditions_known then
          unchecked = "\n\nThe problem list was not available, so the exceptions could not be checked: this row does not " ..
                      "apply when the patient has one of the conditions the criteria accept (" .. best.id .. ")."
        end
        local geriatric = best.age_min_days and not best.age_max_days
        local label = best.drug_label:lower():find(med.name:lower(), 1, true) and "" or best.drug_label .. ": "
        cards[#cards + 1] = card {
          key = med.ref .. ":" .. best.id, issue = "AGE", indicator = INDICATOR[best.severity],
          explain = { matched = { med, patient_ref(ctx) }, rows = { kb_row("age_cautions", best) },
                      values = { age_days = days, age_years = years } },
          summary = shorten(string.format("%s at %s: %s", med.name, age_text(days, months, years),
                                          geriatric and (best.severity == "info" and "use with caution in older adults"
                                                         or "potentially inappropriate in older adults")
                                            or label .. (best.severity == "critical" and "contraindicated " or "caution ") .. band_text(best)), 139),
          detail = string.format("**%s**, %s (%s); the patient is %s.\n\n%s%s%s\n\nSource: %s",
                                 best.drug_label, band_text(best), best.id, age_text(days, months, years), best.note, unchecked,
                                 #also > 0 and "\n\nAlso: " .. table.concat(also, "\n\n") or "", best.source),
          suggest = { remove(med) },
          override = { "benefit-outweighs-risk", "will-monitor", "not-applicable" },
        }
      end
    end
    return cards
  end,
}
