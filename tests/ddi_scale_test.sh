#!/bin/sh
# ddi_scale_test.sh — a public interaction table of 100,000 ingredient pairs (generated over the
# vocabulary by ddi_generate_pairs.sh) loads, and its pairs are found: one near the start, one in
# the middle and one at the end of the table fire at patient-view, a pair it does not list stays
# silent. Before the pairs were indexed in C, 30,000 pairs exceeded a rule file's load budget.
# usage: ddi_scale_test.sh path/to/cdsd   (run from the repository root)
set -u
CDSD="$1"
. tests/check.sh
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
cp -r rules "$T/r"
sh tests/ddi_generate_pairs.sh "$T/r" 100000 || { echo "FAIL: generating the table"; exit 1; }
TAB="$T/r/interactions/tables/ddi_va_ndfrt.tsv"
pairs=$(awk -F'\t' 'NR > 1 { n += split($6, x, ";") } END { print n }' "$TAB")
check "the generated table holds 100,000 pairs" test "$pairs" -eq 100000

"$CDSD" lint --rules "$T/r" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] || head -3 "$T/err"
# it loads within the rule file's CPU budget (1 s, also under the sanitizers); the issue's "under a
# second" is measured in README, not asserted here (wall time on a shared CI machine)
check "a 100,000-pair table loads" test $rc -eq 0

# fixture NAME SERVICE A B EXPECT_OR_FORBID: two active medications A and B ("code name")
fixture() {
    a=${3%% *}; b=${4%% *}; an=${3#* }; bn=${4#* }
    if [ "$5" = expect ]; then
        verdict="\"expect\": [{\"rule\": \"ddi.interaction\", \"summary\": \"($an with $bn|$bn with $an)\", \"detail\": \"generated \\\\(synthetic\\\\)\"}]"
    else
        verdict="\"forbid\": [{\"rule\": \"ddi.interaction\"}]"
    fi
    cat >"$T/fx/$1.json" <<JSON
{ "description": "generated pair table: $an and $bn", "service": "$2", "at": "2025-03-01T09:00:00Z",
  "patient": { "age": 55, "sex": "female", "weight_kg": 70 },
  "medications": [ { "rxnorm": "$a" }, { "rxnorm": "$b" } ], $verdict }
JSON
}
mkdir "$T/fx"
item() { awk -F'\t' -v row="$1" -v k="$2" 'NR == row { n = split($6, x, "; "); print (k == "last" ? x[n] : x[k]) }' "$TAB"; }
head_of() { awk -F'\t' -v row="$1" 'NR == row { print $1 " " $2 }' "$TAB"; }
rows=$(wc -l <"$TAB")
mid=$((rows / 2))
fixture first medication-review "$(head_of 2)" "$(item 2 1)" expect
fixture middle medication-review "$(head_of $mid)" "$(item $mid 60)" expect
fixture last medication-review "$(head_of "$rows")" "$(item "$rows" last)" expect
fixture unlisted medication-review "$(head_of 2)" "$(head_of "$rows")" forbid
"$CDSD" test --rules "$T/r" "$T/fx" >"$T/out" 2>&1; rc=$?
[ $rc -eq 0 ] || cat "$T/out"
check "pairs at the start, middle and end of the table fire; an unlisted pair does not" test $rc -eq 0

check_summary
