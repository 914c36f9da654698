-- A declaration that never finishes (issue 22 item 14): the budget error had no file:line.
rule {
  id = "h.slow-title", version = "1", hooks = { "order-sign" },
  title = (function() local n = 0 while true do n = n + 1 end end)(),
  evaluate = function(ctx) return nil end,
}
