-- string.rep of the empty string passed the size check (0 bytes x 1e15) and looped for ever
-- (issue 22 item 2): it hung cdsd lint here, and the admin thread in a reload.
local pad = string.rep("", 1e15)

rule {
  id = "h.padding", version = "1", title = "Padding", hooks = { "order-sign" },
  evaluate = function(ctx) return nil end,
}
