#!/bin/sh
# observe_test.sh — what an on-call engineer and a load balancer read (issue 19 "Observability",
# issue 22 item 7): /metrics passes `promtool check metrics` on a live scrape and counts what
# happened; /health/live and /health/ready on the gateway and on --metrics; at SIGTERM ready turns
# 503 first and calls are still answered for --drain-ms; every log line is one logfmt event, and
# control characters a client sends (an NNG envelope's op) are escaped, never a line of their own.
# usage: observe_test.sh path/to/cdsd   (run from the repository root)
set -u
CDSD="$1"
REQ=fixtures/requests/spec-90-composed-order-sign-ddi.json
. tests/check.sh
T=$(mktemp -d)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill -KILL "$SERVER" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
if ! command -v promtool >/dev/null; then echo "FAIL: promtool not installed (Debian package prometheus; tools/setup.sh)"; exit 1; fi

# below Linux's ephemeral range, as cli_test.sh (a test beside this one never holds the port)
HPORT=$((20000 + ($$ * 7) % 12000)); MPORT=$((HPORT + 1))
H="http://127.0.0.1:$HPORT"; M="http://127.0.0.1:$MPORT"
"$CDSD" serve --listen "ipc://$T/cdsd.sock" --http "127.0.0.1:$HPORT" --metrics "127.0.0.1:$MPORT" --state "$T/var" \
    --fixtures none --workers 2 --drain-ms 20000 --log-level debug 2>"$T/log" &
SERVER=$!
for i in $(seq 1 50); do curl -s -o /dev/null "$M/health/live" && break; sleep 0.2; done
code() { curl -s -o "$T/body" -w "%{http_code}" "$@"; }
post() { code -X POST -H 'Content-Type: application/json' --data-binary "@$1" "$H/cds-services/$2"; }

check "/health/live is 200" test "$(code "$H/health/live")" = 200
check "/health/ready is 200 once the rules are loaded" test "$(code "$H/health/ready")" = 200
check "  saying ready" grep -q '"status":"ready"' "$T/body"
check "the --metrics listener answers /health/ready too" test "$(code "$M/health/ready")" = 200
check "POST to /health/ready is 405" test "$(code -X POST -d x "$M/health/ready")" = 405

for i in 1 2 3; do check "call $i is 200" test "$(post "$REQ" medication-safety)" = 200; done
check "an unknown service is 404" test "$(post "$REQ" no-such-service)" = 404
printf '{"hook":' >"$T/bad.json"
check "malformed JSON is 400 (from the gateway)" test "$(post "$T/bad.json" medication-safety)" = 400
printf '{"hook":"order-sign"}' >"$T/bad.json"
check "a request without its fields is 400 (from the service)" test "$(post "$T/bad.json" medication-safety)" = 400
"$CDSD" call --connect "ipc://$T/cdsd.sock" call medication-safety "$REQ" >/dev/null 2>&1
check "a call through the NNG door" test $? -eq 0
# an op carrying CR/LF and what would be the start of a forged line
"$CDSD" call --connect "ipc://$T/cdsd.sock" "$(printf 'x\r\nevent=forged')" >/dev/null 2>&1
"$CDSD" reload --state "$T/var" >/dev/null 2>&1
check "a reload" test $? -eq 0

# a live scrape, from both listeners
check "GET /metrics on the gateway (loopback) is 200" test "$(code "$H/metrics")" = 200
check "GET /metrics on --metrics is 200" test "$(code -D "$T/headers" "$M/metrics")" = 200
cp "$T/body" "$T/metrics"
check "  in text format 0.0.4" grep -qi '^content-type: text/plain; version=0.0.4' "$T/headers"
promtool check metrics <"$T/metrics" >"$T/promtool" 2>&1
check "promtool check metrics passes" test $? -eq 0
[ -s "$T/promtool" ] && cat "$T/promtool"
has() { grep -qx "$1" "$T/metrics" || { echo "  not in the scrape: $1"; return 1; }; }
check "calls by service and outcome" has 'cdsd_calls_total{service="medication-safety",outcome="ok"} 4'
check "an unknown service is counted as other" has 'cdsd_calls_total{service="other",outcome="unknown_service"} 1'
check "a bad request is counted" has 'cdsd_calls_total{service="medication-safety",outcome="bad_request"} 1'
check "the latency histogram counts every call of the service" has 'cdsd_call_duration_seconds_bucket{service="medication-safety",le="+Inf"} 5'
check "cards by rule and indicator" has 'cdsd_cards_total{rule="ddi.interaction",indicator="warning"} 4'
check "rule errors (none)" has 'cdsd_rule_errors_total{rule="ddi.interaction"} 0'
check "suppressed cards exist (0)" has 'cdsd_cards_suppressed_total{rule="ddi.interaction"} 0'
check "reloads and their outcome" has 'cdsd_reloads_total{outcome="ok"} 2'
check "the gateway's own answers are counted" has 'cdsd_http_responses_total{code="400"} 2'
check "an unknown op is counted" has 'cdsd_requests_total{op="other",outcome="unknown_op"} 1'
check "audit queue depth" grep -q '^cdsd_audit_queue_depth [0-9]' "$T/metrics"
check "audit commits (at least one per decision, batched: >= 1)" grep -q '^cdsd_audit_commit_seconds_count [1-9]' "$T/metrics"
check "the pack and knowledge digests as an info metric" grep -q "^cdsd_ruleset_info{pack=\"cdsd-shipped\",version=\"[^\"]*\",digest=\"[0-9a-f]\{64\}\",knowledge_digest=\"[0-9a-f]\{64\}\",generation=\"2\"} 1$" "$T/metrics"
check "ready as a gauge" has 'cdsd_ready 1'

# logs: every line is one logfmt event; the forged op stays inside its quoted field
check "every log line starts time= level= event=" sh -c "! grep -qv '^time=[0-9T:.-]*Z level=\(error\|warn\|info\|debug\) event=[a-z_]* ' '$T/log'"
check "no line starts with the forged text" sh -c "! grep -q '^event=forged' '$T/log'"
check "the op's CR/LF are written escaped" grep -q 'op="x\\r\\nevent=forged"' "$T/log"
check "a call's line has its decision, outcome and duration" \
    grep -q 'event=request id=- op=call service=medication-safety hook=order-sign status=200 outcome=ok decision=[0-9a-f-]\{36\} duration_ms=[0-9.]* msg="3 card(s)"' "$T/log"
check "an error's line has its outcome and path" grep -q 'status=400 outcome=bad_request' "$T/log"

# SIGTERM: ready turns 503 at once; calls are still answered during --drain-ms; then it exits
kill -TERM "$SERVER"
sleep 0.5
check "after SIGTERM /health/ready is 503" test "$(code "$M/health/ready")" = 503
check "  naming draining" grep -q '"reasons":"draining"' "$T/body"
check "  while /health/live is still 200" test "$(code "$H/health/live")" = 200
check "  and calls are still answered" test "$(post "$REQ" medication-safety)" = 200
check "the scrape says draining" sh -c "curl -s '$M/metrics' | grep -qx 'cdsd_draining 1'"
# (a wide --drain-ms, so a busy machine cannot end it before the checks above; a second SIGTERM
# ends the wait)
kill -TERM "$SERVER"
wait "$SERVER"
check "then the server drains and exits 0" test $? -eq 0
SERVER=
check "the drain is logged" grep -q 'event=drain msg="SIGTERM: /health/ready now answers 503; draining after --drain-ms"' "$T/log"
check "a second SIGTERM ends the wait" grep -q 'event=drain msg="second signal: draining now"' "$T/log"

check_summary
