#!/bin/sh
# Bytes per decision of the audit log under the Synthea order-sign load (issue 23):
# N calls over HTTP (cdsd-bench http, 1 and 16 keep-alive connections, the shipped packs), then the
# audit database's page_count * page_size / decisions after VACUUM (a fair size: no free pages,
# no WAL). Cards and feedback tables are included (the whole file).
# Usage: bench/audit_bytes.sh [BUILD_DIR] [N]   (from the repository root)
set -eu
BUILD="${1:-build}"
N="${2:-20000}"
out=$(CDSD_BENCH_KEEP_STATE=1 "$BUILD/cdsd-bench" --count "$N" --warmup 0 http 2>&1)
echo "$out" | grep -v 'state kept'
total_bytes=0; total_dec=0
for st in $(echo "$out" | sed -n 's/^cdsd-bench: state kept in //p'); do
    db="$st/audit.db"
    sqlite3 "$db" 'VACUUM'
    set -- $(sqlite3 -separator ' ' "$db" 'SELECT (SELECT page_count FROM pragma_page_count) * (SELECT page_size FROM pragma_page_size), (SELECT count(*) FROM decision)')
    echo "$db: $1 bytes, $2 decisions, $(( $1 / $2 )) bytes/decision"
    total_bytes=$((total_bytes + $1)); total_dec=$((total_dec + $2))
    rm -rf "$st"
done
echo "audit bytes per decision: $(( total_bytes / total_dec )) ($total_dec decisions)"
