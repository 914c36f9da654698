#!/bin/sh
# ddi_tables_test.sh — the interactions pack's public pair tables and site policy
# (rules/interactions/tables/) are checked when the rules load: each bad row is a load error at
# file:line and lint fails; the generator is deterministic.
# usage: ddi_tables_test.sh path/to/cdsd   (run from the repository root)
set -u
CDSD="$1"
fails=0; passes=0
check() { # name, then a command that must succeed
    name="$1"; shift
    if "$@"; then passes=$((passes + 1)); else echo "FAIL: $name"; fails=$((fails + 1)); fi
}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
D=rules/interactions/tables
cp -r rules "$T/r"

# lint_with TABLE SED: lint a copy of the rule set whose TABLE.tsv is edited by SED
lint_with() {
    cp "$D/$1.tsv" "$T/r/interactions/tables/$1.tsv"; sed -i "$2" "$T/r/interactions/tables/$1.tsv"
    "$CDSD" lint --rules "$T/r" >"$T/out" 2>"$T/err"; rc=$?
    cp "$D/$1.tsv" "$T/r/interactions/tables/$1.tsv"
    return $rc
}
line_of() { grep -n "$2" "$D/$1.tsv" | head -1 | cut -d: -f1; }
failed_with() { ! lint_with "$1" "$2" && grep -q "$3" "$T/err"; }

"$CDSD" lint --rules rules >"$T/out" 2>"$T/err"
check "the shipped tables load" test $? -eq 0

VA=ddi_va_ndfrt
L=$(line_of $VA '^36567	simvastatin	critical	')   # simvastatin's critical row
check "a pair of an ingredient with itself" failed_with $VA "${L}s/Merged-PDDI\t/&36567 simvastatin; /" \
    "$VA.tsv:$L: column 'interacts_with': item 1: a pair of 36567 (simvastatin) with itself"
check "a product code in an ingredient column" failed_with $VA "${L}s/^36567\tsimvastatin\t/314231\tsimvastatin\t/" \
    "$VA.tsv:$L: column 'a': '314231' is not an ingredient (a product? it stands for 36567)"
check "a product code in the list" failed_with $VA "${L}s/Merged-PDDI\t/&197805 ibuprofen; /" \
    "$VA.tsv:$L: column 'interacts_with': item 1: interacts_with: '197805' is not an ingredient (a product? it stands for 5640)"
check "a code the vocabulary does not know" failed_with $VA "${L}s/^36567\t/9999999\t/" "$VA.tsv:$L: column 'a': "
check "a name that is not the code's" failed_with $VA "${L}s/^36567\tsimvastatin\t/36567\tlovastatin\t/" \
    "$VA.tsv:$L: column 'a': 'lovastatin' is not the name of 36567"
check "an unknown severity" failed_with $VA "${L}s/\tcritical\t/\tsevere\t/" \
    "$VA.tsv:$L: column 'severity': 'severe' is not a severity of va-ndfrt (use critical, significant)"
check "a severity of another source" failed_with $VA "${L}s/\tcritical\t/\thigh-priority\t/" \
    "$VA.tsv:$L: column 'severity': 'high-priority' is not a severity of va-ndfrt"
check "an unknown source" failed_with $VA "${L}s/\tva-ndfrt\t/\tfda\t/" "$VA.tsv:$L: column 'source': 'fda' must be one of"
check "an empty list" failed_with $VA "${L}s/\t[^\t]*$/\t/" "$VA.tsv:$L: column 'interacts_with' is empty (required)"
check "a list item that is not RXCUI name" failed_with $VA "${L}s/Merged-PDDI\t/&saquinavir; /" \
    "$VA.tsv:$L: column 'interacts_with': item 1 'saquinavir' is not 'RXCUI name' or 'RXCUI name (citation)'"
# the same pair twice in one table, in the other row of another severity: conflicting rows
LS=$(line_of $VA '^36567	simvastatin	significant	')
check "conflicting rows for one pair in one table" failed_with $VA "${LS}s/Merged-PDDI\t/&83395 saquinavir (N1); /" \
    "$VA.tsv:$LS: column 'interacts_with': item 1: pair 36567+83395 is already on line $L with severity critical (conflicting rows)"

P=ddi_policy
PL=$(line_of $P '^va-ndfrt	significant')
check "a policy hook that is not a hook" failed_with $P "${PL}s/order-select;/order-slect;/" \
    "$P.tsv:$PL: column 'hooks': 'order-slect' is not a hook"
check "a policy indicator outside its set" failed_with $P "${PL}s/\tinfo\t/\tinformational\t/" "$P.tsv:$PL: column 'indicator'"
check "a policy row missing" failed_with $P "${PL}d" "ddi_policy.tsv: no row for va-ndfrt significant"
check "two policy rows for one hook" failed_with $P "\$ava-ndfrt\tsignificant\torder-sign;patient-view\twarning\tyes" \
    "$P.tsv:$(($(wc -l <"$D/$P.tsv") + 1)): column 'hooks': va-ndfrt significant at patient-view is already set on line $PL"
check "interrupts must be yes or no" failed_with $P "${PL}s/\tno\t*/\tmaybe/" "$P.tsv:$PL: column 'interrupts': 'maybe' must be yes or no"

# The generator is deterministic and the committed tables are its output.
if [ -d ../shared/corpus/ddi-public ] && command -v python3 >/dev/null; then
    mkdir -p "$T/gen/tools" "$T/gen/rules"
    cp tools/ddi_public_import.py "$T/gen/tools/"; cp -r rules/vocabulary "$T/gen/rules/"
    python3 "$T/gen/tools/ddi_public_import.py" ../shared/corpus 2>/dev/null
    check "tools/ddi_public_import.py reproduces the committed tables" \
        diff -r "$T/gen/rules/interactions/tables" "$D" -x ddi_policy.tsv -q
    # Pairs the corpus dropped for a name it could not code, recovered since
    # (tools/ddi_public_recover.py): a *-recovered.tsv beside a corpus table joins it, checked alike.
    mkdir -p "$T/corpus" && cp -r ../shared/corpus/ddi-public "$T/corpus/" && chmod -R u+w "$T/corpus"
    printf 'a_rxcui\ta_name\tb_rxcui\tb_name\tseverity\tndfrt_concept\ta_class\tb_class\n11170\tverapamil\t49247\tdofetilide\tcritical\tN0000000001\t\t\n' \
        >"$T/corpus/ddi-public/va-ndfrt-interactions-recovered.tsv"
    python3 "$T/gen/tools/ddi_public_import.py" "$T/corpus" 2>/dev/null
    check "a recovered pair joins its table" \
        grep -q "^11170	verapamil	critical	va-ndfrt	.*49247 dofetilide (N0000000001)" "$T/gen/rules/interactions/tables/ddi_va_ndfrt.tsv"
    sed -i 's/^11170\tverapamil/11170\tverapamill/' "$T/corpus/ddi-public/va-ndfrt-interactions-recovered.tsv"
    ! python3 "$T/gen/tools/ddi_public_import.py" "$T/corpus" 2>"$T/err"
    check "a recovered row whose name is not the code's stops the import at file:line" \
        grep -q "va-ndfrt-interactions-recovered.tsv:2: 11170 verapamill: vocabulary names it verapamil" "$T/err"
fi

echo "$passes passed, $fails failed"
test "$fails" -eq 0
