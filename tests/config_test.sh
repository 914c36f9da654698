#!/bin/sh
# config_test.sh — the config file (`cdsd serve --config FILE`, `cdsd config check FILE`): every
# serve flag is a key, bad keys and values are errors with FILE:LINE, flags override the file.
# usage: config_test.sh path/to/cdsd   (run from the repository root)
set -u
CDSD="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
. tests/check.sh
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
RULES="$(pwd)/rules"

# config check: a valid file (comments, a bare switch, a quoted value, repeated repeatable keys)
cat >"$T/good.conf" <<CONF
# cdsd.conf for the test
listen = ipc://$T/good.sock      # trailing comment
rules = $RULES
state = $T/var
workers = 2
max-request = 1048576
log-level = warn
audit-sync = full
audit-requests
public-url = https://cds.example.org,https://cds2.example.org
public-url = "https://cds3.example.org"
jwt-jku = https://ehr.example.org/jwks#key1
CONF
"$CDSD" config check "$T/good.conf" >"$T/out" 2>"$T/err"
check "config check: a valid file exits 0" test $? -eq 0
check "  and says ok" grep -q "^$T/good.conf: ok$" "$T/out"

# config check: each bad file exits 1 with FILE:LINE and the reason
bad() { # name, expected message (grep -F), then the file's lines
    name="$1"; want="$2"; shift 2
    printf '%s\n' "# line 1" "rules = $RULES" "$@" >"$T/bad.conf"
    "$CDSD" config check "$T/bad.conf" >"$T/out" 2>"$T/err"
    check "config check: $name exits 1" test $? -eq 1
    check "  with FILE:LINE: $want" grep -qF "$T/bad.conf:$want" "$T/err"
}
bad "an unknown key" "3: unknown key 'listn'" "listn = tcp://127.0.0.1:7411"
bad "a word for a number" "3: workers: 'four': expected a whole number from 1 to 1024" "workers = four"
bad "trailing text after a number" "4: deadline: '250ms'" "" "deadline = 250ms"
bad "a number out of range" "3: max-request: '12': expected a whole number from 1024" "max-request = 12"
bad "a negative queue" "3: queue: '-1'" "queue = -1"
bad "an unknown log level" "3: log-level: unknown log level 'loud'" "log-level = loud"
bad "a bad audit-sync" "3: audit-sync: 'sometimes': expected full or normal" "audit-sync = sometimes"
bad "a bad switch value" "3: audit-requests: 'maybe': expected true or false" "audit-requests = maybe"
bad "an empty value" "3: listen: a value is needed" "listen ="
bad "a single-valued key twice" "4: workers: set twice (first at line 3)" "workers = 2" "workers = 3"
bad "a config key inside a config file" "3: unknown key 'config' (a config file cannot name another)" "config = /x"
bad "a line without a key" "3: a value without a key" "= 3"
bad "a key with spaces" "3: 'log level' is not a key" "log level = info"
bad "an unclosed quote" "3: listen: the value's closing '\"' is missing" 'listen = "ipc:///x'
bad "a JWKS file that does not exist" "3: jwt-issuer:" "jwt-issuer = https://ehr.example.org=$T/none.json"
printf 'workers = 2\n' >"$T/norules.conf"
(cd "$T" && "$CDSD" config check norules.conf >"$T/out" 2>"$T/err")
check "config check: no rules directory exits 1" test $? -eq 1
check "  and says so" grep -qF "rules: rules is not a directory" "$T/err"
printf 'rules = %s\nmax-request = 8192\nhttp-max-buffered = 4096\n' "$RULES" >"$T/buffered.conf"
"$CDSD" config check "$T/buffered.conf" >"$T/out" 2>"$T/err"
check "config check: http-max-buffered below max-request exits 1" test $? -eq 1
check "  and says so" grep -qF "http-max-buffered must be at least max-request (8192)" "$T/err"
"$CDSD" config check "$T/missing.conf" >"$T/out" 2>"$T/err"
check "config check: a missing file exits 1" test $? -eq 1
check "  naming it" grep -qF "$T/missing.conf: No such file or directory" "$T/err"
"$CDSD" config >"$T/out" 2>"$T/err"
check "config without check is a usage error" test $? -eq 2

# the packaged /etc/cdsd/cdsd.conf (tools/deploy/cdsd.conf) is valid, and so is every example key
# commented out in it (paths moved into the checkout)
sed -e "s|/usr/share/cdsd/|$(pwd)/|" -e "s|/var/lib/cdsd|$T/pkgvar|" tools/deploy/cdsd.conf >"$T/pkg.conf"
"$CDSD" config check "$T/pkg.conf" >"$T/out" 2>"$T/err"
check "the packaged cdsd.conf is valid" test $? -eq 0
sed -e 's/^#\([a-z-]* = \)/\1/' -e "s|/etc/cdsd/ehr-jwks.json|$(pwd)/tools/cds-hooks-sandbox-jwks.json|" "$T/pkg.conf" \
    >"$T/pkg-all.conf"
check "  it has commented examples" test "$(grep -c '^#[a-z-]* = ' "$T/pkg.conf")" -ge 10
"$CDSD" config check "$T/pkg-all.conf" >"$T/out" 2>"$T/err"
check "  which are valid keys and values" test $? -eq 0

# every flag 'cdsd serve --help' lists is a config key (the same table)
"$CDSD" serve --help | grep -o '^  --[a-z-]*' | sed 's/^  --//' | grep -vx config >"$T/flags"
check "serve --help lists flags" test "$(wc -l <"$T/flags")" -ge 20
while read -r flag; do
    printf 'rules = %s\n%s = x\n' "$RULES" "$flag" >"$T/key.conf"
    "$CDSD" config check "$T/key.conf" >"$T/out" 2>"$T/err"
    check "--$flag is a config key" sh -c "! grep -q 'unknown key' '$T/err'"
done <"$T/flags"

# serve: the file's values are used, flags override them (the socket named on the command line
# answers, the file's does not; the file's state directory is used)
cat >"$T/serve.conf" <<CONF
listen = ipc://$T/file.sock
rules = $RULES
state = $T/sv
fixtures = none
log-level = warn
workers = 1
CONF
"$CDSD" serve --config "$T/serve.conf" --listen "ipc://$T/flag.sock" --log-level info 2>"$T/serve.log" &
SERVER=$!
for i in $(seq 1 50); do "$CDSD" call --connect "ipc://$T/flag.sock" health >"$T/health" 2>/dev/null && break; sleep 0.2; done
check "serve --config: the flag's listen address answers" grep -q '"status": "ok"' "$T/health"
check "  the file's is not used" test ! -e "$T/file.sock"
check "  the file's state directory is" test -f "$T/sv/audit.db"
check "  the file's workers = 1" grep -q '"workers": 1' "$T/health"
check "  --log-level info overrides the file's warn" grep -q "config $T/serve.conf" "$T/serve.log"
kill -TERM $SERVER; wait $SERVER
check "  exits 0 on SIGTERM" test $? -eq 0

# serve: a bad file or a bad flag stops it before it starts, exit 2, with FILE:LINE or the flag
printf 'rules = %s\nworkers = lots\n' "$RULES" >"$T/badserve.conf"
timeout 20 "$CDSD" serve --config "$T/badserve.conf" --listen "ipc://$T/no.sock" >"$T/out" 2>"$T/err"
check "serve with a bad config exits 2" test $? -eq 2
check "  naming FILE:LINE" grep -qF "cdsd serve: $T/badserve.conf:2: workers: 'lots'" "$T/err"
timeout 20 "$CDSD" serve --config "$T/serve.conf" --deadline soon >"$T/out" 2>"$T/err"
check "serve with a bad flag exits 2" test $? -eq 2
check "  naming the flag" grep -qF "cdsd serve: --deadline: 'soon'" "$T/err"
timeout 20 "$CDSD" serve --config "$T/serve.conf" --workers 2 --workers 2x >"$T/out" 2>"$T/err"
check "serve: each flag's value is checked" grep -qF -- "--workers: '2x'" "$T/err"
printf 'rules = %s\nworkers = lots\n' "$RULES" >"$T/over.conf"
timeout 20 "$CDSD" serve --config "$T/over.conf" --workers 1 --listen "ipc://$T/over.sock" >"$T/out" 2>"$T/err"
check "serve: a bad key is an error even when a flag overrides it" grep -qF "$T/over.conf:2: workers: 'lots'" "$T/err"

check_summary
