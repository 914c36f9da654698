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
check "lint names file:line and the field" grep -q "$T/rules/p/ddi.lua:4: rule 'ddi.x': unknown field 'severty'" "$T/err"

# order sets written in Lua are checked when the rule file loads (issue 24, point 13): a class
# typo, an unknown key, bad days or a mistyped LOINC code is a load error at the set's file:line
cp -r rules "$T/os"
OSM="$T/os/ordersets/monitoring.lua"; OSC="$T/os/ordersets/chronic_care.lua"
cp "$OSM" "$T/monitoring.orig"; cp "$OSC" "$T/chronic.orig"
setline() { grep -n "order_set { id = \"$1\"" "$2" | cut -d: -f1; }
lint_os() { # sed expression on a file of $T/os; the lint output is in $T/err
    cp "$T/monitoring.orig" "$OSM"; cp "$T/chronic.orig" "$OSC"
    sed -i "$1" "$2"
    "$CDSD" lint --rules "$T/os" >"$T/out" 2>"$T/err"
}
lint_os 's/"class:potassium-sparing-agents-potassium" }, all/"class:potassium-sparing-agent-potassium" }, all/' "$OSM"
check "lint fails on a class typo in an order set" test $? -ne 0
check "  with file:line, the set and a hint" grep -q "$OSM:$(setline raas-potassium "$OSM"): order set 'raas-potassium': when\[2\] 'class:potassium-sparing-agent-potassium': no class 'potassium-sparing-agent-potassium' in the knowledge base (did you mean 'class:potassium-sparing-agents-potassium'?)" "$T/err"
lint_os 's/when = { "amiodarone" }/when = { "amiodarne" }/' "$OSM"
check "an unknown ingredient name in an order set is a load error with file:line" grep -q "$OSM:$(setline amiodarone "$OSM"): order set 'amiodarone': when\[1\] 'amiodarne': no ingredient named 'amiodarne' in the knowledge base (did you mean 'amiodarone'?)" "$T/err"
lint_os '/id = "amiodarone"/,/source =/s/"24325-3", display = \(.*\), days = 180/"24325-3", display = \1, dasy = 180/' "$OSM"
check "lint fails on an unknown key in an order set" test $? -ne 0
check "  naming file:line, the set, the order, the key and the allowed keys" grep -q "$OSM:$(setline amiodarone "$OSM"): order set 'amiodarone': orders\[2\] (24325-3): unknown key 'dasy' (allowed: code, display, days, also, components, start_days, not_at_start, at_start)" "$T/err"
lint_os 's/"INR in Platelet poor plasma by Coagulation assay", days = 7,/"INR in Platelet poor plasma by Coagulation assay", days = 0,/' "$OSM"
check "lint fails on bad days in an order set" test $? -ne 0
check "  with file:line" grep -q "$OSM:$(setline warfarin "$OSM"): order set 'warfarin': orders\[1\] (6301-6): 'days' must be a whole number of days from 1 to 3650, got 0" "$T/err"
lint_os 's/days = 365, also = { "14959-1" }/days = 36.5, also = { "14959-1" }/' "$OSC"
check "  days that are not whole are a load error too" grep -q "$OSC:$(setline t2dm "$OSC"): order set 't2dm': orders\[3\] (9318-7): 'days' must be a whole number of days from 1 to 3650, got 36.5" "$T/err"
lint_os 's/{ code = "6301-6"/{ code = "6301-5"/' "$OSM"
check "lint fails on a mistyped LOINC code in an order set" test $? -ne 0
check "  with file:line" grep -q "$OSM:$(setline warfarin "$OSM"): order set 'warfarin': orders\[1\] (6301-5): 'code' '6301-5': its LOINC check digit does not match" "$T/err"
lint_os 's/conditions = { "44054006" }/conditions = { "44054007" }/' "$OSC"
check "a mistyped SNOMED CT code in an order set is a load error with file:line" grep -q "$OSC:$(setline t2dm "$OSC"): order set 't2dm': conditions\[1\] '44054007': its SNOMED CT check digit does not match" "$T/err"
# valid codes whose check digit needs every row of the Verhoeff table (the fifth row was once
# wrong, rejecting about one real code in six: 77386006 pregnancy, 195967001 asthma)
lint_os 's/conditions = { "44054006" }/conditions = { "44054006", "195967001", "77386006", "59282003" }/' "$OSC"
check "real SNOMED CT codes pass the check digit" test $? -eq 0
# components (issue 16, check 6): the parts that together stand for a panel, LOINC-checked too
lint_os 's/^local CBC = { "6690-2", "718-7", "777-3" }/local CBC = { "6690-2", "718-7", "777-4" }/' "$OSM"
check "a mistyped LOINC code among an order's components is a load error" test $? -ne 0
check "  with file:line, the set, the order and the component" grep -q "$OSM:$(setline methotrexate "$OSM"): order set 'methotrexate': orders\[1\] (58410-2): components\[3\] '777-4': its LOINC check digit does not match" "$T/err"
lint_os 's/^local LFT = { "1742-6", "1920-8" }/local LFT = { "1742-6" }/' "$OSM"
check "  a single component (no panel) is a load error" grep -q "$OSM:$(setline amiodarone "$OSM"): order set 'amiodarone': orders\[2\] (24325-3): 'components' must list at least two LOINC codes" "$T/err"
lint_os 's/^--/--/' "$OSM"   # a no-op edit: the shipped sets load
check "the shipped order sets pass these checks" test $? -eq 0
check "  without a message" test "$(grep -c "order set" "$T/err")" -eq 0

# A pack's tables (tables/NAME.tsv, read by knowledge_table()) are checked when the rules load:
# every bad cell is a load error at file:line, and lint fails
cp -r rules "$T/tb"
DDT="$T/tb/context/tables/drug_disease.tsv"
cp "$DDT" "$T/dd.orig"
lint_tb() { cp "$T/dd.orig" "$DDT"; sed -i "$1" "$DDT"; "$CDSD" lint --rules "$T/tb" >"$T/out" 2>"$T/err"; }
ddline() { grep -n "^$1	" "$T/dd.orig" | cut -d: -f1; }
lint_tb 's/^DD001\tclass:fluoroquinolones/DD001\tclass:fluoroquinolone/'
check "a table row naming an unknown class fails lint" test $? -ne 0
check "  at file:line, with a suggestion" grep -q "drug_disease.tsv:$(ddline DD001): column 'drug': 'class:fluoroquinolone': no class 'fluoroquinolone' in the knowledge base (did you mean 'class:fluoroquinolones'?)" "$T/err"
lint_tb 's/^DD002\(.*\)\twarning\t/DD002\1\twarnign\t/'
check "a severity outside its set fails lint at file:line" grep -q "drug_disease.tsv:$(ddline DD002): column 'severity': 'warnign' must be one of critical, warning, info" "$T/err"
lint_tb 's/sct:91637004;/sct:91637005;/'
check "a mistyped SNOMED CT code in a table fails lint at file:line" grep -q "drug_disease.tsv:$(ddline DD001): column 'conditions': '91637005': its SNOMED CT check digit does not match" "$T/err"
lint_tb 's/^id\tdrug\t/id\tdrugg\t/'
check "an unknown column fails lint at the header's line" grep -q "drug_disease.tsv:$(grep -n '^id	' "$T/dd.orig" | cut -d: -f1): unknown column 'drugg'" "$T/err"
lint_tb 's/^DD003\t/DD001\t/'
check "a duplicate id fails lint" grep -q "drug_disease.tsv:$(ddline DD003): id 'DD001' is already used on line $(ddline DD001)" "$T/err"
lint_tb 's/^DD004\(\t[^\t]*\t[^\t]*\t\)[^\t]*/DD004\1/'
check "an empty required cell fails lint" grep -q "drug_disease.tsv:$(ddline DD004): column 'conditions' is empty (required)" "$T/err"
cp "$T/dd.orig" "$DDT"
# the same for the tables of the duplication and age checks (rules/context/duplication.lua, age.lua)
DUPT="$T/tb/context/tables/duplication.tsv"
cp "$DUPT" "$T/dup.orig"
lint_dup() { cp "$T/dup.orig" "$DUPT"; sed -i "$1" "$DUPT"; "$CDSD" lint --rules "$T/tb" >"$T/out" 2>"$T/err"; }
dupline() { grep -n "^$1	" "$T/dup.orig" | cut -d: -f1; }
lint_dup 's/^\(DUP002\t[^\t]*\t[^\t]*\t\)oral\t/\1orall\t/'
check "duplication.tsv: a route that is not a route group fails lint" test $? -ne 0
check "  at file:line" grep -q "duplication.tsv:$(dupline DUP002): column 'routes': 'orall' is not a route group" "$T/err"
lint_dup 's/11289+5224;/11289-5224;/'
check "duplication.tsv: a malformed exempt pair fails lint at file:line" grep -q "duplication.tsv:$(dupline DUP014): column 'exempt': '11289-5224' is not a pair RXCUI+RXCUI" "$T/err"
lint_dup 's/^\(DUP002\t[^\t]*\t[^\t]*\t[^\t]*\t\)1\t/\10\t/'
check "duplication.tsv: an allowance of 0 fails lint at file:line" grep -q "duplication.tsv:$(dupline DUP002): column 'allowance': must be 1 or more" "$T/err"
cp "$T/dup.orig" "$DUPT"
AGET="$T/tb/context/tables/age_cautions.tsv"
cp "$AGET" "$T/age.orig"
lint_age() { cp "$T/age.orig" "$AGET"; sed -i "$1" "$AGET"; "$CDSD" lint --rules "$T/tb" >"$T/out" 2>"$T/err"; }
ageline() { grep -n "^$1	" "$T/age.orig" | cut -d: -f1; }
lint_age 's/^AGE035\t10395\t/AGE035\t103955\t/'
check "age_cautions.tsv: an unknown drug code fails lint" test $? -ne 0
check "  at file:line" grep -q "age_cautions.tsv:$(ageline AGE035): column 'drug': " "$T/err"
lint_age 's/^\(AGE041\t[^\t]*\t[^\t]*\t[^\t]*\t\)4383\t6575\t/\16575\t4383\t/'
check "age_cautions.tsv: a band whose minimum is not below its maximum fails lint at file:line" grep -q "age_cautions.tsv:$(ageline AGE041): age_min_days 6575 is not below age_max_days 4383" "$T/err"
lint_age 's/^\(AGE016\t.*\t\)sct:84757009;/\1sct:84757008;/'
check "age_cautions.tsv: a mistyped exception code fails lint at file:line" grep -q "age_cautions.tsv:$(ageline AGE016): column 'except_conditions': '84757008': its SNOMED CT check digit does not match" "$T/err"
cp "$T/age.orig" "$AGET"

# the pregnancy/lactation, status-code and drug-lab tables (issue 16, checks 4 and 5): one bad
# cell each fails lint at file:line
lint_ctx() { # table name, sed expression
    cp -r rules "$T/ctx$1" 2>/dev/null || true
    f="$T/ctx$1/context/tables/$1.tsv"; cp "rules/context/tables/$1.tsv" "$f"; sed -i "$2" "$f"
    "$CDSD" lint --rules "$T/ctx$1" >"$T/out" 2>"$T/err"
}
tline() { grep -n "$2" "rules/context/tables/$1.tsv" | head -1 | cut -d: -f1; }
lint_ctx pregnancy_lactation 's/^PL010\(\t[^\t]*\t[^\t]*\t\)pregnancy\t/PL010\1pregnant\t/'
check "pregnancy_lactation.tsv: a state outside its set fails lint" test $? -ne 0
check "  at file:line" grep -q "pregnancy_lactation.tsv:$(tline pregnancy_lactation '^PL010	'): column 'state': 'pregnant' must be one of pregnancy, lactation" "$T/err"
lint_ctx pregnancy_lactation 's/^PL037\(\t.*\t\)no\t/PL037\1yes\t/'
check "  requires_negative_test on a lactation row fails lint at file:line" grep -q "pregnancy_lactation.tsv:$(tline pregnancy_lactation '^PL037	'): requires_negative_test = yes is for pregnancy rows only" "$T/err"
lint_ctx status_codes 's/^sct\t77386006\t/sct\t77386007\t/'
check "status_codes.tsv: a mistyped SNOMED CT code fails lint" test $? -ne 0
check "  at file:line" grep -q "status_codes.tsv:$(tline status_codes '^sct	77386006	'): '77386007': its SNOMED CT check digit does not match" "$T/err"
lint_ctx status_codes 's/^loinc\t82810-3\t/loinc\t82810-4\t/'
check "  a mistyped LOINC observation code fails lint at file:line" grep -q "status_codes.tsv:$(tline status_codes '^loinc	82810-3	'): '82810-4': its LOINC check digit does not match" "$T/err"
lint_ctx drug_lab 's/^\(DL001\t.*\t\)mmol\/L\t7\t/\1mmol\/dL\t7\t/'
check "drug_lab.tsv: a unit the check cannot compare fails lint" test $? -ne 0
check "  at file:line" grep -q "drug_lab.tsv:$(tline drug_lab '^DL001	'): column 'unit': 'mmol/dL' is not a unit this check can compare" "$T/err"
lint_ctx drug_lab 's/^\(DL008\t[^\t]*\t[^\t]*\t\)6301-6;/\16301-5;/'
check "  a mistyped LOINC code fails lint at file:line" grep -q "drug_lab.tsv:$(tline drug_lab '^DL008	'): column 'loinc': '6301-5': its LOINC check digit does not match" "$T/err"

# lint's overlap check: two interaction rows matching one ingredient pair with different
# severities are an error; with the same severity a warning (lint still passes)
cp -r rules "$T/ov"
IXT="$T/ov/interactions/knowledge/interactions.tsv"
cp "$IXT" "$T/ix.orig"
ixrow() { printf '%s\t%s\t%s\t161\tAcetaminophen\t%s\tcurated\tm\tc\tmanage\t\t\tsource\tprov\n' "$1" "$2" "$3" "$4" >>"$IXT"; }
ixrow DDI900 29046 Lisinopril minor; ixrow DDI901 class:ace-inhibitors "ACE inhibitors" major
"$CDSD" lint --rules "$T/ov" >"$T/out" 2>"$T/err"
check "lint fails on overlapping interaction rows of different severity" test $? -ne 0
check "  naming both rows and the pair" grep -q "interactions: error: rows DDI900 (minor) and DDI901 (major) both match 1 ingredient pair, e.g. .*acetaminophen" "$T/err"
cp "$T/ix.orig" "$IXT"
ixrow DDI900 29046 Lisinopril major; ixrow DDI901 class:ace-inhibitors "ACE inhibitors" major
"$CDSD" lint --rules "$T/ov" >"$T/out" 2>"$T/err"
check "overlapping rows of one severity pass lint" test $? -eq 0
check "  with a warning" grep -q "interactions: warning: rows DDI900 (major) and DDI901 (major) both match 1 ingredient pair" "$T/err"

# kb build on a fresh checkout creates the directory it writes to
"$CDSD" kb build --out "$T/newdir/kb.sqlite" >"$T/out" 2>&1
check "kb build creates its output directory" test -s "$T/newdir/kb.sqlite"

# kb import-rxnorm on a small RRF sample in NLM's column layout
conso() { printf '%s|ENG||||||||||RXNORM|%s|%s|%s||N||\n' "$1" "$2" "$1" "$3"; }
rel() { printf '%s|||RO|%s|||%s||RXNORM|RXNORM|||||\n' "$1" "$2" "$3"; }
{ conso 11289 IN warfarin; conso 1001 PIN "warfarin sodium"; conso 202421 BN Coumadin
  conso 855331 SCDC "warfarin sodium 5 MG"; conso 855332 SCD "warfarin sodium 5 MG Oral Tablet"
  conso 855334 SBD "warfarin sodium 5 MG Oral Tablet [Coumadin]"; conso 5640 IN ibuprofen
  printf '9999|ENG||||||||||MTHSPL|SCD|9999|not rxnorm||N||\n'; } >"$T/RXNCONSO.RRF"
{ rel 11289 1001 form_of; rel 11289 202421 tradename_of; rel 855331 855332 consists_of
  rel 11289 855331 has_ingredient; rel 855332 855334 tradename_of; } >"$T/RXNREL.RRF"
"$CDSD" kb import-rxnorm --out-dir "$T/vocab" "$T/RXNCONSO.RRF" "$T/RXNREL.RRF" >"$T/out" 2>"$T/err"
check "import-rxnorm exits 0" test $? -eq 0
check "ingredient with its brand" grep -q "$(printf '^11289\twarfarin\t\tCoumadin\t')" "$T/vocab/knowledge/ingredients.tsv"
check "precise ingredient with its base" grep -q "$(printf '^1001\twarfarin sodium\t11289\t')" "$T/vocab/knowledge/ingredients.tsv"
check "clinical drug -> ingredient" grep -q "$(printf '^855332\t.*\tSCD\t11289\t')" "$T/vocab/knowledge/products.tsv"
check "branded drug -> ingredient" grep -q "$(printf '^855334\t.*\tSBD\t11289\t')" "$T/vocab/knowledge/products.tsv"
check "other sources ignored" test "$(grep -c 9999 "$T/vocab/knowledge/products.tsv")" -eq 0
printf '1|ENG|short line\n' >>"$T/RXNCONSO.RRF"
"$CDSD" kb import-rxnorm --out-dir "$T/vocab2" "$T/RXNCONSO.RRF" "$T/RXNREL.RRF" >"$T/out" 2>"$T/err"
check "a malformed RRF row is an error with file:line" grep -q "RXNCONSO.RRF:9: expected 18" "$T/err"

# serve with --audit-requests, then report and replay against a changed rule set
"$CDSD" serve --listen "ipc://$T/cdsd.sock" --state "$T/var" --fixtures none --audit-requests --log-level error &
SERVER=$!
for i in 1 2 3 4 5 6 7 8 9 10 20 30 40 50; do "$CDSD" call --connect "ipc://$T/cdsd.sock" health >/dev/null 2>&1 && break; sleep 0.2; done
"$CDSD" call --connect "ipc://$T/cdsd.sock" call medication-safety fixtures/requests/spec-90-composed-order-sign-ddi.json >"$T/out" 2>&1
check "call over ipc" grep -q '"decision"' "$T/out"
FIRST=$(grep -o '"decision": *"[^"]*"' "$T/out" | sed 's/.*: *"//; s/"$//')
kill -TERM $SERVER; wait $SERVER
check "server exits 0 on SIGTERM" test $? -eq 0
# cdsd explain (issue 18 part 4): each card with what produced it, and the stored request
"$CDSD" explain "$FIRST" --state "$T/var" >"$T/out" 2>&1
check "explain exits 0 for a stored decision" test $? -eq 0
check "  names the interaction's orders" sh -c "grep -A2 ddi.interaction '$T/out' | grep -q 'matched:  MedicationRequest/draft-rx-1'"
check "  and its knowledge row" grep -q "rows:     interactions DDI017" "$T/out"
check "  and the monitoring rule's order set and the test due" grep -q "due = 6301-6" "$T/out"
check "  and the request kept with --audit-requests" grep -q '"hookInstance": "6f1c2a7e-0b3d-4c57-9a8e-2f4d1b9c3e10"' "$T/out"
"$CDSD" explain 01a00000-0000-7000-8000-000000000000 --state "$T/var" >"$T/out" 2>&1
check "explain of an unknown decision exits 1" test $? -eq 1
check "  saying so" grep -q "is not in the audit history" "$T/out"
"$CDSD" audit verify --state "$T/var" >"$T/out" 2>&1
check "audit chain intact" grep -q "intact: 1 decisions" "$T/out"
"$CDSD" report --state "$T/var" >"$T/out" 2>&1
check "report lists the rule" grep -q "^ddi.interaction" "$T/out"
"$CDSD" report --state "$T/var" --format html --out "$T/report.html"
check "html report written" grep -q "<svg" "$T/report.html"
check "  showing cdsd explain for a rule's latest decision" grep -q "<code>cdsd explain $FIRST</code>" "$T/report.html"
cp -r rules "$T/rules2"
sed -i 's/^\(curated\tmajor\t[^\t]*\t\)warning\t/\1critical\t/' "$T/rules2/interactions/tables/ddi_policy.tsv"   # the site policy
"$CDSD" replay --pack "$T/rules2" --state "$T/var" >"$T/out" 2>&1
check "replay shows the indicator change" grep -q "changes     ddi.interaction          warning -> critical" "$T/out"

# archive round trip (issue 23): the first call's entry moves to a compressed archive; verify,
# report and replay read archive + live as one history
sleep 1.1; CUT=$(date -u +%Y-%m-%dT%H:%M:%SZ); sleep 1
"$CDSD" serve --listen "ipc://$T/cdsd.sock" --state "$T/var" --fixtures none --audit-requests --log-level error &
SERVER=$!
for i in 1 2 3 4 5 6 7 8 9 10 20 30 40 50; do "$CDSD" call --connect "ipc://$T/cdsd.sock" health >/dev/null 2>&1 && break; sleep 0.2; done
"$CDSD" call --connect "ipc://$T/cdsd.sock" call medication-safety fixtures/requests/spec-90-composed-order-sign-ddi.json >/dev/null 2>&1
"$CDSD" audit archive --state "$T/var" --before "$CUT" >"$T/out" 2>&1
check "archive while serving moves the older decision" grep -q "archived entries 1-1 (1 decisions, 0 feedback entries)" "$T/out"
kill -TERM $SERVER; wait $SERVER
ARCH="$T/var/audit-archive/audit-until-$(echo "$CUT" | cut -c1-10).db.gz"
check "  into a gzip file" sh -c "gzip -t '$ARCH'"
"$CDSD" audit verify --state "$T/var" >"$T/out" 2>&1
check "archive and live verify as one history" test $? -eq 0
check "  archive first" grep -q "intact: 1 decisions, 0 feedback entries (entries 1-1 of .*audit-until" "$T/out"
check "  then the live log" grep -q "intact: 1 decisions, 0 feedback entries (entries 2-2 of .*audit.db)" "$T/out"
"$CDSD" report --audit "$ARCH" >"$T/out" 2>&1
check "report reads the archive" grep -q "^cdsd alert report: 1 decisions" "$T/out"
"$CDSD" replay --pack "$T/rules2" --state "$T/var" >"$T/out" 2>&1
check "replay reads archive + live" grep -q "^2 decisions replayed" "$T/out"
check "  and both show the change" test "$(grep -c 'changes     ddi.interaction          warning -> critical' "$T/out")" -eq 2
"$CDSD" explain "$FIRST" --state "$T/var" >"$T/out" 2>&1
check "explain finds a decision in the archive" grep -q "^decision $FIRST .*audit-until" "$T/out"
check "  with its explanations" grep -q "rows:     interactions DDI017" "$T/out"

# audit export (issue 19): archive then live log in chain order, each line with its cursor;
# --since resumes after a cursor; a changed entry stops the export after the entries before it
"$CDSD" audit export --state "$T/var" >"$T/out" 2>"$T/err"
check "audit export exits 0" test $? -eq 0
check "  archive and live log in chain order" test "$(grep -o '"cursor":[0-9]*' "$T/out" | tr '\n' ' ')" = '"cursor":1 "cursor":2 '
check "  with the cards" grep -q '"rule":"ddi.interaction","indicator":"warning"' "$T/out"
check "  the patient as its key only" sh -c "grep -q '\"patient_key\":\"[0-9a-f]\{64\}\"' '$T/out' && ! grep -q 1288992 '$T/out'"
"$CDSD" audit export --state "$T/var" --since 1 >"$T/out" 2>&1
check "  --since resumes after the cursor, once" test "$(grep -o '"cursor":[0-9]*' "$T/out" | tr '\n' ' ')" = '"cursor":2 '
"$CDSD" audit export --state "$T/var" --format fhir-auditevent >"$T/out" 2>&1
check "  as FHIR AuditEvent" test "$(grep -c '^{"resourceType":"AuditEvent".*"action":"E"' "$T/out")" -eq 2
cp -r "$T/var" "$T/tampered"
sqlite3 "$T/tampered/audit.db" "UPDATE decision SET caller = 'someone' WHERE seq = 2"
"$CDSD" audit export --state "$T/tampered" >"$T/out" 2>"$T/err"
check "  a changed entry stops it" test $? -eq 1
check "  after the entries before it" test "$(grep -o '"cursor":[0-9]*' "$T/out" | tr '\n' ' ')" = '"cursor":1 '
check "  and says where" sh -c "grep -q 'chain broken at entry 2 ' '$T/err' && grep -q 'nothing after entry 1 exported' '$T/err'"

# report over several audit databases (two state directories, e.g. two replicas): merged
"$CDSD" report --state "$T/var" --state "$T/tampered" >"$T/out" 2>&1
check "report merges two state directories" grep -q "^cdsd alert report: 2 decisions .*(2 audit databases merged)" "$T/out"
check "  per rule" grep -Eq "^ddi.interaction +2 +2 " "$T/out"
"$CDSD" report --state "$T/var" --audit "$ARCH" >"$T/out" 2>&1
check "  and a state directory with an archive" grep -q "^medication-safety  *2 " "$T/out"

# a malformed fixture fails with a reason instead of matching every card
printf '{"service":"medication-safety","request_file":"%s/fixtures/requests/spec-90-composed-order-sign-ddi.json","expect":["ddi"]}' "$(pwd)" >"$T/badfx.json"
"$CDSD" test "$T/badfx.json" >"$T/out" 2>&1
check "a malformed expectation fails the fixture" test $? -ne 0
check "and says which entry" grep -q 'expect\[0\] must be an object' "$T/out"

# a fixture cannot pass by mistake: unknown keys and rule patterns that match no rule are errors
# with file:line (issue 24, point 10)
REQF="$(pwd)/fixtures/requests/spec-90-composed-order-sign-ddi.json"
printf '{\n "service": "medication-safety",\n "request_file": "%s",\n "expects": [{"rule": "ddi.interaction"}]\n}\n' "$REQF" >"$T/fx-expects.json"
"$CDSD" test "$T/fx-expects.json" >"$T/out" 2>&1
check "an unknown fixture key fails the fixture" test $? -ne 0
check "  naming file:line and the key, with a hint" grep -q "fx-expects.json:4: unknown key 'expects' (did you mean 'expect'?)" "$T/out"
printf '{\n "service": "medication-safety",\n "request_file": "%s",\n "expect": [\n  {"rule": "ddi.interaction",\n   "severity": "critical"}\n ]\n}\n' "$REQF" >"$T/fx-severity.json"
"$CDSD" test "$T/fx-severity.json" >"$T/out" 2>&1
check "'severity' in an expectation fails the fixture" test $? -ne 0
check "  naming file:line and the key" grep -q "fx-severity.json:6: expect\[0\]: unknown key 'severity' (did you mean 'indicator'?)" "$T/out"
printf '{\n "service": "medication-safety",\n "request_file": "%s",\n "forbid": [\n  {"rule": "ddi.interactions"}\n ]\n}\n' "$REQF" >"$T/fx-forbid.json"
"$CDSD" test "$T/fx-forbid.json" >"$T/out" 2>&1
check "a forbid rule pattern that matches no rule fails the fixture" test $? -ne 0
check "  naming file:line, the pattern and the nearest rule" grep -q "fx-forbid.json:5: forbid\[0\].rule 'ddi.interactions' matches no rule of the rule set (did you mean 'ddi.interaction'?)" "$T/out"
printf '{\n "service": "medication-safety",\n "request_file": "%s",\n "expect": [{"rule": "ddi.interaction", "indicator": "Critical"}]\n}\n' "$REQF" >"$T/fx-ind.json"
"$CDSD" test "$T/fx-ind.json" >"$T/out" 2>&1
check "an indicator outside info/warning/critical is an error with file:line" grep -q "fx-ind.json:4: expect\[0\].indicator 'Critical' must be info, warning or critical" "$T/out"
printf '{\n "service": "medication-safety",\n "request_file": "%s",\n "expect": [{"rule": "ddi.interaction"}],\n}\n' "$REQF" >"$T/fx-comma.json"
"$CDSD" test "$T/fx-comma.json" >"$T/out" 2>&1
check "a fixture that is not valid JSON fails instead of being skipped" grep -q "FAIL .*fx-comma.json" "$T/out"
check "  with line and column" grep -q "fx-comma.json: line 5 column [0-9]*: malformed JSON" "$T/out"
printf '{\n "servce": "medication-safety",\n "request_file": "%s",\n "expect": [{"rule": "ddi.interaction"}]\n}\n' "$REQF" >"$T/fx-noservice.json"
"$CDSD" test "$T/fx-noservice.json" >"$T/out" 2>&1
check "a fixture without 'service' fails instead of being skipped" grep -q "fx-noservice.json:2: unknown key 'servce' (did you mean 'service'?)" "$T/out"

# the patient shorthand (issue 24, point 12): no hand-written FHIR; ages follow "at"
cat >"$T/fx-short.json" <<'EOF2'
{
 "description": "shorthand: warfarin active, ibuprofen ordered, 72 with prednisone and an ulcer",
 "service": "medication-safety",
 "at": "2025-03-01T09:00:00Z",
 "patient": {"age": 72, "sex": "female", "weight_kg": 70},
 "medications": [{"rxnorm": "855332"}, {"rxnorm": "312617"}],
 "conditions": [{"snomed": "12847006", "display": "Acute duodenal ulcer with hemorrhage"}],
 "results": [{"loinc": "6301-6", "value": 2.4, "unit": "{INR}", "days_ago": 3}],
 "drafts": [{"rxnorm": "197805"}],
 "expect": [{"rule": "pddi.warfarin-nsaid", "indicator": "critical", "summary": "3 risk factors"}],
 "forbid": [{"rule": "orders.monitoring"}]
}
EOF2
"$CDSD" test "$T/fx-short.json" >"$T/out" 2>&1
check "a shorthand fixture runs and passes" grep -q "^1 passed, 0 failed" "$T/out"
sed 's/"age": 72/"age": 60/' "$T/fx-short.json" >"$T/fx-short60.json"
"$CDSD" test "$T/fx-short60.json" >"$T/out" 2>&1
check "  its age reaches the rules (60: two risk factors, not three)" grep -q "expected card not produced" "$T/out"
printf '{\n "service": "medication-safety", "at": "2025-03-01T09:00:00Z",\n "patient": {"age": 50},\n "results": [{"loinc": "6301-6", "value": 2.4, "days_ago": 3}],\n "drafts": [{"rxnorm": "855332"}],\n "forbid": [{"rule": "orders.monitoring"}]\n}\n' >"$T/fx-inr.json"
"$CDSD" test "$T/fx-inr.json" >"$T/out" 2>&1
check "  a result 3 days old counts as recent" grep -q "^1 passed, 0 failed" "$T/out"
sed 's/"days_ago": 3/"days_ago": 40/' "$T/fx-inr.json" >"$T/fx-inr-old.json"
"$CDSD" test "$T/fx-inr-old.json" >"$T/out" 2>&1
check "  one 40 days old does not (result times follow days_ago)" grep -q 'forbidden card produced.*orders.monitoring' "$T/out"
printf '{\n "service": "medication-safety",\n "request_file": "%s",\n "allergies": [{"snomed": "91936005"}]\n}\n' "$REQF" >"$T/fx-mixed.json"
"$CDSD" test "$T/fx-mixed.json" >"$T/out" 2>&1
check "shorthand lists without \"patient\" are an error with file:line" grep -q "fx-mixed.json:4: 'allergies' belongs to the patient shorthand" "$T/out"
printf '{\n "service": "medication-safety",\n "patient": {"age": 40},\n "allergies": [{"snomed": "91936005",\n   "criticality": "severe"}]\n}\n' >"$T/fx-crit.json"
"$CDSD" test "$T/fx-crit.json" >"$T/out" 2>&1
check "a shorthand value outside its set is an error with file:line" grep -q "fx-crit.json:5: allergies\[0\].criticality 'severe' must be low, high or unable-to-assess" "$T/out"

# new-rule starts a rule that does nothing until it is written (issue 24, point 15): its firing
# fixture fails, its silent one passes, and the shipped fixtures still pass beside it
cp -r rules "$T/r3"; mkdir -p "$T/f3"
"$CDSD" new-rule --rules "$T/r3" --fixtures "$T/f3" interactions ddi.example-pair >"$T/out" 2>&1
check "new-rule creates the rule" test -f "$T/r3/interactions/ddi_example-pair.lua"
check "  and says it does nothing until written" grep -q "does nothing until" "$T/out"
"$CDSD" lint --rules "$T/r3" >"$T/out" 2>&1
check "the new rule loads" test $? -eq 0
"$CDSD" test --rules "$T/r3" "$T/f3" >"$T/out" 2>&1
check "its firing fixture fails until the rule is written" grep -q "^1 passed, 1 failed" "$T/out"
check "  with the reason" grep -q 'FAIL .*ddi_example-pair-fires.json' "$T/out"
"$CDSD" test --quiet --rules "$T/r3" fixtures >"$T/out" 2>&1
check "the unwritten rule fires on no shipped fixture" grep -q "^[0-9]* passed, 0 failed" "$T/out"
"$CDSD" new-rule --rules "$T/r3" --fixtures "$T/f3" interactions ddi.example-pair >"$T/out" 2>&1
check "new-rule never overwrites" grep -q "exists; not overwriting" "$T/out"

# every subcommand answers --help with its usage on stdout, exit 0
for cmd in serve call reload eval test new-rule lint kb report replay audit config explain; do
    "$CDSD" $cmd --help >"$T/out" 2>"$T/err"
    check "cdsd $cmd --help exits 0" test $? -eq 0
    check "  and prints its usage" grep -q "^usage: cdsd $cmd" "$T/out"
done
"$CDSD" kb build --help >"$T/out" 2>&1
check "cdsd kb build --help prints the usage" grep -q "^usage: cdsd kb" "$T/out"

# a failed expectation names the nearest card produced (same rule, other indicator)
printf '{\n "service": "medication-safety", "at": "2025-03-01T09:00:00Z",\n "request_file": "%s",\n "expect": [{"rule": "ddi.interaction", "indicator": "critical", "summary": "warfarin with aspirin"}]\n}\n' "$REQF" >"$T/fx-near.json"
"$CDSD" test "$T/fx-near.json" >"$T/out" 2>&1
check "a failed expectation shows the nearest card" grep -q 'nearest card: warning ddi.interaction ".*warfarin with aspirin"' "$T/out"
check "  and how it differs" grep -q "differs in indicator: warning, not critical" "$T/out"

# --update rewrites only the expectation lines of the reviewed fixture, formatting kept
cp fixtures/spec/composed-order-sign-warfarin-aspirin.json "$T/f3/review.json"
sed -i 's/"request_file": "..\/requests\//"request_file": "'"$(pwd | sed 's/\//\\\//g')"'\/fixtures\/requests\//' "$T/f3/review.json"
cp "$T/f3/review.json" "$T/f3/review.orig"
"$CDSD" test --update "$T/f3/review.json" >"$T/out" 2>&1
check "--update of a passing fixture leaves it byte for byte" cmp -s "$T/f3/review.json" "$T/f3/review.orig"
sed -i 's/"indicator": "info"/"indicator": "critical"/' "$T/f3/review.json"
cp "$T/f3/review.json" "$T/f3/review.before"
"$CDSD" test --update "$T/f3/review.json" >"$T/out" 2>&1
check "--update says what it changed" grep -q "^UPDATED .*review.json: 2 kept, 1 added, 1 removed" "$T/out"
diff "$T/f3/review.before" "$T/f3/review.json" | grep '^[<>]' >"$T/diff"
check "  only the stale expectation's lines change" test "$(grep -c '^<' "$T/diff")" -eq 9 -a "$(grep -c '^>' "$T/diff")" -eq 1
check "  the new one is one line in the file's indentation" grep -q '^  {"rule": "orders.monitoring", "indicator": "info", "summary": "Warfarin: order INR' "$T/f3/review.json"
check "  no tabs, \"only\" untouched" sh -c "! grep -q '	' '$T/f3/review.json' && grep -q '^ \"only\": true$' '$T/f3/review.json'"
"$CDSD" test "$T/f3/review.json" >"$T/out" 2>&1
check "the updated fixture passes" grep -q "^1 passed, 0 failed" "$T/out"
printf '{\n  "service": "medication-safety",\n  "at": "2025-03-01T09:00:00Z",\n  "request_file": "%s"\n}\n' "$REQF" >"$T/f3/noexpect.json"
"$CDSD" test --update "$T/f3/noexpect.json" >"$T/out" 2>&1
check "--update adds an expect list where there was none" grep -q '^  "expect": \[$' "$T/f3/noexpect.json"
"$CDSD" test "$T/f3/noexpect.json" >"$T/out" 2>&1
check "  and the fixture then passes" grep -q "^1 passed, 0 failed" "$T/out"

# CDS Hooks over HTTP: statuses, CORS, identical cards through both doors, feedback stored
# below Linux's ephemeral range (32768-60999): an outgoing connection of a test running beside
# this one can never hold the port
HPORT=$((20000 + $$ % 12000))
"$CDSD" serve --listen "ipc://$T/h.sock" --http "127.0.0.1:$HPORT" --state "$T/hv" --fixtures none \
    --cors-origin https://sandbox.cds-hooks.org --log-level error &
SERVER=$!
H="http://127.0.0.1:$HPORT"
for i in $(seq 1 50); do curl -s -o /dev/null "$H/health" && break; sleep 0.2; done
code() { curl -s -o "$T/body" -w "%{http_code}" "$@"; }
REQ=fixtures/requests/spec-90-composed-order-sign-ddi.json
check "GET /cds-services is 200" test "$(code "$H/cds-services")" = 200
check "discovery lists services" grep -q '"id":"medication-safety"' "$T/body"
check "POST call is 200" test "$(code -X POST -H 'Content-Type: application/json' --data-binary @$REQ "$H/cds-services/medication-safety")" = 200
grep -o '"uuid":"[^"]*"\|"summary":"[^"]*"' "$T/body" >"$T/http-cards"
"$CDSD" call --connect "ipc://$T/h.sock" call medication-safety $REQ | grep -o '"uuid": "[^"]*"\|"summary": "[^"]*"' | sed 's/": "/":"/' >"$T/nng-cards"
check "the same cards through HTTP and NNG" cmp -s "$T/http-cards" "$T/nng-cards"
check "bad request is 400 naming the field" test "$(code -X POST -H 'Content-Type: application/json' --data '{"hook":"order-sign"}' "$H/cds-services/medication-safety")" = 400
check "the 400 body is an OperationOutcome with the path" grep -q '"expression":\["request.hookInstance"\]' "$T/body"
check "malformed JSON is 400" test "$(code -X POST -H 'Content-Type: application/json' --data '{bad' "$H/cds-services/medication-safety")" = 400
check "unknown service is 404" test "$(code -X POST -H 'Content-Type: application/json' --data '{}' "$H/cds-services/nope")" = 404
check "wrong method is 405" test "$(code -X PUT "$H/cds-services/medication-safety")" = 405
check "not JSON is 415" test "$(code -X POST -H 'Content-Type: text/plain' --data x "$H/cds-services/medication-safety")" = 415
check "over the size limit is 413" test "$(head -c 9000000 /dev/zero | code -X POST -H 'Content-Type: application/json' --data-binary @- "$H/cds-services/medication-safety")" = 413
check "CORS preflight from an allowed origin is 204" test "$(code -X OPTIONS -H 'Origin: https://sandbox.cds-hooks.org' "$H/cds-services")" = 204
check "CORS preflight from another origin is 403" test "$(code -X OPTIONS -H 'Origin: https://evil.example' "$H/cds-services")" = 403
# The spec's verbatim examples carry other services' prefetch keys and no usable FHIR access
# (none, or plain http to a remote host). By default the answer is 200 with a warning card per
# required list that could not be had (issue 21: many clients render a failed call as "All
# clear!"); an order with no medication has nothing to screen and stays silent. The strict
# service (missing_prefetch = "reject") answers 412 naming the missing keys. With a FHIR server
# they answer 200 with the lists: tests/integration/test_prefetch_fetch.c.
for ex in spec-02-request-patient-view:medication-review spec-03-request-order-sign-paginated-prefetch:medication-safety; do
    check "CDS Hooks example ${ex%%:*} over HTTP is 200" test "$(code -X POST -H 'Content-Type: application/json' \
        --data-binary @fixtures/requests/${ex%%:*}.json "$H/cds-services/${ex##*:}")" = 200
    check "  with a warning card: allergy screening did not run" \
        grep -q '"summary":"Allergy screening did not run: the allergy list could not be retrieved","indicator":"warning"' "$T/body"
done
check "an MRI order-select without the lists is 200" test "$(code -X POST -H 'Content-Type: application/json' \
    --data-binary @fixtures/requests/spec-04-request-order-select-radiology.json "$H/cds-services/medication-safety-select")" = 200
check "  and silent (no medication to screen)" grep -q '^{"cards":\[\]}$' "$T/body"
check "the strict service answers the same call 412" test "$(code -X POST -H 'Content-Type: application/json' \
    --data-binary @fixtures/requests/spec-03-request-order-sign-paginated-prefetch.json "$H/cds-services/medication-safety-strict")" = 412
check "  its OperationOutcome names the missing key" grep -q '"code":"processing".*"expression":\["request.prefetch.allergies"\]' "$T/body"
check "health counts the calls answered with a did-not-run card" sh -c "curl -s '$H/health' | grep -q '\"prefetch_unavailable\":2'"
# What the CDS Hooks sandbox sends (request-123, reasonCode as an object), three order-select
# calls as a form fills in: the same 200 answer each time. An STU3 MedicationOrder is read.
for i in 1 2 3; do
    check "sandbox-shaped order-select call $i is 200" test "$(code -X POST -H 'Content-Type: application/json' \
        --data-binary @fixtures/requests/sandbox-order-select-quirks.json "$H/cds-services/medication-safety-select")" = 200
    cp "$T/body" "$T/select-$i"
done
check "  with the interaction card" grep -q '"summary":"Warfarin with ibuprofen' "$T/select-1"
check "  and the same cards each time" sh -c "cmp -s '$T/select-1' '$T/select-2' && cmp -s '$T/select-1' '$T/select-3'"
check "an STU3 MedicationOrder draft is 200" test "$(code -X POST -H 'Content-Type: application/json' \
    --data-binary @fixtures/requests/stu3-medicationorder-string-statuses.json "$H/cds-services/medication-safety-select")" = 200
check "  and screened for allergies" grep -q '"summary":"amoxicillin: documented allergy to Penicillin"' "$T/body"
UUID=$(grep -o '"uuid":"[^"]*"' "$T/http-cards" | head -1 | cut -d'"' -f4)
FB='{"feedback":[{"card":"'$UUID'","outcome":"overridden","outcomeTimestamp":"2025-03-01T09:01:00Z"}]}'
check "feedback is 200" test "$(code -X POST -H 'Content-Type: application/json' --data "$FB" "$H/cds-services/medication-safety/feedback")" = 200
kill -TERM $SERVER; wait $SERVER
"$CDSD" report --state "$T/hv" >"$T/out" 2>&1
check "HTTP feedback reaches the report" grep -q "^ddi.interaction .* 100%" "$T/out"
"$CDSD" serve --listen "ipc://$T/x.sock" --http "0.0.0.0:$HPORT" --state "$T/hx" --fixtures none >"$T/out" 2>&1
check "without JWT the gateway refuses to listen beyond loopback" grep -q "only listens on loopback" "$T/out"

# The README's command for trusting the official CDS Hooks sandbox: its key loads, calls need a JWT
"$CDSD" serve --listen "ipc://$T/sb.sock" --http "127.0.0.1:$HPORT" --state "$T/hs" --fixtures none --log-level error \
    --public-url https://cds.example.org --jwt-issuer https://sandbox.cds-hooks.org=tools/cds-hooks-sandbox-jwks.json \
    --jwt-jku https://sandbox.cds-hooks.org/.well-known/jwks.json &
SERVER=$!
for i in $(seq 1 50); do curl -s -o /dev/null "$H/health" && break; sleep 0.2; done
check "trusting the sandbox's JWKS: discovery without a token is 401" test "$(code "$H/cds-services")" = 401
check "  and /health needs none" test "$(code "$H/health")" = 200
kill -TERM $SERVER; wait $SERVER

# Damaged state files: an audit log that is not a database stops the start (no decisions
# without their record); a damaged knowledge-base cache is rebuilt from the rule set's tables.
mkdir -p "$T/dmg"
head -c 65536 /dev/urandom >"$T/dmg/audit.db"
timeout 20 "$CDSD" serve --listen "ipc://$T/dmg.sock" --state "$T/dmg" --fixtures none >"$T/out" 2>&1
check "a damaged audit log stops the start" test $? -ne 0
check "  and says why" grep -q "audit log: .*audit.db: file is not a database; not starting without one" "$T/out"
rm -f "$T/dmg/audit.db"
"$CDSD" serve --listen "ipc://$T/dmg.sock" --state "$T/dmg" --fixtures none --log-level error &
SERVER=$!
for i in $(seq 1 50); do "$CDSD" call --connect "ipc://$T/dmg.sock" health >"$T/h1" 2>/dev/null && break; sleep 0.2; done
kill -TERM $SERVER; wait $SERVER
dd if=/dev/urandom of="$T/dmg/kb.sqlite" bs=4096 seek=2 count=16 conv=notrunc 2>/dev/null
"$CDSD" serve --listen "ipc://$T/dmg.sock" --state "$T/dmg" --fixtures none --log-level error &
SERVER=$!
for i in $(seq 1 50); do "$CDSD" call --connect "ipc://$T/dmg.sock" health >"$T/h2" 2>/dev/null && break; sleep 0.2; done
kill -TERM $SERVER; wait $SERVER
check "a damaged knowledge-base file is rebuilt: the service answers" grep -q '"status": "ok"' "$T/h2"
K1=$(grep -o '"knowledge": "[0-9a-f]*"' "$T/h1"); K2=$(grep -o '"knowledge": "[0-9a-f]*"' "$T/h2")
check "  with the same knowledge digest" test -n "$K1" -a "$K1" = "$K2"
# Local permissions (issue 22 item 12): under umask 000 the admin socket was 0777 (any local
# user got "reload: ok") and audit.db 0644; a state directory others may write to was used.
(umask 000; exec "$CDSD" serve --listen "ipc://$T/perm.sock" --state "$T/perm" --fixtures none --log-level error) &
SERVER=$!
for i in $(seq 1 50); do "$CDSD" call --connect "ipc://$T/perm.sock" health >/dev/null 2>&1 && break; sleep 0.2; done
check "under umask 000 the admin socket is 0600" test "$(stat -c %a "$T/perm/admin.sock")" = 600
check "  the audit log 0600" test "$(stat -c %a "$T/perm/audit.db")" = 600
check "  its WAL 0600" test "$(stat -c %a "$T/perm/audit.db-wal")" = 600
check "  the knowledge cache 0600" test "$(stat -c %a "$T/perm/kb.sqlite")" = 600
check "  the state directory 0750" test "$(stat -c %a "$T/perm")" = 750
kill -TERM $SERVER; wait $SERVER
for mode in 777 770 1777; do
    mkdir -p "$T/open$mode"; chmod $mode "$T/open$mode"
    timeout 20 "$CDSD" serve --listen "ipc://$T/open.sock" --state "$T/open$mode" --fixtures none >"$T/out" 2>&1
    check "a state directory of mode $mode stops the start" test $? -eq 1
    check "  and says why" grep -q "the state directory $T/open$mode is writable by .* not starting (chmod go-w" "$T/out"
done

"$CDSD" call --connect "ipc://$T/none.sock" health >/dev/null 2>&1
check "no server: exit status 2 (transport)" test $? -eq 2

# Hostile rule packs (issue 22; tests/data/hostile-packs): whatever a rule calls, a load and an
# evaluation end within their budgets. `timeout` turns a regression into a failure, not a hang.
HP=tests/data/hostile-packs
timeout 60 "$CDSD" lint --rules $HP/rep-top-level >"$T/out" 2>"$T/err"
check "lint: string.rep('', 1e15) at a file's top level fails at once" test $? -eq 1
check "  naming file:line" grep -q "^$HP/rep-top-level/h/padding.lua:3: string.rep result too large" "$T/err"
timeout 60 "$CDSD" lint --rules $HP/loop-in-declaration >"$T/out" 2>"$T/err"
check "lint: a declaration over the instruction budget fails" test $? -eq 1
check "  naming file:line" grep -q "^$HP/loop-in-declaration/h/slow_title.lua:4: instruction budget exceeded" "$T/err"
TXT=$(printf 'warfarin sodium tablet %.0s' $(seq 1 2800))
printf '{"hook":"order-sign","hookInstance":"h-1","context":{"userId":"Practitioner/1","patientId":"p1","draftOrders":{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"MedicationRequest","id":"d1","status":"draft","intent":"order","medicationCodeableConcept":{"text":"%s"},"subject":{"reference":"Patient/p1"}}}]}}}' "$TXT" >"$T/long.json"
timeout 60 "$CDSD" eval --rules $HP/dose-backtracking hostile "$T/long.json" >"$T/out" 2>"$T/err"
check "eval: the dose pattern over 60 KB fails that rule within its budget" \
    grep -q '"message": ".*/dose_text.lua:7: \(time\|instruction\) budget exceeded' "$T/out"
check "  and the other rule's card is answered" grep -q '"summary": "The ordinary rule still answers"' "$T/out"
# knowledge tables: a NUL byte is a load error at file:line:column; a byte-order mark is skipped
cp -r $HP/dose-backtracking "$T/kbnul"
printf 'rxcui\tname\n11289\twarfarin\000 -- AND NEVER IN PREGNANCY\n' >"$T/kbnul/h/knowledge/ingredients.tsv"
"$CDSD" lint --rules "$T/kbnul" >"$T/out" 2>"$T/err"
check "lint: a NUL byte in a knowledge table fails" test $? -ne 0
check "  naming file:line:column" grep -q "ingredients.tsv:2:15: a NUL byte" "$T/err"
printf '\357\273\277rxcui\tname\n11289\twarfarin\n' >"$T/kbnul/h/knowledge/ingredients.tsv"
check "lint: a knowledge table with a UTF-8 byte-order mark loads" "$CDSD" lint --rules "$T/kbnul" >/dev/null 2>&1
# A NUL byte in one rule's card fails that rule only, through HTTP and NNG (issue 22 item 9)
"$CDSD" serve --listen "ipc://$T/nul.sock" --http "127.0.0.1:$HPORT" --rules $HP/nul-card --state "$T/nulv" \
    --fixtures none --log-level error &
SERVER=$!
for i in $(seq 1 50); do curl -s -o /dev/null "$H/health" && break; sleep 0.2; done
check "HTTP: a card text with a NUL byte: still 200" test "$(code -X POST -H 'Content-Type: application/json' \
    --data-binary @$REQ "$H/cds-services/hostile")" = 200
check "  with the other rule's card" grep -q '"summary":"The ordinary rule still answers"' "$T/body"
check "  and that rule reported failed" grep -q '"rule":"h.nul-text","message":"evaluate returned a string with a NUL byte at result.detail"' "$T/body"
check "  and no NUL byte (nor \\u0000) in the body" sh -c "test \$(tr -d '\\000' <'$T/body' | wc -c) -eq \$(wc -c <'$T/body') && ! grep -q 'u0000' '$T/body'"
"$CDSD" call --connect "ipc://$T/nul.sock" call hostile $REQ >"$T/nng" 2>&1
check "NNG: the same, with the other rule's card" grep -q '"summary": "The ordinary rule still answers"' "$T/nng"
check "  and no NUL (nor \\u0000)" sh -c "test \$(tr -d '\\000' <'$T/nng' | wc -c) -eq \$(wc -c <'$T/nng') && ! grep -q 'u0000' '$T/nng'"
kill -TERM $SERVER; wait $SERVER
# string.rep('', 1e15) in a rule loaded by `cdsd reload`: the reload fails at once, the service
# keeps its rules, and SIGTERM then drains and exits (before, the admin thread hung for good)
cp -r $HP/dose-backtracking "$T/rr"
"$CDSD" serve --listen "ipc://$T/rr.sock" --rules "$T/rr" --state "$T/rrv" --fixtures none --log-level error 2>"$T/rrlog" &
SERVER=$!
for i in $(seq 1 50); do "$CDSD" call --connect "ipc://$T/rr.sock" health >/dev/null 2>&1 && break; sleep 0.2; done
cp $HP/rep-top-level/h/padding.lua "$T/rr/h/"
timeout 60 "$CDSD" reload --state "$T/rrv" >"$T/out" 2>&1
check "reload of a rule file with string.rep('', 1e15) fails (in bounded time)" test $? -eq 1
check "  its log line names file:line" grep -q "rr/h/padding.lua:3: string.rep result too large" "$T/rrlog"
check "  and the service still answers" "$CDSD" call --connect "ipc://$T/rr.sock" health >/dev/null 2>&1
kill -HUP $SERVER   # the same reload on the main thread (before: it hung there, and SIGTERM was then ignored)
for i in $(seq 1 50); do test "$(grep -c 'padding.lua:3: string.rep result too large' "$T/rrlog")" -ge 2 && break; sleep 0.2; done
check "  SIGHUP: the same reload fails at once too" test "$(grep -c 'padding.lua:3: string.rep result too large' "$T/rrlog")" -ge 2
kill -TERM $SERVER
for i in $(seq 1 100); do kill -0 $SERVER 2>/dev/null || break; sleep 0.2; done
check "  and SIGTERM then drains and exits (within 20 s)" sh -c "! kill -0 $SERVER 2>/dev/null"
kill -KILL $SERVER 2>/dev/null; wait $SERVER
check "  with status 0" test $? -eq 0

echo "$passes passed, $fails failed"
test "$fails" -eq 0
