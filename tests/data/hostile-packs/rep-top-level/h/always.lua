-- The ordinary rule: its card must be answered whatever the hostile rule does.
rule {
  id = "h.always", version = "1", title = "Always answers", hooks = { "order-sign" },
  evaluate = function(ctx)
    return card { indicator = "info", summary = "The ordinary rule still answers" }
  end,
}
