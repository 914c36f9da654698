-- rules/dosing/dose_weight.lua — owner: pharmacy informatics
-- Doses per kilogram of body weight against the per-kg limits of knowledge/dose_limits.tsv
-- (children, and adults for weight-based drugs), each capped by the row's absolute maximum.
-- Without a weight on file the dose cannot be checked: the card says so (info) instead of
-- passing the order in silence.

local GROSS = 10

rule {
  id = "dose.weight", version = "1.0.0",
  title = "Dose per kilogram of body weight",
  hooks = { "order-select", "order-sign" },
  references = { "FDA prescribing information (DailyMed), per row of dose_limits.tsv" },

  evaluate = function(ctx)
    local cards, summed = {}, {}
    local kg, kg_read = nil, false   -- read once, and only when a per-kg limit applies (it builds the patient facts)
    local function weight()
      if not kg_read then kg, kg_read = ctx.patient.weight_kg, true end
      return kg
    end
    for _, med in ipairs(ctx.selected) do
      local d = med.dose
      if d and not d.not_computed then
        for _, g in ipairs(med.ingredients) do
          local per_dose, unit = d.mg[g.code], d.units[g.code]
          local rows, skipped = ctx.dose_limits(g.code, d.route)
          rows = for_indication(ctx, rows)
          if skipped and skipped:find("weight") and not weight() then
            -- a row's weight band could not be placed: the same "could not check" as a per-kg limit
            rows = { { id = "weight-band", max_single_per_kg = 0, source = "dose_limits.tsv (" .. skipped .. ")" } }
          end
          for _, row in ipairs(rows) do
            if row.max_single_per_kg or row.max_daily_per_kg then
              weight()
              local function add(kind, ind, summary, detail, values, summed_refs)
                local matched = { { med, g.code } }
                for _, r in ipairs(summed_refs or {}) do if r ~= med.ref then matched[#matched + 1] = r end end
                cards[#cards + 1] = card {
                  explain = { matched = matched, rows = { kb_row("dose_limits", row) }, values = values },
                  key = med.ref .. ":" .. g.code .. ":" .. row.id .. ":" .. kind, issue = "DOSEHINDW", indicator = ind,
                  summary = shorten(summary, 139),
                  detail = detail .. (row.note and ("\n\n" .. row.note) or "") .. "\n\nSource: " .. row.source,
                  suggest = kind ~= "no-weight" and { remove(med) } or nil,
                  override = { "benefit-outweighs-risk", "dose-adjusted", "not-applicable" },
                }
              end
              if not kg then
                if not summed[med.ref .. g.code] then
                  summed[med.ref .. g.code] = true
                  add("no-weight", "info", "Could not check the " .. g.name .. " dose per kg: no body weight on file",
                      "The labelled limit for " .. g.name .. " depends on body weight, and the request holds no usable "
                        .. "weight (" .. (ctx.patient.weight_unknown or skipped or "none sent") .. "). Weigh the patient, "
                        .. "or check the dose by hand.",
                      { weight_unknown = ctx.patient.weight_unknown or skipped or "none sent" })
                end
              else
                local weighed = string.format("weight %s kg on %s", amount_text(kg, ""):gsub("%s+$", ""),
                                             (ctx.patient.weight_date or "?"):sub(1, 10))
                local cap1 = row.max_single_per_kg and ctx.convert(row.max_single_per_kg * kg, row.unit, unit)
                local abs1 = row.max_single and ctx.convert(row.max_single, row.unit, unit)
                if cap1 and abs1 and abs1 < cap1 then cap1 = abs1 end
                if per_dose and cap1 and per_dose > cap1 then
                  local r = per_dose / cap1
                  add("single", r >= GROSS and "critical" or "warning",
                      string.format("%s %s per dose exceeds %s for this patient's weight", g.name,
                                    amount_text(per_dose, unit), amount_text(cap1, unit)),
                      string.format("**This order:** %s.\n\n**Limit:** %s %s/kg per dose x %s%s = %s.", dose_text(d, g.code),
                                    amount_text(row.max_single_per_kg, ""):gsub("%s+$", ""), row.unit, weighed,
                                    abs1 and (", at most " .. amount_text(abs1, unit)) or "", amount_text(cap1, unit)),
                      { dose = per_dose, unit = unit, weight_kg = kg, max_single_per_kg = row.max_single_per_kg,
                        max_single = abs1, limit = cap1 })
                end
                local key = g.code .. ":" .. (d.route or "") .. ":" .. row.id
                if row.max_daily_per_kg and not summed[key] then
                  summed[key] = true
                  local total, tunit, refs, uncounted = ctx.daily_total(g.code, d.route)
                  local capd = total and ctx.convert(row.max_daily_per_kg * kg, row.unit, tunit)
                  local absd = total and row.max_daily and ctx.convert(row.max_daily, row.unit, tunit)
                  if capd and absd and absd < capd then capd = absd end
                  if capd and total > capd then
                    local r = total / capd
                    add("daily", r >= GROSS and "critical" or "warning",
                        string.format("%s %s/day exceeds %s/day for this patient's weight", g.name,
                                      amount_text(total, tunit), amount_text(capd, tunit)),
                        daily_detail(ctx, g, total, tunit, refs, uncounted)
                          .. string.format("\n\n**Limit:** %s %s/kg a day x %s%s = %s a day.",
                                           amount_text(row.max_daily_per_kg, ""):gsub("%s+$", ""), row.unit, weighed,
                                           absd and (", at most " .. amount_text(absd, tunit)) or "",
                                           amount_text(capd, tunit)),
                        daily_values({ weight_kg = kg, max_daily_per_kg = row.max_daily_per_kg, max_daily = absd,
                                       limit = capd }, total, tunit, refs))
                  end
                end
              end
            end
          end
        end
      end
    end
    return cards
  end,
}
