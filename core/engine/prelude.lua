-- prelude.lua — the helpers rule authors write cards with. Runs once per Lua state, before the
-- globals are locked; everything defined here is a read-only global for rules.
-- Cards come out in CDS Hooks 2.0 shape; the C side validates them again before they leave.

local OVERRIDE_SYSTEM = "https://cdsd.example.org/CodeSystem/override-reason"
local OVERRIDE_REASONS = {
  ["benefit-outweighs-risk"]  = "Benefit outweighs risk",
  ["will-monitor"]            = "Will monitor the patient",
  ["already-tolerating"]      = "Patient already tolerating the combination",
  ["tolerated-previously"]    = "Patient has tolerated this drug before",
  ["desensitisation-planned"] = "Desensitisation planned",
  ["allergy-record-wrong"]    = "Allergy record is not accurate",
  ["dose-adjusted"]           = "Dose already adjusted",
  ["not-applicable"]          = "Alert does not apply to this patient",
}

local function check_fields(t, allowed, what)
  if type(t) ~= "table" then error(what .. ": a table is expected, got " .. type(t), 3) end
  for k in pairs(t) do
    if not allowed[k] then error(what .. ": unknown field '" .. tostring(k) .. "'", 3) end
  end
end

local function set(...)
  local s = {}
  for _, v in ipairs({...}) do s[v] = true end
  return s
end

local CARD_FIELDS = set("indicator", "summary", "detail", "key", "suggest", "suggestions", "selection",
                        "override", "links", "source_url")

-- override = { "will-monitor", {code=..., display=..., system=...}, ... }
local function override_reasons(list)
  if list == nil then return nil end
  local out = {}
  for i, r in ipairs(list) do
    if type(r) == "string" then
      local display = OVERRIDE_REASONS[r]
      if not display then error("card: unknown override reason '" .. r .. "'", 4) end
      out[i] = { system = OVERRIDE_SYSTEM, code = r, display = display }
    else
      out[i] = { system = r.system or OVERRIDE_SYSTEM, code = r.code, display = r.display }
    end
  end
  return out
end

function card(t)
  check_fields(t, CARD_FIELDS, "card")
  local c = {
    indicator = t.indicator, summary = t.summary, detail = t.detail, _key = t.key,
    overrideReasons = override_reasons(t.override), links = t.links, _source_url = t.source_url,
  }
  local sugg = t.suggest or t.suggestions
  if sugg ~= nil then
    if type(sugg) ~= "table" then error("card: 'suggest' must be a list of suggestions", 2) end
    local list = {}
    for _, s in ipairs(sugg) do list[#list + 1] = s end   -- nil entries (optional suggestions) drop out
    if #list > 0 then
      c.suggestions = list
      c.selectionBehavior = t.selection or "at-most-one"
    end
  end
  return c
end

local SUGGESTION_FIELDS = set("label", "recommended", "actions")
function suggestion(t)
  check_fields(t, SUGGESTION_FIELDS, "suggestion")
  return { label = t.label, isRecommended = t.recommended, actions = t.actions }
end

-- remove(med): a suggestion deleting a draft order (a med from ctx.meds)
function remove(med, label)
  if type(med) ~= "table" or not med.ref then error("remove: a medication from ctx.meds is expected", 2) end
  return {
    label = label or ("Remove " .. med.text),
    actions = { { type = "delete", description = "Remove the draft order for " .. med.text, resourceId = med.ref } },
  }
end

-- create(resource, description): a create action with a complete FHIR resource
function create(resource, description)
  if type(resource) ~= "table" or not resource.resourceType then error("create: a FHIR resource is expected", 2) end
  return { type = "create", description = description, resource = resource }
end

function link(label, url, kind)
  return { label = label, url = url, type = kind or "absolute" }
end

-- shorten(text, n): at most n characters (UTF-8), ending in an ellipsis when cut.
function shorten(s, n)
  s = tostring(s)
  if utf8.len(s) == nil or utf8.len(s) <= n then return s end
  return s:sub(1, utf8.offset(s, n) - 1) .. "…"
end

-- has_code(list, code): does any entry of list (with .codes) carry this code?
function has_code(list, code)
  for _, item in ipairs(list) do
    for _, c in ipairs(item.codes) do
      if c.code == code then return item end
    end
  end
  return nil
end

-- lab_order{ code = LOINC, display = "...", patient = ctx.patient_id }: a draft ServiceRequest
-- (complete FHIR resource) for a create action.
function lab_order(t)
  check_fields(t, set("code", "display", "patient", "reason"), "lab_order")
  local r = {
    resourceType = "ServiceRequest", status = "draft", intent = "proposal",
    category = { { coding = { { system = "http://snomed.info/sct", code = "108252007", display = "Laboratory procedure" } } } },
    code = { coding = { { system = "http://loinc.org", code = t.code, display = t.display } }, text = t.display },
  }
  if t.patient then r.subject = { reference = "Patient/" .. t.patient } end
  if t.reason then r.reasonCode = { { text = t.reason } } end
  return r
end

-- recent_result(ctx, { code = LOINC, also = { other LOINC codes }, days = N }): the latest result
-- for any of the codes if it is no older than N days, else nil.
function recent_result(ctx, order)
  for _, code in ipairs({ order.code, table.unpack(order.also or {}) }) do
    local o = ctx.obs(code)
    if o and o.days_ago and o.days_ago <= order.days then return o end
  end
  return nil
end

-- retrieved(ctx, "observations", ...): true when every named list reached the rules whole (sent,
-- or null = the EHR has no data), not absent, an OperationOutcome or only in part. A rule
-- claims that something is missing from a list ("no lipid panel within a year", "no added risk
-- factor") only when the list was retrieved; otherwise it stays silent or says it could not check.
function retrieved(ctx, ...)
  for _, key in ipairs({ ... }) do
    local s = ctx.prefetch[key]
    if s ~= "sent" and s ~= "none" then return false end
  end
  return true
end
