-- A NUL byte in a card's text (issue 22 item 9), on a branch no fixture reached: it made the
-- whole HTTP response a 500 and reached NNG clients.
rule {
  id = "h.nul-text", version = "1", title = "Card text with a NUL byte", hooks = { "order-sign" },
  evaluate = function(ctx)
    return card { indicator = "warning", summary = "Use with care",
                  detail = "Only with a clear indication\0 -- AND NEVER IN PREGNANCY" }
  end,
}
