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
                        "override", "links", "source_url", "issue", "explain")

-- issue = "DRG": the card's check category, as the HL7 v3 ActCode detected-issue code FHIR's
-- DetectedIssue.category uses, sent in the card's extension "org.cdsd.detected-issue" (a FHIR
-- Coding) so that an EHR can filter and count cards by kind.
local ACTCODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
local DETECTED_ISSUES = {
  DRG = "Drug Interaction Alert", ALGY = "Allergy Alert", INT = "Intolerance Alert",
  DUPTHPY = "Duplicate Therapy Alert", DUPTHPCLS = "duplicate therapeutic class alert",
  DUPTHPGEN = "duplicate generic alert", DOSE = "Dosage problem", DOSEH = "High Dose Alert",
  DOSEL = "Low Dose Alert", DOSEHINDW = "High Dose for Weight Alert", DOSELINDW = "Low Dose for Weight Alert",
  DOSEHINDA = "High Dose for Age Alert", DOSECOND = "dosage-condition alert", DOSEIVL = "Dose-Interval Alert",
  COND = "Condition Alert", AGE = "Age Alert", PREG = "Pregnancy Alert", LACT = "Lactation Alert",
  LAB = "Lab Alert", OBSA = "Observation Alert",
}

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

-- explain = { matched = {...}, rows = {...}, values = {...} }: what produced the card, normalised
-- to ids and codes (never texts: it is stored with every card in the audit log) and sent in the
-- card's extension "org.cdsd.explain" (README "Why this card").
--   matched: resources that matched, each a ctx table with a `ref` (a med, an allergy, a
--            condition, an observation, an order) or a "Type/id" string, or { that, code, ... }
--            naming the codes that matched;
--            packed as { "Type/id", code, ... } ("unidentified" for a resource sent without id).
--            nil entries drop out, in every list part
--   rows:    knowledge rows, each { table, key, source } or kb_row("table", r) (r.id/r.key, r.source);
--            packed as { table, key, source } (source only when a name of at most 40 bytes)
--   values:  computed values and their inputs, name = number, text or boolean
-- Checked and packed in C (core/engine/lua_explain.c), once for the reply and the audit row.
local explain_pack = __explain_pack
__explain_pack = nil

-- kb_row("dose_limits", r): a knowledge row for explain.rows (its id or key, and its source).
function kb_row(tbl, r)
  if type(tbl) ~= "string" or type(r) ~= "table" then error("kb_row: a table name and a row are expected", 2) end
  local key = r.id or r.key or r._line
  if key == nil then error("kb_row: the row has no id, key or line", 2) end
  return { tbl, tostring(key), r.source }
end

function card(t)
  check_fields(t, CARD_FIELDS, "card")
  local c = {
    indicator = t.indicator, summary = t.summary, detail = t.detail, _key = t.key,
    overrideReasons = override_reasons(t.override), links = t.links, _source_url = t.source_url,
  }
  if t.issue ~= nil then
    local display = DETECTED_ISSUES[t.issue]
    if not display then error("card: unknown issue '" .. tostring(t.issue) .. "' (an HL7 v3 ActCode detected-issue code such as DRG, ALGY, DOSEH, DUPTHPY, COND, AGE, PREG, LAB)", 2) end
    c.extension = { ["org.cdsd.detected-issue"] = { system = ACTCODE, code = t.issue, display = display } }
  end
  if t.explain ~= nil then explain_pack(t.explain, c) end   -- kept beside c, packed (lua_explain.c)
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

-- recent_result(ctx, { code = LOINC, also = { other LOINC codes }, components = { LOINC codes },
-- days = N }): the latest result for any of code and also if it is no older than N days; else,
-- when every one of the components (the parts of a panel: WBC, haemoglobin and platelets for a
-- CBC) has a result no older than N days, the oldest of those; else nil. An undated result never
-- counts.
function recent_result(ctx, order)
  for _, code in ipairs({ order.code, table.unpack(order.also or {}) }) do
    local o = ctx.obs(code)
    if o and o.days_ago and o.days_ago <= order.days then return o end
  end
  local oldest = nil
  for _, code in ipairs(order.components or {}) do
    local o = ctx.obs(code)
    if not (o and o.days_ago and o.days_ago <= order.days) then return nil end
    if not oldest or o.days_ago > oldest.days_ago then oldest = o end
  end
  return oldest
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

-- order_set { ... }: one order set (the tests a drug or a chronic condition calls for), checked
-- when the rule file loads, so a mistake is a load error at the line of `order_set {` (and
-- `cdsd lint` fails) instead of a set that silently never fires or a rule that fails at run time.
-- Checks: known keys only; non-empty texts; days whole numbers 1..3650; LOINC codes with their
-- check digit; SNOMED CT codes with theirs; every drug in `when` / `after_start_of` known to the
-- knowledge base ("class:ID", an RxNorm code or an ingredient name, as ctx.meds reads them).
-- Returns the table itself.
local kb_resolves = __kb_resolves   -- C; nil answers "no knowledge base here" (a worker's state)
__kb_resolves = nil

local function keys(...)
  return { list = table.concat({...}, ", "), set = set(...) }
end
local SET_KEYS = {
  drugs = keys("id", "title", "when", "all", "after_start_of", "orders", "why", "source"),
  conditions = keys("id", "title", "conditions", "orders", "source"),
}
local ORDER_KEYS = {
  drugs = keys("code", "display", "days", "also", "components", "start_days", "not_at_start", "at_start"),
  conditions = keys("code", "display", "days", "also", "components"),
}
local MAX_DAYS = 3650

local function is_text(v) return type(v) == "string" and v:find("%S") ~= nil end

local function is_list(v)
  if type(v) ~= "table" then return false end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  return n == #v
end

local function unknown_key(t, allowed)
  for k in pairs(t) do
    if type(k) ~= "string" then return "unexpected list entry (fields are written name = value)" end
    if not allowed.set[k] then return "unknown key '" .. k .. "' (allowed: " .. allowed.list .. ")" end
  end
  return nil
end

-- LOINC: digits, '-', and a check digit (mod 10, as LOINC computes it)
local function loinc_problem(code)
  if type(code) ~= "string" then return "must be a LOINC code (a string such as \"6301-6\")" end
  local num, check = code:match("^(%d+)%-(%d)$")
  if not num or #num > 7 then return "'" .. code .. "' is not shaped like a LOINC code (digits, '-', check digit)" end
  local sum, double = 0, true
  for i = #num, 1, -1 do
    local d = tonumber(num:sub(i, i))
    if double then d = d * 2; if d > 9 then d = d - 9 end end
    sum, double = sum + d, not double
  end
  if (10 - sum % 10) % 10 ~= tonumber(check) then
    return "'" .. code .. "': its LOINC check digit does not match (a mistyped code?)"
  end
  return nil
end

-- SNOMED CT identifiers end in a Verhoeff check digit
local VERHOEFF_D = {
  { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, { 1, 2, 3, 4, 0, 6, 7, 8, 9, 5 }, { 2, 3, 4, 0, 1, 7, 8, 9, 5, 6 },
  { 3, 4, 0, 1, 2, 8, 9, 5, 6, 7 }, { 4, 0, 1, 2, 3, 9, 5, 6, 7, 8 }, { 5, 9, 8, 7, 6, 0, 4, 3, 2, 1 },
  { 6, 5, 9, 8, 7, 1, 0, 4, 3, 2 }, { 7, 6, 5, 9, 8, 2, 1, 0, 4, 3 }, { 8, 7, 6, 5, 9, 3, 2, 1, 0, 4 },
  { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0 },
}
local VERHOEFF_P = {
  { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, { 1, 5, 7, 6, 2, 8, 3, 0, 9, 4 }, { 5, 8, 0, 3, 7, 9, 6, 1, 4, 2 },
  { 8, 9, 1, 6, 0, 4, 3, 5, 2, 7 }, { 9, 4, 5, 3, 1, 2, 6, 8, 7, 0 }, { 4, 2, 8, 6, 5, 7, 3, 9, 0, 1 },
  { 2, 7, 9, 3, 8, 0, 6, 4, 1, 5 }, { 7, 0, 4, 6, 9, 1, 3, 2, 5, 8 },
}
local function snomed_problem(code)
  if type(code) ~= "string" then return "must be a SNOMED CT code or \"text:words\" (a string)" end
  if code:match("^text:") then
    if is_text(code:sub(6)) then return nil end
    return "'" .. code .. "': \"text:\" needs the words to look for"
  end
  if not code:match("^[1-9]%d%d%d%d%d+$") or #code > 18 then
    return "'" .. code .. "' is not a SNOMED CT code (6 to 18 digits) or \"text:words\""
  end
  local c = 0
  for i = 0, #code - 1 do
    local digit = tonumber(code:sub(#code - i, #code - i))
    c = VERHOEFF_D[c + 1][VERHOEFF_P[i % 8 + 1][digit + 1] + 1]
  end
  if c ~= 0 then return "'" .. code .. "': its SNOMED CT check digit does not match (a mistyped code?)" end
  return nil
end

local function days_problem(v, key)
  if math.type(v) ~= "integer" or v < 1 or v > MAX_DAYS then
    return "'" .. key .. "' must be a whole number of days from 1 to " .. MAX_DAYS .. ", got " .. tostring(v)
  end
  return nil
end

local function drug_problem(spec)
  if not is_text(spec) then return "must be a drug: \"class:ID\", an RxNorm code or an ingredient name" end
  local known, why = kb_resolves(spec)
  if known == false then return "'" .. spec .. "': " .. why end
  return nil
end

local function check_order(o, kind, seen)
  if type(o) ~= "table" then return "must be a table { code = LOINC, display = ..., days = N }" end
  local bad = unknown_key(o, ORDER_KEYS[kind])
  if bad then return bad end
  local p = loinc_problem(o.code)
  if p then return "'code' " .. p end
  if seen[o.code] then return "code " .. o.code .. " is already in orders[" .. seen[o.code] .. "]" end
  if not is_text(o.display) then return "'display' must be a non-empty text (the test's name on the card)" end
  p = days_problem(o.days, "days") or (o.start_days ~= nil and days_problem(o.start_days, "start_days"))
  if p then return p end
  if o.also ~= nil then
    if not is_list(o.also) then return "'also' must be a list of LOINC codes" end
    for i, c in ipairs(o.also) do
      p = loinc_problem(c)
      if p then return "also[" .. i .. "] " .. p end
      if c == o.code then return "also[" .. i .. "] repeats 'code' " .. c end
    end
  end
  if o.components ~= nil then
    if not is_list(o.components) or #o.components < 2 then
      return "'components' must list at least two LOINC codes (the parts that together stand for the panel)"
    end
    local also = {}
    for _, c in ipairs(o.also or {}) do also[c] = true end
    for i, c in ipairs(o.components) do
      p = loinc_problem(c)
      if p then return "components[" .. i .. "] " .. p end
      if c == o.code then return "components[" .. i .. "] repeats 'code' " .. c end
      if also[c] then return "components[" .. i .. "] " .. c .. " is also in 'also' (one result of it alone would count)" end
    end
  end
  if o.not_at_start ~= nil and type(o.not_at_start) ~= "boolean" then return "'not_at_start' must be true or false" end
  if o.not_at_start and not is_text(o.at_start) then
    return "'not_at_start' needs 'at_start', the text saying when the test is due instead"
  end
  if o.at_start ~= nil and not o.not_at_start then return "'at_start' is shown only with not_at_start = true" end
  return nil
end

local function check_order_set(t)
  if type(t) ~= "table" then return "order_set: a table is expected, got " .. type(t) end
  local name = "order set" .. (type(t.id) == "string" and " '" .. t.id .. "'" or "")
  if (t.when == nil) == (t.conditions == nil) then
    return name .. ": give either 'when' (the drugs being ordered that trigger it) or 'conditions' (SNOMED CT codes)"
  end
  local kind = t.when ~= nil and "drugs" or "conditions"
  local bad = unknown_key(t, SET_KEYS[kind])
  if bad then return name .. ": " .. bad end
  if type(t.id) ~= "string" or not t.id:match("^[a-z0-9][a-z0-9%-]*$") then
    return name .. ": 'id' must be lower-case letters, digits and '-' (it keys the card)"
  end
  for _, k in ipairs({ "title", "source", kind == "drugs" and "why" or nil }) do
    if not is_text(t[k]) then return name .. ": '" .. k .. "' must be a non-empty text" end
  end
  local list = t.when or t.conditions
  local lname = kind == "drugs" and "when" or "conditions"
  if not is_list(list) or #list == 0 then return name .. ": '" .. lname .. "' must list at least one entry" end
  for i, v in ipairs(list) do
    local p
    if kind == "drugs" then p = drug_problem(v) else p = snomed_problem(v) end
    if p then return name .. ": " .. lname .. "[" .. i .. "] " .. p end
  end
  if t.all ~= nil and type(t.all) ~= "boolean" then return name .. ": 'all' must be true or false" end
  if t.after_start_of ~= nil then
    local found = false
    for _, v in ipairs(t.when) do found = found or v == t.after_start_of end
    if not found then return name .. ": 'after_start_of' must be one of the drugs in 'when'" end
  end
  if not is_list(t.orders) or #t.orders == 0 then return name .. ": 'orders' must list at least one test" end
  local seen = {}
  for i, o in ipairs(t.orders) do
    local p = check_order(o, kind, seen)
    if p then
      local code = type(o) == "table" and type(o.code) == "string" and " (" .. o.code .. ")" or ""
      return name .. ": orders[" .. i .. "]" .. code .. ": " .. p
    end
    seen[o.code] = i
  end
  return nil
end

function order_set(t)
  local problem = check_order_set(t)
  if problem then error(problem, 2) end
  return t
end

-- knowledge_table(name, schema): the rows of a pack's tables/NAME.tsv, checked when the rule
-- file loads, so a typo is a load error at file:line (and `cdsd lint` fails) rather than a row
-- that silently never matches. schema maps each column to its kind:
--   "id"       a non-empty value unique in the table        "text"    any text
--   "drug"     "class:ID" or an RxNorm code the knowledge base knows (checked)
--   "drugs"    a ";" list of drugs                          "pairs"   a ";" list of "RXCUI+RXCUI"
--   "codes"    a ";" list of sct:CODE, icd10:CODE (CODE* = and below), loinc:CODE or text:words
--   "loincs"   a ";" list of LOINC codes                    "routes"  a ";" list of route groups
--   "number", "integer" (whole, >= 0)                       "yesno"   yes or no (a boolean)
--   { "a", "b", ... }  one of these values
-- and schema.required lists the columns every row must fill. An unknown column is an error.
-- schema.check(row), if given, is called with each typed row and returns nil or a problem spanning
-- columns ("age_min_days 30 is not below age_max_days 7"), reported at the row's file:line.
-- Each row comes back as a table of typed values (lists as Lua lists, empty cells nil) with
-- `_line` (its line in the file). knowledge_members(drug) gives the ingredient codes a drug
-- reference stands for, to index rows by ingredient at load.
local table_raw, kb_members = __table_raw, __kb_members
__table_raw, __kb_members = nil, nil
-- pair_index(spec): a C index of ingredient-pair tables (core/engine/pair_index.c), checked at
-- load like knowledge_table's (file:line errors; spec.check_ingredient(code, name) returns a
-- vocabulary problem or nil, called once per distinct code and name).
local build_pair_index = __pair_index
__pair_index = nil
function pair_index(spec)
  local ok, index = pcall(build_pair_index, spec)
  if not ok then error(index, 0) end
  return index
end

local ROUTE_GROUPS = set("oral", "sublingual", "buccal", "iv", "im", "sc", "intrathecal", "epidural", "topical",
                         "transdermal", "inhaled", "nasal", "ophthalmic", "otic", "rectal", "vaginal", "systemic", "any")

local function list_of(v)
  local out = {}
  for item in v:gmatch("[^;]+") do
    item = item:gsub("^%s+", ""):gsub("%s+$", "")
    if item ~= "" then out[#out + 1] = item end
  end
  return out
end

local function code_problem(c)
  local sys, code = c:match("^(%a[%w%-]*):(.+)$")
  if sys == "sct" then return snomed_problem(code)
  elseif sys == "loinc" then return loinc_problem(code)
  elseif sys == "icd10" then
    if not code:match("^%u%d[%w]?%.?[%w]*%*?$") then return "'" .. c .. "' is not shaped like an ICD-10-CM code" end
    return nil
  elseif sys == "text" then
    if is_text(code) then return nil end
    return "'" .. c .. "': \"text:\" needs words"
  end
  return "'" .. c .. "' needs a prefix: sct:, icd10:, loinc: or text:"
end

local KINDS = {
  id = function(v) return v end,
  text = function(v) return v end,
  drug = function(v)
    local p = drug_problem(v)
    if p then error(p, 0) end
    return v
  end,
  drugs = function(v)
    local l = list_of(v)
    for _, d in ipairs(l) do local p = drug_problem(d); if p then error(p, 0) end end
    return l
  end,
  pairs = function(v)
    local l = list_of(v)
    for i, pr in ipairs(l) do
      local a, b = pr:match("^(%d+)%+(%d+)$")
      if not a then error("'" .. pr .. "' is not a pair RXCUI+RXCUI", 0) end
      l[i] = { a, b }
    end
    return l
  end,
  codes = function(v)
    local l = list_of(v)
    for _, c in ipairs(l) do local p = code_problem(c); if p then error(p, 0) end end
    return l
  end,
  loincs = function(v)
    local l = list_of(v)
    for _, c in ipairs(l) do local p = loinc_problem(c); if p then error(p, 0) end end
    return l
  end,
  routes = function(v)
    local l = list_of(v)
    for _, r in ipairs(l) do if not ROUTE_GROUPS[r] then error("'" .. r .. "' is not a route group", 0) end end
    return l
  end,
  number = function(v)
    local n = tonumber(v)
    if not n or n ~= n or n == math.huge or n == -math.huge then error("'" .. v .. "' is not a number", 0) end
    return n
  end,
  integer = function(v)
    local n = math.tointeger(tonumber(v))
    if not n or n < 0 then error("'" .. v .. "' is not a whole number", 0) end
    return n
  end,
  yesno = function(v)
    if v == "yes" then return true elseif v == "no" then return false end
    error("'" .. v .. "' must be yes or no", 0)
  end,
}

function knowledge_table(name, schema)
  local raw, why = table_raw(name)
  if not raw then error(why, 2) end
  local path = raw.path
  local function fail(line, msg) error(path .. ":" .. line .. ": " .. msg, 0) end
  if not raw.header then fail(1, "no header line") end
  local kinds, required, cols = {}, {}, {}
  for _, r in ipairs(schema.required or {}) do required[r] = true end
  for i, col in ipairs(raw.header) do
    local k = schema[col]
    if col == "required" or col == "check" or k == nil then
      local known = {}
      for c in pairs(schema) do if c ~= "required" and c ~= "check" then known[#known + 1] = c end end
      table.sort(known)
      fail(raw.header_line, "unknown column '" .. col .. "' (columns: " .. table.concat(known, ", ") .. ")")
    end
    kinds[i], cols[i] = k, col
  end
  for r in pairs(required) do
    local found = false
    for _, c in ipairs(cols) do found = found or c == r end
    if not found then fail(raw.header_line, "the required column '" .. r .. "' is missing") end
  end
  local rows, ids = {}, {}
  for _, raw_row in ipairs(raw.rows) do
    local row = { _line = raw_row.line }
    if #raw_row.cells > #cols then
      fail(raw_row.line, "a value in column " .. (#cols + 1) .. " but the header names " .. #cols .. " columns")
    end
    for i, col in ipairs(cols) do
      local v = raw_row.cells[i]
      if v == nil or v == "" then
        if required[col] then fail(raw_row.line, "column '" .. col .. "' is empty (required)") end
      else
        local kind = kinds[i]
        local ok, value = pcall(function()
          if type(kind) == "table" then
            for _, allowed in ipairs(kind) do if v == allowed then return v end end
            error("'" .. v .. "' must be one of " .. table.concat(kind, ", "), 0)
          end
          local f = KINDS[kind]
          if not f then error("schema: unknown kind '" .. tostring(kind) .. "'", 0) end
          return f(v)
        end)
        if not ok then fail(raw_row.line, "column '" .. col .. "': " .. tostring(value)) end
        if kind == "id" then
          if ids[v] then fail(raw_row.line, "id '" .. v .. "' is already used on line " .. ids[v]) end
          ids[v] = raw_row.line
        end
        row[col] = value
      end
    end
    if schema.check then
      local problem = schema.check(row)
      if problem then fail(raw_row.line, problem) end
    end
    rows[#rows + 1] = row
  end
  return rows
end

-- knowledge_code_problem("sct:77386006"): nil for a well-formed prefixed code (sct:, icd10:,
-- loinc:, text:), else why not (the check the "codes" kind makes), for a schema's check.
function knowledge_code_problem(c) return code_problem(c) end

-- knowledge_members("class:statins") -> { "36567", ... }: the ingredient codes a drug reference
-- stands for (an ingredient stands for itself).
function knowledge_members(spec)
  local m, why = kb_members(spec)
  if m == nil then return { spec } end   -- no knowledge base in this state: the code itself
  if m == false then error(why, 2) end
  return m
end

-- index_by_ingredient(rows, column): { [rxcui] = { rows ... } } for a "drug" or "drugs" column.
function index_by_ingredient(rows, column)
  local idx = {}
  for _, row in ipairs(rows) do
    local v = row[column]
    for _, spec in ipairs(type(v) == "table" and v or { v }) do
      for _, code in ipairs(knowledge_members(spec)) do
        local l = idx[code]
        if not l then l = {}; idx[code] = l end
        l[#l + 1] = row
      end
    end
  end
  return idx
end

-- Dose text for cards. amount_text(1500, "mg") -> "1.5 g"; amount_text(0.25, "mg") -> "250 mcg".
local function num_text(x)
  if x >= 100 then return string.format("%.0f", x) end
  local s = string.format("%.3g", x)
  if s:find("e") then s = string.format("%.0f", x) end
  return s
end

function amount_text(x, unit)
  if x == nil then return "?" end
  if unit == "mg" then
    if x >= 1000 then return num_text(x / 1000) .. " g" end
    if x < 1 then return num_text(x * 1000) .. " mcg" end
  end
  if unit == nil or unit == "" then return num_text(x) end
  return num_text(x) .. " " .. unit
end

-- "4 times a day", "every 6 hours", "once a week"
function frequency_text(d)
  local n = d.doses_per_day
  if d.schedule == "weekly" then return "once a week" end
  if not n then return "at an unknown frequency" end
  if n == 1 then return "once a day" end
  if n < 1 then return string.format("every %s days", num_text(1 / n)) end
  if d.interval_h and math.abs(n - math.floor(n + 0.5)) < 1e-9 and n > 4 then
    return string.format("every %s hours", num_text(d.interval_h))
  end
  return string.format("%s times a day", num_text(n))
end

-- One order's computation for ingredient `code`: "1 g per dose, every 4 hours (as needed,
-- counted at its most) = 6 g a day".
function dose_text(d, code)
  local unit = d.units[code]
  local parts = { amount_text(d.mg[code], unit) .. " per dose" }
  if d.amount and d.unit and d.unit ~= unit then
    local written = ({ ["{tbl}"] = "tablet", ["{cap}"] = "capsule", mL = "mL", ["mg/kg"] = "mg/kg" })[d.unit] or d.unit
    if (written == "tablet" or written == "capsule") and d.amount ~= 1 then written = written .. "s" end
    parts[1] = parts[1] .. " (" .. num_text(d.amount) .. " " .. written .. ")"
  end
  parts[#parts + 1] = frequency_text(d) .. (d.prn and " (as needed, counted at its most)" or "")
  local s = table.concat(parts, ", ")
  if d.daily[code] then s = s .. " = " .. amount_text(d.daily[code], unit) .. " a day" end
  return s
end

-- The daily sum of ingredient g over the orders ctx.daily_total summed, for a card's detail.
function daily_detail(ctx, g, total, unit, refs, uncounted)
  local by_ref = {}
  for _, m in ipairs(ctx.meds) do by_ref[m.ref] = m end
  local lines = { string.format("**%s a day in all:** %s.", g.name, amount_text(total, unit)) }
  for _, ref in ipairs(refs or {}) do
    local m = by_ref[ref]
    if m then
      local what = m.draft and "being ordered" or "active"
      local d = m.dose
      lines[#lines + 1] = string.format("- %s (%s): %s", m.text, what, d and not d.not_computed and dose_text(d, g.code) or "?")
    end
  end
  for _, u in ipairs(uncounted or {}) do
    local m = by_ref[u.ref]
    lines[#lines + 1] = string.format("- %s: not counted (%s)", m and m.text or u.ref, u.reason)
  end
  return table.concat(lines, "\n")
end

-- for_indication(ctx, rows): the dose_limits rows that apply to this patient's indication. A row
-- written for one indication ("asthma", "croup", "stroke") applies when the patient has an active
-- condition whose text names it; a row without an indication always applies. (Orders rarely
-- carry a coded reason; the problem list does.)
-- For explain.values: the daily total (from ctx.daily_total) and the orders summed, into v.
-- Returns v and the summed orders' refs as explain.matched entries.
function daily_values(v, total, unit, refs)
  v.daily_total, v.daily_unit = total, unit
  return v, first_of(refs or {}, 8)
end

-- For explain.values: the kidney function a finding used ("crcl", "egfr", "dialysis") and, for a
-- creatinine clearance, the inputs of Cockcroft-Gault (creatinine, age, sex, weight and which
-- weight), into v.
function kidney_values(ctx, measure, v)
  local p = ctx.patient
  if measure == "crcl" then
    v.crcl, v.creatinine, v.age_years, v.sex = p.crcl, p.creatinine, p.age_years, p.sex
    v.weight_kg, v.crcl_weight = p.weight_kg, p.crcl_weight
  elseif measure == "egfr" then
    v.egfr = p.egfr
  elseif measure == "dialysis" then
    v.dialysis = true
  end
  return v
end

-- patient_ref(ctx): the request's patient for explain.matched, as "Patient/patientId" (the
-- context's patientId, never copied: the explanation is stored in the audit log, which keeps the
-- patient only as its pseudonymous key). nil when the request names no patient.
function patient_ref(ctx)
  return ctx.patient_id and "Patient/patientId" or nil
end

-- matched_with(meds, codes): explain.matched entries { med, code... } naming the same codes.
function matched_with(list, codes)
  local out = {}
  for i, m in ipairs(list) do out[i] = { m, table.unpack(codes, 1, math.min(#codes, 4)) } end
  return out
end

-- first_of(list, n): the first n (default 8) entries of a list (explain parts are bounded).
function first_of(list, n)
  local out = {}
  for i = 1, math.min(#list, n or 8) do out[i] = list[i] end
  return out
end

function for_indication(ctx, rows)
  local out = {}
  for _, row in ipairs(rows) do
    if not row.indication or ctx.conditions.any("text:" .. row.indication) then out[#out + 1] = row end
  end
  return out
end

-- med_route(med): the route groups a medication order can be given by, as a set ({ oral = true };
-- { iv = true, im = true, sc = true } for an injection whose route the name does not say), or nil
-- when unknown. med.dose.route is used when the order's dose facts give it; otherwise the route is
-- read from the product's name, RxNorm style ("Oral Tablet", "Topical Cream", "Ophthalmic
-- Solution", "Inhalation Powder", "Nasal Spray", "Injectable Solution", "Transdermal System").
-- route_in(groups, med): true when the med's route is one of the route groups listed (a table's
-- "routes" column; "systemic" = oral, iv, im, sc, sublingual, buccal, rectal, transdermal), when
-- the list is empty or nil (every route), or when the med's route is unknown (a drug ordered by
-- ingredient alone is checked, not passed over).
local SYSTEMIC_ROUTES = { "oral", "iv", "im", "sc", "sublingual", "buccal", "rectal", "transdermal" }
local INJECTION = { "iv", "im", "sc" }
-- Words of a product name (lower case) and the route they say; when several words say a route, the
-- one listed first wins ("Ophthalmic Ointment" is ophthalmic, not topical). Words ending in "-"
-- stand for every word starting so ("inhal-": inhalation, inhaler, inhalant).
local ROUTE_WORDS = {
  "ophthalmic", "ophthalmic", "otic", "otic", "nasal", "nasal", "inhal-", "inhaled", "nebuli-", "inhaled",
  "vaginal", "vaginal", "rectal", "rectal", "enema", "rectal", "suppositor-", "rectal",
  "transdermal", "transdermal", "patch", "transdermal", "intrathecal", "intrathecal", "epidural", "epidural",
  "sublingual", "sublingual", "buccal", "buccal", "topical", "topical", "cream", "topical",
  "ointment", "topical", "lotion", "topical", "shampoo", "topical", "intravenous", "iv",
  "intramuscular", "im", "subcutaneous", "sc", "oral", "oral", "tablet", "oral", "capsule", "oral",
  "syrup", "oral", "elixir", "oral", "lozenge", "oral", "inject-", INJECTION, "syringe", INJECTION,
  "cartridge", INJECTION, "infusion", { "iv" },
}
local ROUTE_WORD, ROUTE_PREFIX = {}, {}   -- word or prefix -> { rank, groups }
for i = 1, #ROUTE_WORDS, 2 do
  local w, g = ROUTE_WORDS[i], ROUTE_WORDS[i + 1]
  local entry = { (i + 1) // 2, type(g) == "table" and g or { g } }
  if w:sub(-1) == "-" then ROUTE_PREFIX[w:sub(1, -2)] = entry else ROUTE_WORD[w] = entry end
end
local PREFIX_LENGTHS = {}
for p in pairs(ROUTE_PREFIX) do PREFIX_LENGTHS[#p] = true end

-- The route a product's name says, or nil.
local function name_route(text)
  if type(text) ~= "string" then return nil end
  local best
  for w in text:lower():gmatch("%a+") do
    local e = ROUTE_WORD[w]
    if not e then
      for n in pairs(PREFIX_LENGTHS) do
        e = ROUTE_PREFIX[w:sub(1, n)]
        if e then break end
      end
    end
    if e and (not best or e[1] < best[1]) then best = e end
  end
  return best
end

-- An order being placed: its dosage's route first (what is ordered now). Another order: its
-- product name first — reading an active order's dosage costs a parse that the name spares.
-- Kept per med table (weak keys: a request's tables go with it), since checks ask for the same
-- order's route row after row; the set returned is shared: read it, do not change it.
local ROUTES_OF = setmetatable({}, { __mode = "k" })
local NO_ROUTE = {}
local route_of
function med_route(med)
  local r = ROUTES_OF[med]
  if r == nil then
    r = route_of(med) or NO_ROUTE
    ROUTES_OF[med] = r
  end
  if r == NO_ROUTE then return nil end
  return r
end

route_of = function(med)
  local best
  if not med.selected then best = name_route(med.text) end
  if not best then
    local dose = med.dose
    local r = type(dose) == "table" and dose.route or nil
    if r then return { [r] = true } end
    if med.selected then best = name_route(med.text) end
  end
  if not best then return nil end
  local out = {}
  for _, g in ipairs(best[2]) do out[g] = true end
  return out
end

function route_in(groups, med)
  if groups == nil or #groups == 0 then return true end
  local routes = med_route(med)
  if not routes then return true end
  for _, g in ipairs(groups) do
    if g == "any" or routes[g] then return true end
    if g == "systemic" then
      for _, s in ipairs(SYSTEMIC_ROUTES) do if routes[s] then return true end end
    end
  end
  return false
end
