-- rules/screening/unscreened.lua — owner: pharmacy informatics
-- Medications and allergy records that could not be matched to the drug knowledge base were
-- not screened, and patient data the EHR (or cdsd, fetching it) could not retrieve arrives as an
-- OperationOutcome instead of the list. Say so once per request instead of staying silent.

-- The lists order checks read besides the required ones, and what did not run without them.
local NOT_SENT = {
  { "conditions", "the problem list (drug-disease checks)" },
  { "observations", "the lab results (drug-lab and kidney-dose checks)" },
  { "patient", "the patient's age and sex (age, pregnancy and dose-by-age checks)" },
}

rule {
  id = "screen.unresolved", version = "1.3.0",
  title = "Could not screen some medications or allergies",
  hooks = { "order-select", "order-sign", "patient-view" },

  evaluate = function(ctx)
    local names, matched = {}, {}
    for _, m in ipairs(ctx.unresolved) do
      -- a draft with no medication chosen yet (order-select while the form fills in: no code, no
      -- text) is not a medication that escaped screening: nothing to say about it
      local empty = m.draft and #m.codes == 0 and m.text == "unnamed medication"
      if (not ctx.order_hook or m.draft or m.active) and not empty then
        -- a combination product of which only some ingredients are known: say what was screened
        local known = {}
        for _, g in ipairs(m.ingredients) do known[#known + 1] = g.name end
        names[#names + 1] = #known > 0 and (m.text .. " (only " .. table.concat(known, ", ") .. " screened)") or m.text
        if #matched < 8 then matched[#matched + 1] = m end
      end
    end
    local allergies = {}
    for _, a in ipairs(ctx.unresolved_allergies) do
      if a.category == "medication" then
        allergies[#allergies + 1] = a.text
        if #matched < 12 then matched[#matched + 1] = a end
      end
    end
    local failed = ctx.prefetch_errors
    -- lists the order checks read that the request left out (not sent, nothing fetched): those
    -- checks did not run, and silence must not read as "no problems" (the required lists have
    -- their own did-not-run cards)
    local unsent, unsent_keys = {}, {}
    if ctx.order_hook and #ctx.selected > 0 then
      for _, k in ipairs(NOT_SENT) do
        if ctx.prefetch[k[1]] == "absent" then unsent[#unsent + 1] = k[2]; unsent_keys[#unsent_keys + 1] = k[1] end
      end
    end
    if #names == 0 and #allergies == 0 and failed == 0 and #unsent == 0 then return nil end
    local lines = {}
    if #names > 0 then
      lines[#lines + 1] = "**Medications not screened** (not found in the drug knowledge base, or an ingredient of a "
        .. "combination product is not): " .. table.concat(names, "; ")
    end
    if #allergies > 0 then
      lines[#lines + 1] = "**Medication allergies not screened** (substance not recognised): " .. table.concat(allergies, "; ")
    end
    if failed > 0 then
      lines[#lines + 1] = "**Patient data not retrieved:** " .. failed .. " of the requested lists came back as an "
        .. "error instead of data, so the checks may have missed what they hold."
    end
    if #unsent > 0 then
      lines[#lines + 1] = "**Not sent, so not checked:** " .. table.concat(unsent, "; ") .. "."
    end
    if #names > 0 or #allergies > 0 then
      lines[#lines + 1] = "Interaction and allergy checks did not cover these items; review them manually."
    end
    local first = names[1] or allergies[1]
      or (failed > 0 and (failed .. " patient data " .. (failed == 1 and "list" or "lists")))
      or unsent[1]:match("^[^(]+"):gsub("%s+$", "")
    local more = #names + #allergies + (failed > 0 and 1 or 0) + #unsent - 1
    matched[#matched + 1] = patient_ref(ctx)
    return card {
      key = "unresolved",
      explain = { matched = matched,
                  values = { unresolved_medications = #names, unresolved_allergies = #allergies, prefetch_errors = failed,
                             not_sent = #unsent_keys > 0 and table.concat(unsent_keys, "+") or nil } },
      indicator = "info",
      summary = shorten("Could not screen: " .. first .. (more > 0 and (" and " .. more .. " more") or ""), 139),
      detail = table.concat(lines, "\n\n"),
    }
  end,
}
