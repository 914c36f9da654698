-- rules/screening/unscreened.lua — owner: pharmacy informatics
-- Medications and allergy records that could not be matched to the drug knowledge base were
-- not screened. Say so once per request instead of staying silent.

rule {
  id = "screen.unresolved", version = "1.0.0",
  title = "Could not screen some medications or allergies",
  hooks = { "order-select", "order-sign", "patient-view" },

  evaluate = function(ctx)
    local names = {}
    for _, m in ipairs(ctx.unresolved) do
      if not ctx.order_hook or m.draft or m.active then names[#names + 1] = m.text end
    end
    local allergies = {}
    for _, a in ipairs(ctx.unresolved_allergies) do
      if a.category == "medication" then allergies[#allergies + 1] = a.text end
    end
    if #names == 0 and #allergies == 0 then return nil end
    local lines = {}
    if #names > 0 then
      lines[#lines + 1] = "**Medications not screened** (not found in the drug knowledge base): " .. table.concat(names, "; ")
    end
    if #allergies > 0 then
      lines[#lines + 1] = "**Medication allergies not screened** (substance not recognised): " .. table.concat(allergies, "; ")
    end
    lines[#lines + 1] = "Interaction and allergy checks did not cover these items; review them manually."
    local first = names[1] or allergies[1]
    local more = #names + #allergies - 1
    return card {
      key = "unresolved",
      indicator = "info",
      summary = shorten("Could not screen: " .. first .. (more > 0 and (" and " .. more .. " more") or ""), 139),
      detail = table.concat(lines, "\n\n"),
    }
  end,
}
