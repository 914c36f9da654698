#!/bin/sh
# cli_test.sh — command-level checks of the cdsd binary, as a user runs it.
# usage: cli_test.sh path/to/cdsd   (run from the repository root)
set -u
CDSD="$1"
fails=0; passes=0
check() { # name, then a command that must succeed
    name="$1"; shift
    if "$@"; then passes=$((passes + 1)); else echo "FAIL: $name"; fails=$((fails + 1)); fi
}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT

# eval answers the CDS Hooks spec examples (copied into fixtures/requests) with a response
"$CDSD" eval --at 2025-03-01T09:00:00Z medication-safety fixtures/requests/spec-90-composed-order-sign-ddi.json >"$T/out" 2>"$T/err"
check "eval exits 0" test $? -eq 0
check "eval prints cards" grep -q '"cards": \[' "$T/out"
check "eval finds warfarin + aspirin" grep -q 'Major interaction: warfarin with aspirin' "$T/out"
check "cards carry the rule id" grep -q '"code": "ddi.interaction"' "$T/out"

# a malformed request is a bad_request naming the field, exit 1
printf '{"hook":"order-sign","hookInstance":"x","context":{"userId":"Practitioner/1","patientId":"p","draftOrders":{"resourceType":"Bundle","entry":[{"resource":7}]}}}' >"$T/bad.json"
"$CDSD" eval medication-safety "$T/bad.json" >"$T/out" 2>"$T/err"
check "bad request exits 1" test $? -eq 1
check "bad request names the path" grep -q '"path": "request.context.draftOrders.entry\[0\].resource"' "$T/err"
printf '{"hook": "order-sign",\n "context": {,}}' >"$T/bad2.json"
"$CDSD" eval medication-safety "$T/bad2.json" >"$T/out" 2>"$T/err"
check "malformed JSON says the line" grep -q 'line 2 column' "$T/err"
"$CDSD" eval no-such-service fixtures/requests/spec-90-composed-order-sign-ddi.json >"$T/out" 2>"$T/err"
check "unknown service" grep -q '"code": "unknown_service"' "$T/err"

# a pharmacist's typo is reported as file:line
mkdir -p "$T/rules/p"
cp rules/manifest.lua "$T/rules/"
printf 'pack { name = "p", version = "1" }\n' >"$T/rules/p/pack.lua"
printf -- '-- rule with a typo\nrule {\n  id = "ddi.x", version = "1", title = "x", hooks = { "order-sign" },\n  severty = "high",\n  evaluate = function(ctx) end,\n}\n' >"$T/rules/p/ddi.lua"
"$CDSD" lint --rules "$T/rules" >"$T/out" 2>"$T/err"
check "lint fails on a typo" test $? -ne 0
check "lint names file:line and the field" grep -q "$T/rules/p/ddi.lua:2: rule 'ddi.x': unknown field 'severty'" "$T/err"

echo "$passes passed, $fails failed"
test "$fails" -eq 0
