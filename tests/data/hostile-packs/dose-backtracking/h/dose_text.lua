-- A plausible rule (issue 22 item 1): it passes lint and every fixture, but Lua's own matcher
-- backtracks over a long text: 60 KB of medication text kept a worker busy for ~27 s per call.
rule {
  id = "h.dose-text", version = "1", title = "Dose read from the order text", hooks = { "order-sign" },
  evaluate = function(ctx)
    for _, m in ipairs(ctx.selected) do
      local _, mg = (m.text or ""):match("(.-)%s+(%d+)%s*mg")
      if mg then return card { indicator = "info", summary = "Dose read from the text: " .. mg .. " mg" } end
    end
  end,
}
