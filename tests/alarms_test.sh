#!/bin/sh
# alarms_test.sh — firing-rate alarms on a synthesised history (issue 18 part 3): four weeks of
# real audit rows (cdsd-audit-gen --calls: shipped request fixtures evaluated by the shipped
# rules), then today's calls through a real server whose copy of the rules has two knowledge
# tables broken: the interaction policy no longer shows any pair at signing (ddi.interaction
# stops firing) and the NSAID duplication group takes in the anticoagulants (context.duplication
# fires on every anticoagulant + NSAID patient). `cdsd report` must raise both alarms and none
# on the steady rules.
# usage: alarms_test.sh path/to/cdsd path/to/cdsd-audit-gen   (run from the repository root)
set -u
CDSD="$1"; GEN="$2"
CALLS=tests/data/alarms/calls.txt
. tests/check.sh
T=$(mktemp -d)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill -KILL "$SERVER" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

TODAY=$(date -u +%F)
START=$(date -u -d "28 days ago" +%F)
"$GEN" --state "$T/var" --calls "$CALLS" --start "$START" --days 28 --per-day 300 >"$T/gen" 2>&1
check "the history is written" test $? -eq 0 || cat "$T/gen"

# the steady history alone: no alarm on its last day
"$CDSD" report --state "$T/var" --day "$(date -u -d yesterday +%F)" >"$T/steady" 2>&1
check "no alarm on the steady history" grep -q "^firing-rate alarms for .*: none$" "$T/steady"

# the rules, with two tables broken
cp -r rules "$T/rules"
sed -i 's/^\(curated\|onc-high-priority\|va-ndfrt\|onc-non-interruptive\)\t\([^\t]*\)\t[^\t]*/\1\t\2\tpatient-view/' \
    "$T/rules/interactions/tables/ddi_policy.tsv"
sed -i 's/^\(DUP013\t\)class:nsaids\t/\1class:nsaids;class:anticoagulants\t/' "$T/rules/context/tables/duplication.tsv"
check "the policy table was edited" grep -q "^curated	major	patient-view	" "$T/rules/interactions/tables/ddi_policy.tsv"
check "the duplication table was edited" grep -q "^DUP013	class:nsaids;class:anticoagulants	" "$T/rules/context/tables/duplication.tsv"

# today's calls through the real server (HTTP door), each request of the list 30 times; the
# server reads the baseline from the audit history when it starts
PORT=$((20000 + ($$ * 11) % 12000))
H="http://127.0.0.1:$PORT"
"$CDSD" serve --listen "ipc://$T/cdsd.sock" --http "127.0.0.1:$PORT" --rules "$T/rules" --state "$T/var" \
    --fixtures none --workers 2 2>"$T/log" &
SERVER=$!
for i in $(seq 1 300); do [ "$(curl -s -o /dev/null -w "%{http_code}" "$H/health/ready")" = 200 ] && break; sleep 0.2; done
grep -v '^#' "$CALLS" | while read -r svc file; do echo "$svc tests/data/alarms/$file"; done >"$T/list"
ok=0; n=0
for round in $(seq 1 30); do
    while read -r svc file; do
        n=$((n + 1))
        for try in 1 2 3 4 5; do   # 503: busy (a loaded CI machine); the call was not made, try again
            c=$(curl -s -o /dev/null -w "%{http_code}" -X POST -H 'Content-Type: application/json' --data-binary "@$file" \
                "$H/cds-services/$svc")
            [ "$c" = 503 ] || break
            sleep 0.5
        done
        if [ "$c" = 200 ]; then ok=$((ok + 1)); else echo "  $svc $file: HTTP $c"; fi
    done <"$T/list"
done
check "today's $n calls answered 200" test "$ok" -eq "$n"
# the live server's own counts against the baseline it read at start
curl -s "$H/health" >"$T/health"
check "health lists ddi.interaction stopped" \
    grep -q '{"service":"medication-safety","rule":"ddi.interaction","kind":"stopped"' "$T/health"
check "health lists context.duplication surging" \
    grep -q '{"service":"medication-safety","rule":"context.duplication","kind":"surge"' "$T/health"
check "health lists no other alarm" test "$(grep -o '"kind":"[a-z]*"' "$T/health" | wc -l)" -eq \
    "$(grep -o '"rule":"\(ddi.interaction\|context.duplication\)","kind":"[a-z]*"' "$T/health" | wc -l)"
kill -TERM "$SERVER"; wait "$SERVER" 2>/dev/null; SERVER=

"$CDSD" report --state "$T/var" --day "$TODAY" >"$T/report" 2>&1
check "report exits 0" test $? -eq 0
sed -n '/^firing-rate alarms/,$p' "$T/report" >"$T/alarms"
check "ddi.interaction stopped firing" grep -Eq "^medication-safety +ddi.interaction +stopped " "$T/alarms"
check "context.duplication surges" grep -Eq "^medication-safety +context.duplication +surge " "$T/alarms"
check "no alarm on any other rule" test "$(grep -Evc '^(firing-rate alarms|service|[a-z-]+ +(ddi.interaction +stopped|context.duplication +surge) )' "$T/alarms")" -eq 0
"$CDSD" report --state "$T/var" --day "$TODAY" --format html --out "$T/report.html"
check "the HTML report has the section" grep -q "<h2>Firing-rate alarms</h2>" "$T/report.html"
check "  with a chart per service and rule, the stopped rule first" \
    sh -c "grep -o '<h3>[^<]*' '$T/report.html' | head -3 | grep -q 'ddi.interaction\|context.duplication'"
cat "$T/alarms"
[ "$fails" -eq 0 ] || { cat "$T/health"; echo; tail -5 "$T/log"; }
check_summary
