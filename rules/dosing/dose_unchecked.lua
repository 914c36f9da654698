-- rules/dosing/dose_unchecked.lua — owner: pharmacy informatics
-- An order whose dose could not be read (free-text sig, a unit not understood, a zero, negative
-- or absurd dose, frequency 0 ...): one info card per order saying the dose was not checked and
-- why, so that no dose check is silently skipped; the other checks still run. An order that
-- states no dose at all (the form is not filled in yet, or a timing only) says nothing; one whose
-- frequency is unknown says so only for a drug with a daily limit.

rule {
  id = "dose.unchecked", version = "1.0.0",
  title = "Dose not checked",
  hooks = { "order-select", "order-sign" },
  references = { "cdsd: an order's dose that could not be read is reported, not skipped" },

  evaluate = function(ctx)
    local cards = {}
    for _, med in ipairs(ctx.selected) do
      local d = med.dose
      local why = d and d.not_computed
      -- nothing to check yet: no dosage at all, or a dosage that states no dose and no sig text
      -- (a timing or "as needed" only) — an order that does not say how much is not a dose error
      if why == "the order has no dosage instructions" or why == "the dosage gives no dose" then why = nil end
      if d and not why and d.daily_not_computed then
        local daily_limited = false
        for _, g in ipairs(med.ingredients) do
          for _, row in ipairs((ctx.dose_limits(g.code, nil, { all = true }))) do
            daily_limited = daily_limited or row.max_daily ~= nil or row.max_daily_per_kg ~= nil
          end
        end
        -- the single dose was checked; the daily one could not be (no frequency): say so only
        -- where a daily limit exists
        if daily_limited then why = "daily dose: " .. d.daily_not_computed end
      end
      if d and not why and not ctx.patient.age_days and ctx.patient.age_unknown then   -- age_days first: no fill
        -- limits set by age cannot be placed without the age (no birth date, or one in the future)
        for _, g in ipairs(med.ingredients) do
          local _, skipped = ctx.dose_limits(g.code, d.route)
          if skipped and not why then why = "the patient's age is not known: " .. ctx.patient.age_unknown end
        end
      end
      if why then
        cards[#cards + 1] = card {
          key = med.ref, issue = "DOSE", indicator = "info",
          explain = { matched = { med }, values = { not_checked = why } },
          summary = shorten("Dose not checked: " .. med.text .. " (" .. why .. ")", 139),
          detail = "The dose of **" .. med.text .. "** could not be read from the order, so it was not checked against "
            .. "its limits: " .. why .. ". Check the dose by hand"
            .. (d.text and (" (the sig reads: \"" .. d.text .. "\")") or "") .. ".",
        }
      end
    end
    return cards
  end,
}
