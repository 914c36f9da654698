#!/bin/sh
# disk_full.sh — the service's state directory on a small tmpfs that fills up (RELIABILITY S5):
# calls are answered 'internal' with a log line saying why (never a decision without its audit
# row), the process stays up, and it answers normally again once space is freed - no restart.
# Needs root to mount the tmpfs; without it the test reports itself skipped (exit 77). The mount
# is 0750: a tmpfs root is 1777 by default, and a state directory others may write is refused.
# usage: disk_full.sh path/to/cdsd   (run from the repository root)
set -u
CDSD="$1"
REQ=fixtures/requests/spec-90-composed-order-sign-ddi.json
. tests/check.sh
T=$(mktemp -d)
STATE="$T/state"
mkdir "$STATE"
SERVER=
cleanup() {
    [ -n "$SERVER" ] && kill -KILL "$SERVER" 2>/dev/null
    umount "$STATE" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
if ! mount -t tmpfs -o size=16m,mode=0750 tmpfs "$STATE" 2>"$T/mount.err"; then
    echo "SKIP: disk-full test needs to mount a tmpfs (root): $(cat "$T/mount.err")"
    exit 77
fi

call() { "$CDSD" call --connect "ipc://$T/cdsd.sock" call medication-safety "$REQ" >"$T/out" 2>&1; }

MPORT=$((20000 + ($$ * 11) % 12000))
ready() { curl -s -o "$T/ready" -w "%{http_code}" "http://127.0.0.1:$MPORT/health/ready"; }
"$CDSD" serve --listen "ipc://$T/cdsd.sock" --state "$STATE" --fixtures none --log-level warn \
    --metrics "127.0.0.1:$MPORT" 2>"$T/log" &
SERVER=$!
for i in $(seq 1 50); do "$CDSD" call --connect "ipc://$T/cdsd.sock" health >/dev/null 2>&1 && break; sleep 0.2; done
call
check "a call before the disk fills is answered" grep -q '"decision"' "$T/out"
check "/health/ready is 200" test "$(ready)" = 200

# fill the file system; then calls whose audit rows need new space must fail, not lie
dd if=/dev/zero of="$STATE/filler" bs=64k 2>/dev/null
refused=0
for i in $(seq 1 40); do
    call
    if grep -q '"internal"' "$T/out"; then refused=$((refused + 1)); fi
    if grep -q '"decision"' "$T/out" && grep -q '"internal"' "$T/out"; then echo "FAIL: an internal error carried a decision"; fails=$((fails + 1)); fi
done
echo "disk full: $refused of 40 calls answered 'internal'"
check "with the disk full, calls are answered 'internal'" test "$refused" -gt 0
check "the log says the audit row could not be written" grep -q "audit row could not be written" "$T/log"
check "the log names the cause" grep -q "database or disk is full" "$T/log"
check "the process is still up" kill -0 "$SERVER"
check "/health/ready is 503 while the disk is full" test "$(ready)" = 503
check "  naming the audit log" grep -q 'audit log not writable' "$T/ready"

# space again: the same process answers with decisions
rm -f "$STATE/filler"
call
check "after space is freed, calls get decisions again" grep -q '"decision"' "$T/out"
check "and /health/ready is 200 again" test "$(ready)" = 200
kill -TERM "$SERVER"; wait "$SERVER"
check "server exits 0 on SIGTERM" test $? -eq 0
SERVER=
"$CDSD" audit verify --state "$STATE" >"$T/out" 2>&1
check "audit chain intact" grep -q "intact:" "$T/out"
# one row per decision answered: the first call, the 40 minus those refused, the last
check "every decision answered has its row" grep -q "intact: $((2 + 40 - refused)) decisions" "$T/out"

check_summary
