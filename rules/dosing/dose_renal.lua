-- rules/dosing/dose_renal.lua — owner: pharmacy informatics
-- Renally cleared drugs for the patient's kidney function (knowledge/renal_dosing.tsv): eGFR or
-- creatinine clearance (Cockcroft-Gault from the latest creatinine, age, sex and weight) in the
-- row's band, or dialysis. avoid: critical; a daily amount above the band's maximum or a dosing
-- interval shorter than the band's: warning; caution: info. Kidney function unknown: silent (a
-- missing value is not a finding; the card would be noise on every order).

local ACTION_INDICATOR = { avoid = "critical", max_daily = "warning", interval = "warning", caution = "info" }

local function measure_text(row)
  if row.measure == "dialysis" then return "on dialysis" .. (row.value_condition and (" (" .. row.value_condition .. ")") or "") end
  local name = row.measure == "egfr" and "eGFR" or "creatinine clearance"
  local unit = row.measure == "egfr" and "mL/min/1.73m2" or "mL/min"
  return string.format("%s %s%s %s%s", name, row.value_comparator or "", amount_text(row.value, ""), unit,
                       row.value_date and (" on " .. row.value_date:sub(1, 10)) or "")
end

rule {
  id = "dose.renal", version = "1.0.0",
  title = "Dose for kidney function",
  hooks = { "order-select", "order-sign" },
  references = { "FDA prescribing information (DailyMed), per row of renal_dosing.tsv" },

  evaluate = function(ctx)
    local cards = {}
    for _, med in ipairs(ctx.selected) do
      local d = med.dose
      if d then
        for _, g in ipairs(med.ingredients) do
          local rows, skipped, unusable = ctx.renal_dosing(g.code, d.route)
          -- a kidney value that is there but unusable (implausible, not a number, a unit not
          -- understood) is said once; no value at all stays silent
          if #rows == 0 and unusable then
            cards[#cards + 1] = card {
              key = med.ref .. ":" .. g.code .. ":unusable", issue = "DOSECOND", indicator = "info",
              explain = { matched = { { med, g.code } }, values = { kidney_unusable = skipped } },
              summary = shorten("Could not check the " .. g.name .. " dose for kidney function", 139),
              detail = "The kidney function on file could not be used (" .. skipped .. "). Check the dose against a "
                .. "current creatinine or eGFR.",
            }
          end
          for _, row in ipairs(rows) do
            local finding, detail
            local kidney = measure_text(row)
            local values, summed = { value = row.value }, {}
            if row.action == "avoid" then
              finding = string.format("%s: avoid with %s", g.name, kidney)
            elseif row.action == "caution" then
              finding = string.format("%s: adjust for %s", g.name, kidney)
            elseif row.action == "max_daily" and not d.not_computed then
              local total, tunit, refs, uncounted = ctx.daily_total(g.code, d.route)
              local maxd = total and row.max_daily and ctx.convert(row.max_daily, row.unit, tunit)
              if maxd and total > maxd then
                finding = string.format("%s %s/day exceeds %s/day for %s", g.name, amount_text(total, tunit),
                                        amount_text(maxd, tunit), kidney)
                detail = daily_detail(ctx, g, total, tunit, refs, uncounted)
                values.max_daily = maxd
                values, summed = daily_values(values, total, tunit, refs)
              end
            elseif row.action == "interval" and not d.not_computed and d.interval_h and row.interval_h
                   and d.interval_h < row.interval_h then
              finding = string.format("%s every %s h: at %s give it no more often than every %s h", g.name,
                                      amount_text(d.interval_h, ""), kidney, amount_text(row.interval_h, ""))
              detail = "**This order:** " .. dose_text(d, g.code) .. "."
              values.interval_h = d.interval_h
            end
            if finding then
              kidney_values(ctx, row.measure, values)
              local matched = { { med, g.code } }
              for _, r in ipairs(summed) do if r ~= med.ref then matched[#matched + 1] = r end end
              cards[#cards + 1] = card {
                explain = { matched = matched, rows = { kb_row("renal_dosing", row) }, values = values },
                key = med.ref .. ":" .. g.code .. ":" .. row.id, issue = "DOSECOND",
                indicator = ACTION_INDICATOR[row.action] or "warning",
                summary = shorten(finding, 139),
                detail = (detail and (detail .. "\n\n") or "") .. "**Kidney function:** " .. kidney
                  .. (ctx.patient.crcl and row.measure == "crcl"
                      and string.format(" (Cockcroft-Gault with the %s weight)", ctx.patient.crcl_weight or "actual") or "")
                  .. ".\n\n" .. (row.note or "") .. "\n\nSource: " .. row.source,
                suggest = { remove(med) },
                override = { "dose-adjusted", "benefit-outweighs-risk", "not-applicable" },
              }
            end
          end
        end
      end
    end
    return cards
  end,
}
