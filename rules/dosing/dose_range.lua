-- rules/dosing/dose_range.lua — owner: pharmacy informatics
-- Single and daily doses of the orders being placed against knowledge/dose_limits.tsv (the
-- absolute limits; per-kg limits are dose.weight's). The daily amount is summed over every
-- active and draft order of the ingredient in the same route group, across products (a
-- single-ingredient product plus a combination containing it). Above the maximum: warning; ten
-- times the maximum or more (a decimal point or unit slip): critical; below a stated minimum:
-- info. A drug dosed once a week (oral methotrexate) ordered more often: critical.

local GROSS = 10

local function indicator(ratio) return ratio >= GROSS and "critical" or "warning" end

local function times(ratio)
  return ratio >= GROSS and string.format(" (%.0f times the maximum)", ratio) or ""
end

rule {
  id = "dose.range", version = "1.0.0",
  title = "Dose outside the labelled range",
  hooks = { "order-select", "order-sign" },
  references = { "FDA prescribing information (DailyMed), per row of dose_limits.tsv" },

  evaluate = function(ctx)
    local cards, summed = {}, {}
    for _, med in ipairs(ctx.selected) do
      local d = med.dose
      if d and not d.not_computed then
        for _, g in ipairs(med.ingredients) do
          local per_dose, unit = d.mg[g.code], d.units[g.code]
          for _, row in ipairs(for_indication(ctx, (ctx.dose_limits(g.code, d.route)))) do
            local function add(kind, issue, ind, summary, detail, values, summed_refs)
              local matched = { { med, g.code } }
              for _, r in ipairs(summed_refs or {}) do if r ~= med.ref then matched[#matched + 1] = r end end
              cards[#cards + 1] = card {
                explain = { matched = matched, rows = { kb_row("dose_limits", row) }, values = values },
                key = med.ref .. ":" .. g.code .. ":" .. row.id .. ":" .. kind, issue = issue, indicator = ind,
                summary = shorten(summary, 139),
                detail = detail .. (row.note and ("\n\n" .. row.note) or "") .. "\n\nSource: " .. row.source,
                suggest = { remove(med) },
                override = { "benefit-outweighs-risk", "dose-adjusted", "not-applicable" },
              }
            end
            local max1 = row.max_single and ctx.convert(row.max_single, row.unit, unit)
            if per_dose and max1 and per_dose > max1 then
              local r = per_dose / max1
              add("single", "DOSEH", indicator(r),
                  string.format("%s %s per dose exceeds the %s maximum single dose%s", g.name,
                                amount_text(per_dose, unit), amount_text(max1, unit), times(r)),
                  "**This order:** " .. dose_text(d, g.code) .. ".",
                  { dose = per_dose, unit = unit, max_single = max1 })
            end
            if row.schedule == "weekly" and d.schedule ~= "weekly" and d.doses_per_day and d.doses_per_day > 0.2 then
              add("schedule", "DOSEIVL", "critical",
                  string.format("%s ordered %s: it is given once a week", g.name, frequency_text(d)),
                  "**This order:** " .. dose_text(d, g.code) .. ". Taken daily instead of weekly, this drug has "
                    .. "caused fatal overdoses: check the indication and the schedule.",
                  { doses_per_day = d.doses_per_day, schedule = d.schedule or "daily" })
            end
            local key = g.code .. ":" .. (d.route or "") .. ":" .. row.id
            if not summed[key] and (row.max_daily or row.min_daily) then
              summed[key] = true
              local total, tunit, refs, uncounted = ctx.daily_total(g.code, d.route)
              local maxd = total and row.max_daily and ctx.convert(row.max_daily, row.unit, tunit)
              local mind = total and row.min_daily and ctx.convert(row.min_daily, row.unit, tunit)
              local how = total and daily_detail(ctx, g, total, tunit, refs, uncounted) or ""
              if maxd and total > maxd then
                local r = total / maxd
                add("daily", "DOSEH", indicator(r),
                    string.format("%s %s/day exceeds the %s/day maximum%s", g.name, amount_text(total, tunit),
                                  amount_text(maxd, tunit), times(r)), how, daily_values({ max_daily = maxd }, total, tunit, refs))
              elseif mind and total < mind and #uncounted == 0 then
                add("low", "DOSEL", "info",
                    string.format("%s %s/day is below the usual minimum of %s/day", g.name, amount_text(total, tunit),
                                  amount_text(mind, tunit)), how, daily_values({ min_daily = mind }, total, tunit, refs))
              end
            end
          end
        end
      end
    end
    return cards
  end,
}
