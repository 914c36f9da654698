#!/bin/sh
# shadow_test.sh — `cdsd serve --shadow DIR` through the real server (issue 18 part 2): under
# concurrent calls the live replies are those of a run without shadow mode, each call gets a
# shadow decision ("shadow of <id>") that no reader of live decisions counts (report, export,
# replay), `cdsd report --shadow` shows the candidate's change with example decision ids, health
# and /metrics count the shadow calls, and with a slow candidate and a tiny queue calls are
# dropped and counted while the live replies stay correct.
# usage: shadow_test.sh path/to/cdsd   (run from the repository root)
set -u
CDSD="$1"
. tests/check.sh
T=$(mktemp -d)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill -KILL "$SERVER" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT

# the calls: every order-sign request fixture (service medication-safety), round-robin
for f in fixtures/requests/*.json; do [ "$(jq -r .hook "$f")" = order-sign ] && echo "$f"; done >"$T/requests"
NREQ=$(wc -l <"$T/requests")
LOOPS=4 PER=12 N=$((4 * 12))

# the candidate: the shipped rules with the site policy raising curated major interactions to critical
cp -r rules "$T/candidate"
sed -i 's/^curated\tmajor\t\([^\t]*\)\twarning\t/curated\tmajor\t\1\tcritical\t/' "$T/candidate/interactions/tables/ddi_policy.tsv"
differs() { ! cmp -s "$@"; }
check "the candidate differs from the live policy" differs rules/interactions/tables/ddi_policy.tsv \
    "$T/candidate/interactions/tables/ddi_policy.tsv"

start() {   # start NAME [serve flags...]
    name=$1; shift
    "$CDSD" serve --listen "ipc://$T/$name.sock" --state "$T/$name" --fixtures none --workers 2 --summary-interval 0 --deadline 10000 \
        --audit-requests "$@" 2>"$T/$name.log" &
    SERVER=$!
    for i in $(seq 1 100); do "$CDSD" call --connect "ipc://$T/$name.sock" --timeout 500 health >/dev/null 2>&1 && return; sleep 0.1; done
    echo "the server $name did not start:"; cat "$T/$name.log"
}
stop() { kill -TERM "$SERVER"; wait "$SERVER"; SERVER=; }
# LOOPS clients at once, PER calls each; reply i of loop l in DIR/l-i.json (decision ids removed)
load() {
    name=$1; mkdir -p "$T/$name.replies"; pids=
    for l in $(seq 1 $LOOPS); do
        (for i in $(seq 1 $PER); do
            req=$(sed -n "$(( (l * PER + i) % NREQ + 1 ))p" "$T/requests")
            "$CDSD" call --connect "ipc://$T/$name.sock" call medication-safety "$req" | jq -S 'del(.decision)' \
                >"$T/$name.replies/$l-$i.json"
        done) &
        pids="$pids $!"
    done
    wait $pids   # not the server
}
health() { "$CDSD" call --connect "ipc://$T/$1.sock" health | jq -r ".result.shadow.$2 // \"none\""; }
q() { sqlite3 "$T/$1/audit.db" "$2"; }

# 1. without shadow mode
start plain
load plain
check "no shadow counters without --shadow" test "$(health plain evaluated)" = none
stop

# 2. the same calls with the candidate in shadow
start shadow --shadow "$T/candidate" --http "127.0.0.1:$((20000 + ($$ * 7) % 12000))"
load shadow
# the shadow thread runs at nice 19, only while the service is idle, and its rows are committed
# within a second: wide margin on a busy machine
W0=$(date +%s)
# (polled every second: each poll is a live call, and the shadow thread waits for none in flight)
for i in $(seq 1 150); do [ "$(health shadow evaluated)" = $N ] && break; sleep 1; done
echo "shadow: $N calls evaluated $(( $(date +%s) - W0 )) s after the live ones were answered"
"$CDSD" call --connect "ipc://$T/shadow.sock" health | jq -c '{inflight: .result.inflight, shadow: .result.shadow}'
check "health counts every call evaluated in shadow" test "$(health shadow evaluated)" = $N
check "  none dropped" test "$(health shadow dropped)" = 0
curl -s "http://127.0.0.1:$((20000 + ($$ * 7) % 12000))/metrics" >"$T/metrics"
check "/metrics counts them" grep -qx "cdsd_shadow_calls_total{outcome=\"evaluated\"} $N" "$T/metrics"
stop
check "the live replies are those of the run without shadow" diff -r "$T/plain.replies" "$T/shadow.replies"
check "  which show interaction cards" grep -lq '"ddi.interaction"' $T/shadow.replies/*.json
check "one live decision per call" test "$(q shadow 'SELECT count(*) FROM decision WHERE shadow IS NULL')" = $N
check "one shadow decision per call" test "$(q shadow 'SELECT count(*) FROM decision WHERE shadow = 1')" = $N
check "  each naming its live decision" test "$(q shadow "SELECT count(*) FROM decision s JOIN decision l ON s.caller = 'shadow of ' || l.decision WHERE s.shadow = 1 AND l.shadow IS NULL")" = $N
check "  with critical interaction cards the live set does not show" \
    test "$(q shadow "SELECT count(*) FROM card c JOIN decision d ON c.decision = d.seq WHERE d.shadow = 1 AND c.rule = 'ddi.interaction' AND c.indicator = 'critical'")" -gt 0

# readers of live decisions skip the shadow rows
"$CDSD" report --state "$T/shadow" >"$T/report"
check "cdsd report counts the live decisions only" grep -q "^cdsd alert report: $N decisions" "$T/report"
"$CDSD" report --state "$T/shadow" --format html --out "$T/report.html"
check "  also in HTML" grep -q ">$N<\|$N decisions" "$T/report.html"
"$CDSD" audit export --state "$T/shadow" >"$T/export" 2>"$T/export.err"
check "cdsd audit export exports the live decisions only" test "$(wc -l <"$T/export")" = $N
check "  none of them shadow" test -z "$(grep 'shadow of' "$T/export")"
"$CDSD" replay --state "$T/shadow" --pack rules >"$T/replay" 2>&1
check "cdsd replay re-evaluates the live decisions only" grep -q "$N decision" "$T/replay"
"$CDSD" audit verify --state "$T/shadow" >"$T/verify" 2>&1
check "the chain (shadow rows included) verifies" test $? -eq 0

# the committee's view
"$CDSD" report --shadow --state "$T/shadow" >"$T/shadow.report"
check "report --shadow compares the calls" grep -q "^Shadow comparison: $N call(s) evaluated by both" "$T/shadow.report"
check "  shows the interaction rule's indicator change" grep -q "indicator warning -> critical: e.g. [0-9a-f-]\{36\}" "$T/shadow.report"
ex=$(sed -n 's/.*indicator warning -> critical: e.g. \([0-9a-f-]\{36\}\).*/\1/p' "$T/shadow.report")
check "  with a live decision id as the example" test "$(q shadow "SELECT count(*) FROM decision WHERE decision = '$ex' AND shadow IS NULL")" = 1
check "  same firing rate for the unchanged rules" grep -q "^screen.unresolved .*(same)" "$T/shadow.report"
check "report --shadow is text only" test "$("$CDSD" report --shadow --state "$T/shadow" --format html >/dev/null 2>&1; echo $?)" = 2

# 3. a slow candidate and a queue of one: calls are dropped and counted, never delayed
cp -r rules "$T/slow"
cat >"$T/slow/screening/slow.lua" <<'LUA'
rule {
  id = "screen.slow", version = "1.0.0",
  title = "A slow candidate rule (shadow test)",
  hooks = { "order-select", "order-sign", "patient-view" },
  evaluate = function(ctx)
    local x = 0
    for i = 1, 3000000 do x = x + i % 7 end
    return nil
  end,
}
LUA
start tiny --shadow "$T/slow" --shadow-queue 1
load tiny
check "health counts dropped shadow calls" test "$(health tiny dropped)" -gt 0
ev=$(health tiny evaluated) dr=$(health tiny dropped) fa=$(health tiny failed)
stop
check "the live replies are still those of the run without shadow" diff -r "$T/plain.replies" "$T/tiny.replies"
check "every call has its live decision" test "$(q tiny 'SELECT count(*) FROM decision WHERE shadow IS NULL')" = $N
check "fewer shadow decisions than calls" test "$(q tiny 'SELECT count(*) FROM decision WHERE shadow = 1')" -lt $N
check "  counted: evaluated $ev + dropped $dr + failed $fa <= $N calls" test $((ev + dr + fa)) -le $N

# a candidate that does not load: the service does not start (the operator asked for shadow mode)
mkdir -p "$T/broken" && echo 'this is not lua' >"$T/broken/manifest.lua"
"$CDSD" serve --listen "ipc://$T/broken.sock" --state "$T/broken-state" --fixtures none --shadow "$T/broken" 2>"$T/broken.log"
check "a candidate that does not load stops the start" test $? -eq 1
check "  saying why" grep -q "shadow.*did not load" "$T/broken.log"
check_summary
