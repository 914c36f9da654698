-- rules/interactions/ddi.lua — owner: pharmacy informatics
-- One card per interacting pair found in the knowledge base (matching happens in C):
-- on order hooks a draft order against the active list and the other drafts, on patient-view
-- the active list against itself.

local INDICATOR = { contraindicated = "critical", major = "warning", moderate = "info", minor = "info" }

-- Pairs judged in context by their own rules (rules/interactions/pddi_*.lua).
local HANDLED_ELSEWHERE = { DDI016 = "pddi.warfarin-nsaid", DDI019 = "pddi.digoxin-cyclosporine" }

local function describe(x, also)
  local lines = {}
  if x.mechanism and x.mechanism ~= "" then lines[#lines + 1] = "**Mechanism:** " .. x.mechanism end
  if x.consequence and x.consequence ~= "" then lines[#lines + 1] = "**Consequence:** " .. x.consequence end
  if x.management and x.management ~= "" then lines[#lines + 1] = "**Management:** " .. x.management end
  for _, med in ipairs({ x.a, x.b }) do
    if med.name_match then
      lines[#lines + 1] = "_" .. med.text .. " was identified by its name, not by a code._"
    end
  end
  if also then lines[#lines + 1] = also end
  if x.source and x.source ~= "" then lines[#lines + 1] = "Source: " .. x.source end
  return table.concat(lines, "\n\n")
end

-- An interaction may say when it applies (knowledge column applies_if, all terms must hold):
-- age>=N, age<N, condition:SNOMED, obs:LOINC<N, obs:LOINC>N. Unknown facts count as "applies":
-- a missing age or result never silences a warning.
local function applies(ctx, spec)
  for term in spec:gmatch("[^;]+") do
    term = term:gsub("^%s+", ""):gsub("%s+$", "")
    local op, n = term:match("^age([<>]=?)(%d+%.?%d*)$")
    local code, obs_op, limit = term:match("^obs:([%d%-]+)([<>])(%d+%.?%d*)$")
    local cond = term:match("^condition:(%d+)$")
    if op and ctx.patient.age then
      local age, v = ctx.patient.age, tonumber(n)
      if (op == ">=" and age < v) or (op == "<" and age >= v) then return false end
    elseif cond then
      if not ctx.conditions.any(cond) then return false end
    elseif code then
      local o = ctx.obs(code)
      if o and o.value then
        local v = tonumber(limit)
        if (obs_op == "<" and o.value >= v) or (obs_op == ">" and o.value <= v) then return false end
      end
    end
  end
  return true
end

local RANK = { contraindicated = 4, major = 3, moderate = 2, minor = 1 }

rule {
  id = "ddi.interaction", version = "1.1.0",
  title = "Drug-drug interaction",
  hooks = { "order-select", "order-sign", "patient-view" },
  references = { "ONC high-priority DDI list (Phansalkar et al., JAMIA 2012)" },

  -- One card per pair of medications: when several knowledge rows match one pair (sacubitril/
  -- valsartan with lisinopril matches ACE inhibitor + neprilysin inhibitor and ACE inhibitor +
  -- ARB), the most severe row makes the card and the others are listed in its detail, so a
  -- contraindication never sits beside an informational card for the same two orders.
  evaluate = function(ctx)
    local groups, order = {}, {}
    for _, x in ipairs(ctx.interactions) do
      if HANDLED_ELSEWHERE[x.id] then goto continue end
      if x.applies_if and x.applies_if ~= "" and not applies(ctx, x.applies_if) then goto continue end
      do
        local ra, rb = x.a.ref, x.b.ref
        local k = ra < rb and (ra .. "|" .. rb) or (rb .. "|" .. ra)
        local g = groups[k]
        if not g then
          g = { rows = {} }
          groups[k] = g
          order[#order + 1] = k
        end
        g.rows[#g.rows + 1] = x
      end
      ::continue::
    end
    local cards = {}
    for _, k in ipairs(order) do
      local rows = groups[k].rows
      table.sort(rows, function(p, q)
        local rp, rq = RANK[p.severity] or 0, RANK[q.severity] or 0
        if rp ~= rq then return rp > rq end
        return p.id < q.id
      end)
      local x = rows[1]
      local also
      if #rows > 1 then
        local list = {}
        for i = 2, #rows do
          local y = rows[i]
          list[#list + 1] = string.format("%s (%s): %s", y.a_ingredient .. " with " .. y.b_ingredient, y.severity,
                                          (y.management and y.management ~= "") and y.management or (y.mechanism or ""))
        end
        also = "**Also between these orders:** " .. table.concat(list, "; ")
      end
      local suggest = {}
      if x.draft then suggest[#suggest + 1] = remove(x.draft) end
      if x.alternative and x.alternative ~= "" then
        -- the knowledge names an alternative: offered as guidance (no order is created for it)
        suggest[#suggest + 1] = suggestion { label = "Consider instead: " .. x.alternative }
      end
      cards[#cards + 1] = card {
        key       = x.id .. ":" .. x.a_ingredient .. ":" .. x.b_ingredient,
        issue     = "DRG",
        indicator = INDICATOR[x.severity] or "warning",
        summary   = string.format("%s interaction: %s with %s", x.severity:gsub("^%l", string.upper),
                                  x.a_ingredient, x.b_ingredient),
        detail    = describe(x, also),
        suggest   = suggest,
        override  = { "benefit-outweighs-risk", "will-monitor", "already-tolerating" },
      }
    end
    return cards
  end,
}
