#!/bin/sh
# burden_test.sh — `cdsd burden` over a tiny synthetic population, as a bundle and as NDJSON, and
# with --compare against a policy that does not interrupt: the numbers it must print.
# usage: burden_test.sh path/to/cdsd   (run from the repository root)
set -u
CDSD="$1"
fails=0; passes=0
check() { # name, then a command that must succeed
    name="$1"; shift
    if "$@"; then passes=$((passes + 1)); else echo "FAIL: $name"; fails=$((fails + 1)); fi
}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
med() { # id rxcui display
    printf '{"resourceType":"MedicationRequest","id":"%s","status":"active","intent":"order","subject":{"reference":"Patient/p1"},"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"%s","display":"%s"}]}}' "$1" "$2" "$3"
}
PAT='{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1960-01-01"}'
# one patient on simvastatin and fluconazole (ONC high-priority, critical, interrupts) and aspirin
printf '{"resourceType":"Bundle","type":"collection","entry":[{"resource":%s},{"resource":%s},{"resource":%s},{"resource":%s}]}' \
    "$PAT" "$(med m1 36567 simvastatin)" "$(med m2 4450 fluconazole)" "$(med m3 1191 aspirin)" >"$T/p1.json"
"$CDSD" burden "$T/p1.json" >"$T/out" 2>"$T/err"
check "burden exits 0" test $? -eq 0
check "counts the calls" grep -q "^# 1 patients with active medications: 3 order-sign calls (one per active medication), 1 patient-view calls" "$T/out"
check "2 of 3 order-sign calls draw an interruptive interaction card" grep -q "calls with an interruptive interaction card *66.7%" "$T/out"
check "by source and indicator" grep -q "^  onc-high-priority critical *66.7$" "$T/out"
check "the pair behind them" grep -q "^  fluconazole + simvastatin *66.7$" "$T/out"
check "patient-view counted per 100 patients" grep -q "^  onc-high-priority critical *100.0$" "$T/out"
# the same patient as bulk NDJSON
mkdir "$T/nd"
echo "$PAT" >"$T/nd/Patient.000.ndjson"
{ med m1 36567 simvastatin; echo; med m2 4450 fluconazole; echo; med m3 1191 aspirin; echo; } >"$T/nd/MedicationRequest.000.ndjson"
"$CDSD" burden "$T/nd" >"$T/out2" 2>&1
tail -n +2 "$T/out" >"$T/a"; tail -n +2 "$T/out2" >"$T/b"
check "NDJSON gives the same numbers" cmp -s "$T/a" "$T/b"
check "NDJSON joins resources by subject" grep -q "3 order-sign calls" "$T/out2"
# --compare: a site policy where ONC high-priority pairs do not interrupt
cp -r rules "$T/quiet"
sed -i 's/^\(onc-high-priority\thigh-priority\t[^\t]*\t\)critical\tyes/\1warning\tno/' "$T/quiet/interactions/tables/ddi_policy.tsv"
"$CDSD" burden --compare "$T/quiet" "$T/p1.json" >"$T/out" 2>"$T/err"
check "compare exits 0" test $? -eq 0
check "compare shows the change" grep -q "calls with an interruptive interaction card *66.7% *0.0% *-66.7%" "$T/out"
"$CDSD" burden "$T/missing.json" >"$T/out" 2>"$T/err"
check "a missing path is an error" test $? -eq 2
check "  naming it" grep -q "missing.json: no such file" "$T/err"
echo "$passes passed, $fails failed"
test "$fails" -eq 0
