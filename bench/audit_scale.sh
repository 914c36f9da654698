#!/bin/sh
# The audit log at scale (issue 23): a year of synthetic decisions (cdsd-audit-gen: 15,000 a day,
# ~10 million rows across decisions, cards and feedback) and a month of the same, then
#   - size: bytes per decision with cards and feedback (page_count * page_size / decisions)
#   - cdsd report over the same 30 days, on the year and on the month (3 runs each, alternating)
#   - cdsd audit verify of the year
#   - the service's reply latency (cdsd-bench seq against a server on the year's state) idle and
#     while `cdsd audit archive` moves the oldest week out (7x what a daily --audit-retain run
#     moves), then idle again
# Usage: bench/audit_scale.sh [BUILD_DIR] [WORK_DIR] [BENCH_SECONDS]   (from the repository root)
set -eu
BUILD="${1:-build}"; D="${2:-/tmp/cdsd-audit-scale}"; S="${3:-40}"
mkdir -p "$D"
[ -f "$D/year/audit.db" ] || "$BUILD/cdsd-audit-gen" --state "$D/year" --days 365 --per-day 15000
[ -f "$D/month/audit.db" ] || "$BUILD/cdsd-audit-gen" --state "$D/month" --days 31 --per-day 15000
secs() { s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
for set in year month; do
    db="$D/$set/audit.db"
    sqlite3 "$db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
    sqlite3 -separator ' ' "$db" "SELECT '$set:', (SELECT count(*) FROM decision) || ' decisions,', (SELECT count(*) FROM card) || ' cards,',
        (SELECT count(*) FROM feedback) || ' feedback,', (SELECT page_count - freelist_count FROM pragma_page_count, pragma_freelist_count) * 4096 / (SELECT count(*) FROM decision) || ' bytes/decision'"
done
# the same 30 days on both (the month's last 30 days; the year ends at the same time), wall and
# CPU seconds (on a shared machine the CPU time is the steadier figure)
until=$(sqlite3 "$D/month/audit.db" "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', max(time_ms)/1000 + 1, 'unixepoch') FROM decision")
since=$(sqlite3 "$D/month/audit.db" "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', max(time_ms)/1000 + 1 - 30*86400, 'unixepoch') FROM decision")
for i in 1 2 3; do
    for set in year month; do
        /usr/bin/time -f "report $since..$until on the $set: %e s, CPU %U+%S s" "$BUILD/cdsd" report --state "$D/$set" \
            --since "$since" --until "$until" 2>&1 >/dev/null | tail -1
    done
done
/usr/bin/time -f "report of the whole year: %e s, CPU %U+%S s" "$BUILD/cdsd" report --state "$D/year" --until "$until" 2>&1 >/dev/null | tail -1
echo "audit verify of the year: $(secs "$BUILD/cdsd" audit verify --state "$D/year") s"
p99() { CDSD_BENCH_STATE="$D/year" "$BUILD/cdsd-bench" --duration "$S" --warmup 1 seq 2>/dev/null | grep '^tcp cdsd' ; }
echo "idle:           $(p99)"
cut=$(sqlite3 "$D/year/audit.db" "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', min(time_ms)/1000 + 7*86400, 'unixepoch') FROM decision")
# (the archive command, like the service's --audit-retain thread, runs at idle CPU priority)
( sleep 3; s=$(date +%s); "$BUILD/cdsd" audit archive --state "$D/year" --before "$cut" >"$D/archive.out" 2>&1; echo "archive took $(( $(date +%s) - s )) s" >>"$D/archive.out" ) &
echo "while archiving: $(p99)"
wait
cat "$D/archive.out"
echo "idle again:     $(p99)"
echo "audit verify of archive + year: $(secs "$BUILD/cdsd" audit verify --state "$D/year") s"
"$BUILD/cdsd" audit verify --state "$D/year" | tail -2
