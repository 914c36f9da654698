-- A hostile rule set for the tests (see ../README.md).
ruleset {
  name = "hostile-nul-card", version = "1", source = "cdsd tests",
  services = {
    { id = "hostile", hook = "order-sign", title = "Hostile", description = "A hostile rule beside an ordinary one.",
      rules = { "h.*" } },
  },
}
