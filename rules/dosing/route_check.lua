-- rules/dosing/route_check.lua — owner: pharmacy informatics
-- A drug ordered by a route that has harmed or killed patients (knowledge/routes.tsv: vinca
-- alkaloids intrathecally, penicillin G benzathine intravenously, nimodipine capsule contents
-- intravenously ...): the row's severity. A route outside a drug's allowed list: warning. An
-- order without a route says nothing here (the route is unknown, not wrong).

rule {
  id = "route.check", version = "1.0.0",
  title = "Route of administration",
  hooks = { "order-select", "order-sign" },
  references = { "FDA prescribing information (DailyMed); ISMP list of wrong-route errors, per row of routes.tsv" },

  evaluate = function(ctx)
    local cards = {}
    for _, med in ipairs(ctx.selected) do
      local d = med.dose
      local route = d and d.route
      if route then
        for _, g in ipairs(med.ingredients) do
          for _, row in ipairs(ctx.routes(g.code)) do
            local forbidden, allowed = false, #(row.allowed or {}) == 0
            for _, r in ipairs(row.forbidden or {}) do forbidden = forbidden or r == route end
            for _, r in ipairs(row.allowed or {}) do allowed = allowed or r == route end
            if forbidden or not allowed then
              local ok = table.concat(row.allowed or {}, ", ")
              cards[#cards + 1] = card {
                key = med.ref .. ":" .. g.code .. ":" .. row.id, issue = "DOSE",
                explain = { matched = { { med, g.code } }, rows = { kb_row("routes", row) },
                            values = { route = route, route_from = d.route_from } },
                indicator = forbidden and row.severity or "warning",
                summary = shorten(string.format("%s ordered by the %s route: %s", g.name, route,
                                                forbidden and (row.severity == "critical" and "a wrong route that has been fatal"
                                                               or "a route to avoid")
                                                or ("given " .. (ok ~= "" and ok or "otherwise") .. " only")), 139),
                detail = string.format("**Route ordered:** %s%s.%s\n\n%s\n\nSource: %s", d.route_text or route,
                                       d.route_from == "product" and " (from the product's dose form)" or "",
                                       ok ~= "" and ("\n\n**Given by:** " .. ok .. " only.") or "", row.note or "", row.source),
                suggest = { remove(med) },
                override = { "not-applicable" },
              }
            end
          end
        end
      end
    end
    return cards
  end,
}
