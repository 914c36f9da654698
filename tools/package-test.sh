#!/bin/sh
# package-test.sh — the Debian package end to end, as an on-call engineer meets it: build the .deb,
# lintian (no errors), install it, check the unit (systemd-analyze verify, security exposure
# below 2.0), start the installed binary as cdsd.service would (its ExecStart, an unprivileged
# user, no new privileges) under strace, check every system call it made is one the unit's
# SystemCallFilter allows and none mapped writable+executable memory (MemoryDenyWriteExecute),
# make calls, reload, stop it, purge the package and check nothing is left.
# PID 1 is not systemd in CI containers, so the unit itself is not started.
# Root only (it installs a package): otherwise it prints SKIPPED and exits 0.
# usage: tools/package-test.sh [BUILD_DIR]   (default build; configured and built already)
set -u
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
if [ "$(id -u)" -ne 0 ]; then
    echo "package-test: SKIPPED: not root (it installs and purges a .deb)"
    exit 0
fi
if dpkg-query -W -f='${Status}' cdsd 2>/dev/null | grep -q 'installed\|config-files'; then
    echo "package-test: SKIPPED: a cdsd package is installed on this machine; not touching it"
    exit 0
fi
if [ -e /var/lib/cdsd ] || [ -e /var/lib/private/cdsd ] || [ -e /etc/cdsd ]; then
    echo "package-test: SKIPPED: /var/lib/cdsd or /etc/cdsd exists without the package; not touching it"
    exit 0
fi
# lintian, systemd-analyze (systemd), man (the unit's Documentation=), strace, setpriv (util-linux)
tools/install-missing.sh lintian systemd man-db strace util-linux >/dev/null || exit 1

. tests/check.sh
T=$(mktemp -d)
SERVER=""
cleanup() {
    [ -n "$SERVER" ] && kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    dpkg-query -W cdsd >/dev/null 2>&1 && dpkg --purge cdsd >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT

# build and lint
cmake --build "$BUILD" -j2 --target package >"$T/cpack.log" 2>&1
check "the package builds" test $? -eq 0 || { tail -20 "$T/cpack.log"; exit 1; }
DEB=$(ls -t "$BUILD"/cdsd_*.deb | head -1)
echo "package-test: $DEB"
lintian --fail-on error "$DEB" >"$T/lintian" 2>&1
check "lintian reports no errors" test $? -eq 0
grep -v '^running with root' "$T/lintian" | sed 's/^/  lintian: /'

# install
# a missing runtime library on a fresh machine: dpkg -i leaves it unconfigured, apt completes it
dpkg -i "$DEB" >"$T/dpkg.log" 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -f -y -q >>"$T/dpkg.log" 2>&1
check "dpkg -i installs it" sh -c "dpkg-query -W -f='\${Status}' cdsd | grep -q 'install ok installed'" ||
    { cat "$T/dpkg.log"; exit 1; }
dpkg -L cdsd >"$T/files"
for f in /usr/bin/cdsd /etc/cdsd/cdsd.conf /lib/systemd/system/cdsd.service /usr/share/man/man1/cdsd.1.gz \
         /usr/share/cdsd/rules/manifest.lua /usr/share/cdsd/fixtures /usr/share/doc/cdsd/copyright \
         /usr/share/doc/cdsd/changelog.gz; do
    check "installed: $f" test -e "$f"
done
WANTS=/etc/systemd/system/multi-user.target.wants/cdsd.service
check "postinst enabled the unit ($WANTS)" test -L "$WANTS"
check "/etc/cdsd/cdsd.conf is a conffile" sh -c "dpkg-query -W -f='\${Conffiles}' cdsd | grep -q /etc/cdsd/cdsd.conf"
/usr/bin/cdsd config check >"$T/out" 2>&1
check "cdsd config check (default: the installed /etc/cdsd/cdsd.conf) passes" test $? -eq 0

# the unit
UNIT=/lib/systemd/system/cdsd.service
systemd-analyze verify "$UNIT" >"$T/verify" 2>&1
check "systemd-analyze verify accepts the unit" test $? -eq 0
check "  without a word" test ! -s "$T/verify"
cat "$T/verify"
systemd-analyze security --offline=true "$UNIT" >"$T/security" 2>&1
EXPOSURE=$(sed -n 's/.*Overall exposure level for cdsd.service: \([0-9.]*\).*/\1/p' "$T/security")
echo "package-test: systemd-analyze security --offline=true: exposure ${EXPOSURE:-?} (0 = fully hardened, 10 = none)"
grep '✗' "$T/security" | sed 's/^/  /'
check "exposure below 2.0" awk -v e="${EXPOSURE:-10}" 'BEGIN { exit !(e < 2.0) }'

# run the installed binary as the unit would: its ExecStart, as an unprivileged user with no new
# privileges, on a temp state directory (the unit's is /var/lib/cdsd) and an ipc:// socket there
# (so a service already on 127.0.0.1:7411 cannot interfere)
EXEC=$(sed -n 's/^ExecStart=//p' "$UNIT")
check "ExecStart reads /etc/cdsd/cdsd.conf" test "$EXEC" = "/usr/bin/cdsd serve --config /etc/cdsd/cdsd.conf"
SVC_UID=64999
STATE="$T/state"
mkdir -p "$STATE" && chown "$SVC_UID:$SVC_UID" "$STATE" && chmod 700 "$STATE"
chmod 755 "$T"
SOCK="ipc://$STATE/cdsd.sock"
# shellcheck disable=SC2086
strace -f -qq -o "$T/trace" setpriv --reuid=$SVC_UID --regid=$SVC_UID --clear-groups --no-new-privs \
    $EXEC --state "$STATE" --listen "$SOCK" 2>"$T/serve.log" &
SERVER=$!
for i in $(seq 1 150); do /usr/bin/cdsd call --connect "$SOCK" health >"$T/health" 2>/dev/null && break; sleep 0.2; done
check "the installed service answers health" grep -q '"status": "ok"' "$T/health"
check "  as the unprivileged user" test "$(stat -c %u "$STATE/audit.db" 2>/dev/null)" = "$SVC_UID"
check "  reading /etc/cdsd/cdsd.conf" grep -q "config /etc/cdsd/cdsd.conf" "$T/serve.log"
/usr/bin/cdsd call --connect "$SOCK" call medication-safety \
    /usr/share/cdsd/fixtures/requests/spec-90-composed-order-sign-ddi.json >"$T/call" 2>&1
check "a call gets its cards" grep -q 'Major interaction: warfarin with aspirin' "$T/call"
/usr/bin/cdsd reload --state "$STATE" >"$T/reload" 2>&1
check "cdsd reload through the admin socket (gated by the shipped fixtures)" grep -q '^reload: ok' "$T/reload"
kill -HUP "$(pgrep -u $SVC_UID -x cdsd)"   # what ExecReload sends
sleep 1
for i in $(seq 1 150); do grep -q 'SIGHUP: reloading' "$T/serve.log" && /usr/bin/cdsd call --connect "$SOCK" health \
    >/dev/null 2>&1 && break; sleep 0.2; done
kill -TERM "$(pgrep -u $SVC_UID -x cdsd)"   # what systemctl stop sends
wait "$SERVER"
check "SIGTERM: it drains and exits 0" test $? -eq 0
SERVER=""
check "  no error in its log" sh -c "! grep -q ' error ' '$T/serve.log'"
/usr/bin/cdsd audit verify --state "$STATE" >"$T/audit" 2>&1
check "its audit log's hash chain verifies" test $? -eq 0

# without --config, the installed binary reads /etc/cdsd/cdsd.conf; a build tree's binary does not
serve_briefly() { # log file, then the command; started, asked for health, stopped
    log="$1"; shift
    "$@" 2>"$log" &
    pid=$!
    for i in $(seq 1 150); do /usr/bin/cdsd call --connect "ipc://$T/brief.sock" health >/dev/null 2>&1 && break; sleep 0.2; done
    kill -TERM $pid; wait $pid
}
serve_briefly "$T/installed.log" /usr/bin/cdsd serve --state "$T/s2" --listen "ipc://$T/brief.sock"
check "the installed binary reads /etc/cdsd/cdsd.conf by default" grep -q "config /etc/cdsd/cdsd.conf" "$T/installed.log"
serve_briefly "$T/tree.log" "$BUILD/cdsd" serve --state "$T/s3" --listen "ipc://$T/brief.sock" --fixtures none
check "a build tree's binary does not" sh -c "grep -q 'cdsd serving on' '$T/tree.log' && ! grep -q 'config /etc' '$T/tree.log'"

# the unit's sandbox would not have stopped it: every system call is in its SystemCallFilter
expand() { # a systemd syscall group, recursively
    systemd-analyze syscall-filter "$1" | sed 1d | grep -v '^ *#' | sed 's/^ *//' | grep -v '^$' |
        while read -r s; do case $s in @*) expand "$s" ;; *) echo "$s" ;; esac; done
}
: >"$T/allowed"; : >"$T/denied"
sed -n 's/^SystemCallFilter=//p' "$UNIT" | while read -r line; do
    case $line in "~"*) out="$T/denied"; line=${line#\~} ;; *) out="$T/allowed" ;; esac
    for g in $line; do case $g in @*) expand "$g" ;; *) echo "$g" ;; esac; done >>"$out"
done
sort -u "$T/allowed" -o "$T/allowed"; sort -u "$T/denied" -o "$T/denied"
comm -23 "$T/allowed" "$T/denied" >"$T/filter"
# the process's own calls, after setpriv's exec of cdsd (setpriv's are not the service's)
awk '/execve\("\/usr\/bin\/cdsd"/ { on = 1 } on' "$T/trace" | sed -n 's/^[0-9]* *\([a-z_0-9]*\)(.*/\1/p' | sort -u \
    >"$T/used"
check "strace saw the service's system calls" test "$(wc -l <"$T/used")" -gt 30
comm -23 "$T/used" "$T/filter" >"$T/outside"
check "every system call it made is allowed by the unit's SystemCallFilter" test ! -s "$T/outside"
sed 's/^/  not allowed: /' "$T/outside"
check "no writable+executable mapping (MemoryDenyWriteExecute)" \
    sh -c "! grep -E 'mmap|mprotect' '$T/trace' | grep -q 'PROT_WRITE|PROT_EXEC\|PROT_EXEC|PROT_WRITE'"

# purge: nothing left (the service's state included: simulate what the unit would have made)
mkdir -p /var/lib/cdsd && touch /var/lib/cdsd/audit.db
dpkg --purge cdsd >"$T/purge.log" 2>&1
check "dpkg --purge removes it" test $? -eq 0
check "  dpkg forgets it" sh -c "! dpkg-query -W cdsd >/dev/null 2>&1"
left=""
while read -r f; do
    if [ -f "$f" ] || { [ -L "$f" ] && [ ! -d "$f" ]; }; then left="$left $f"; fi   # /lib is a symlink to a dir
    case $f in */cdsd|*/cdsd/*) [ -d "$f" ] && left="$left $f" ;; esac
done <"$T/files"
for d in /etc/cdsd /var/lib/cdsd /var/lib/private/cdsd /usr/share/cdsd /usr/share/doc/cdsd "$WANTS" \
         /var/lib/systemd/deb-systemd-helper-enabled/cdsd.service.dsh-also \
         /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/cdsd.service; do
    { [ -e "$d" ] || [ -L "$d" ]; } && left="$left $d"
done
check "  nothing is left${left:+:$left}" test -z "$left"

check_summary
