-- rules/context/duplication.lua — owner: pharmacy informatics
-- Therapeutic duplication, for the orders being placed (a duplicate among active orders alone is
-- not this check's business on an order hook):
--   * the same ingredient in two orders (a draft and an active order, or two drafts) given by
--     overlapping routes (systemic, or the same local route): DUPTHPGEN;
--   * more agents of one therapeutic group (tables/duplication.tsv) than the row's `allowance`,
--     counting only orders given by one of the row's `routes`: DUPTHPCLS. A product holding two
--     members of a group is one agent; the row's `exempt` pairs are never a finding.
-- An order on its way out is not counted: an active order that a draft replaces
-- (priorPrescription) or that this request stops or cancels (a draft order with its id and status
-- stopped/cancelled). Routes come from med_route() (the prelude): the order's dose route when
-- the dose facts give it, else the product name ("Topical Cream", "Oral Tablet"); an order whose
-- route is unknown counts for every route.

local SEVERITY = { warning = "warning", info = "info" }
local SYSTEMIC = { oral = true, iv = true, im = true, sc = true, sublingual = true, buccal = true, rectal = true,
                   transdermal = true }

local ROWS = knowledge_table("duplication", {
  id = "id", group = "drugs", group_label = "text", routes = "routes", allowance = "integer",
  severity = { "warning", "info" }, exempt = "pairs", note = "text", source = "text",
  required = { "id", "group", "group_label", "routes", "allowance", "severity", "note", "source" },
  check = function(row)
    if row.allowance < 1 then return "column 'allowance': must be 1 or more (the agents allowed together)" end
  end,
})
local BY_INGREDIENT = index_by_ingredient(ROWS, "group")
local NONE, POS = {}, {}
for i, row in ipairs(ROWS) do POS[row] = i end

-- At load: each row's members as a set, its exempt pairs both ways, a short label for summaries.
local MEMBERS, EXEMPT, SHORT = {}, {}, {}
for code, rows in pairs(BY_INGREDIENT) do
  for _, row in ipairs(rows) do
    MEMBERS[row] = MEMBERS[row] or {}
    MEMBERS[row][code] = true
  end
end
for _, row in ipairs(ROWS) do
  local ex = {}
  for _, p in ipairs(row.exempt or {}) do
    ex[p[1] .. "+" .. p[2]], ex[p[2] .. "+" .. p[1]] = true, true
  end
  EXEMPT[row], SHORT[row] = ex, (row.group_label:gsub("%s*%b()", ""))
end

local OVERRIDE = {
  { code = "deliberate-combination", display = "Deliberate combination (the reason is documented)" },
  { code = "switching-therapy", display = "Switching: the other order is being stopped" },
  "not-applicable",
}

-- Route families: systemic routes are one family, each local route its own; nil = unknown.
local function families(med)
  local r = med_route(med)
  if not r then return nil end
  local f = {}
  for g in pairs(r) do f[SYSTEMIC[g] and "systemic" or g] = true end
  return f
end

local function overlap(fa, fb)
  if not fa or not fb then return true end
  for k in pairs(fa) do if fb[k] then return true end end
  return false
end

local function describe(med)
  if med.draft then return med.selected and "new order" or "order also being placed" end
  return "active order"
end

local function listing(meds)
  local lines = {}
  for _, m in ipairs(meds) do
    lines[#lines + 1] = string.format("- %s (%s)", m.text, describe(m))
  end
  return table.concat(lines, "\n")
end

local function names(meds)
  local seen, out = {}, {}
  for _, m in ipairs(meds) do
    if not seen[m.name] then seen[m.name] = true; out[#out + 1] = m.name end
  end
  return table.concat(out, " + ")
end

local function removals(meds)
  local out = {}
  for _, m in ipairs(meds) do
    if m.selected then out[#out + 1] = remove(m, "Remove the new order for " .. m.text) end
  end
  return out
end

rule {
  id = "context.duplication", version = "1.0.0",
  title = "Therapeutic duplication",
  hooks = { "order-select", "order-sign" },
  references = { "Published guidelines and FDA labels, per row of tables/duplication.tsv" },

  evaluate = function(ctx)
    local selected = ctx.selected
    if #selected == 0 then return nil end
    -- Most orders duplicate nothing: counted in C first (no order tables read), the work below
    -- runs only when an ingredient of an order being placed is in two live orders or a group
    -- of one has more live orders than its allowance.
    local live_count, possible = ctx.meds.live_count, false
    for _, d in ipairs(selected) do
      for _, code in ipairs(ctx.ingredient_codes(d)) do
        if live_count(code) > 1 then possible = true; break end
      end
      if not possible then
        for _, row in ipairs(ctx.rows_for(d, BY_INGREDIENT) or NONE) do
          if live_count(row.group) > row.allowance then possible = true; break end
        end
      end
      if possible then break end
    end
    if not possible then return nil end
    -- the orders in effect once these are signed (an active order stopped in this request or
    -- replaced by a draft is not); an order is looked at only when it shares an ingredient or a
    -- group with an order being placed (ctx.meds.all matches in C)
    local live_cache, with_cache, codes_cache = {}, {}, {}
    local function is_live(m)
      local l = live_cache[m]
      if l == nil then
        l = m.draft or not m.stopping   -- stopped, cancelled or replaced (priorPrescription) in this request
        live_cache[m] = l
      end
      return l
    end
    local function with(spec)   -- the live orders containing an ingredient or a class member
      local l = with_cache[spec]
      if not l then
        l = {}
        for _, m in ipairs(ctx.meds.all(spec)) do if is_live(m) then l[#l + 1] = m end end
        with_cache[spec] = l
      end
      return l
    end
    local function codes_of(m)
      local c = codes_cache[m]
      if not c then
        c = ctx.ingredient_codes(m)
        codes_cache[m] = c
      end
      return c
    end
    local function ordered(set, list)   -- the orders of `list` in `set`: the ones being placed first
      local first, rest = {}, {}
      for _, m in ipairs(list) do
        if set[m] then
          set[m] = nil   -- each once
          if m.selected then first[#first + 1] = m else rest[#rest + 1] = m end
        end
      end
      for _, m in ipairs(rest) do first[#first + 1] = m end
      return first
    end

    local cards, fam = {}, {}
    local function family(m)
      local f = fam[m]
      if f == nil then f = families(m) or false; fam[m] = f end
      return f or nil
    end

    -- 1. the same ingredient in two orders (orders sharing several ingredients: one card)
    local done_ing, rows, found = {}, {}, {}
    for _, d in ipairs(selected) do
      for _, row in ipairs(ctx.rows_for(d, BY_INGREDIENT) or NONE) do
        if not rows[row] then rows[row] = true; rows[#rows + 1] = row end
      end
      for i, code in ipairs(codes_of(d)) do
        local holders = not done_ing[code] and with(code) or NONE
        done_ing[code] = true
        local involved, any = {}, false
        for _, a in ipairs(#holders > 1 and holders or NONE) do
          if a.selected then
            for _, b in ipairs(holders) do
              if b ~= a and overlap(family(a), family(b)) then involved[a], involved[b], any = true, true, true end
            end
          end
        end
        if any then
          local meds = ordered(involved, holders)
          local refs = {}
          for i, m in ipairs(meds) do refs[i] = m.ref end
          table.sort(refs)
          local sig = table.concat(refs, " ")
          local f = found[sig]
          if not f then f = { meds = meds, names = {}, codes = {} }; found[sig] = f; found[#found + 1] = f end
          f.names[#f.names + 1], f.codes[#f.codes + 1] = d.ingredients[i].name, code
        end
      end
    end
    for _, f in ipairs(found) do
      local what = table.concat(f.names, " and ")
      cards[#cards + 1] = card {
        key = "ingredient:" .. table.concat(f.codes, "+"), issue = "DUPTHPGEN", indicator = "warning",
        explain = { matched = matched_with(first_of(f.meds, 8), f.codes),
                    values = { ingredients = table.concat(f.codes, "+"), orders = #f.meds } },
        summary = shorten(string.format("Duplicate therapy: %s in %d orders%s", what, #f.meds,
                                        names(f.meds) == what and "" or " (" .. names(f.meds) .. ")"), 139),
        detail = string.format("The same ingredient (%s) is in more than one order:\n\n%s\n\n" ..
                               "Two orders of one ingredient add up to more than either dose. If the new order " ..
                               "replaces the other, stop the old order (or send the new one with priorPrescription " ..
                               "pointing to it); otherwise remove the new order.",
                               what, listing(f.meds)),
        suggest = removals(f.meds), override = OVERRIDE,
      }
    end

    -- 2. more agents of one therapeutic group than its allowance (the groups of the orders being
    -- placed, in table order)
    if #rows > 1 then table.sort(rows, function(a, b) return POS[a] < POS[b] end) end
    for _, row in ipairs(rows) do
      do
        -- fewer orders than allowance + 1 cannot be a duplicate: most rows stop here, before any
        -- order's ingredients or route are read
        local candidates = {}
        for _, m in ipairs(ctx.meds.all(row.group)) do   -- the orders holding a member, each once
          if is_live(m) then candidates[#candidates + 1] = m end
        end
        local members, agents, keys = MEMBERS[row], {}, {}
        for _, m in ipairs(#candidates > row.allowance and candidates or {}) do
          local mine = {}
          for _, code in ipairs(codes_of(m)) do if members[code] then mine[#mine + 1] = code end end
          if #mine > 0 and route_in(row.routes, m) then
            table.sort(mine)
            local key = table.concat(mine, "+")
            local a = agents[key]
            if not a then a = { codes = mine, meds = {} }; agents[key] = a; keys[#keys + 1] = key end
            a.meds[#a.meds + 1] = m
          end
        end
        local function exempt(x, y)
          for _, p in ipairs(x.codes) do
            for _, q in ipairs(y.codes) do if EXEMPT[row][p .. "+" .. q] then return true end end
          end
          return false
        end
        local involved, any = {}, false
        for _, k in ipairs(keys) do
          local a = agents[k]
          local placing = false
          for _, m in ipairs(a.meds) do placing = placing or m.selected end
          if placing then
            local others = {}
            for _, k2 in ipairs(keys) do
              if k2 ~= k and not exempt(a, agents[k2]) then others[#others + 1] = agents[k2] end
            end
            if 1 + #others > row.allowance then
              any = true
              for _, m in ipairs(a.meds) do involved[m] = true end
              for _, o in ipairs(others) do for _, m in ipairs(o.meds) do involved[m] = true end end
            end
          end
        end
        if any then
          local meds = ordered(involved, candidates)
          cards[#cards + 1] = card {
            key = row.id, issue = "DUPTHPCLS", indicator = SEVERITY[row.severity],
            explain = { matched = first_of(meds, 8), rows = { kb_row("duplication", row) },
                        values = { allowance = row.allowance, orders = #meds } },
            summary = shorten(string.format("Duplicate therapy: %s (%s)", names(meds), SHORT[row]), 139),
            detail = string.format("%s:\n\n%s\n\nMore than %d agent%s of this group at a time is a duplicate (%s).\n\n%s\n\nSource: %s",
                                   row.group_label, listing(meds), row.allowance, row.allowance == 1 and "" or "s",
                                   row.id, row.note, row.source),
            suggest = removals(meds), override = OVERRIDE,
          }
        end
      end
    end
    return cards
  end,
}
