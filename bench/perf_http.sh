#!/bin/sh
# bench/perf_http.sh — where the HTTP door's CPU goes (issue 20): cdsd started as cdsd-bench
# starts it, wrk posting the Synthea requests over 16 keep-alive connections, and `perf record`
# (timer sampling: these VMs have no hardware counters) on the server meanwhile. Prints the CPU
# share per thread kind and the hottest functions.
#   usage: bench/perf_http.sh [BUILD_DIR] [SECONDS] [CONNECTIONS]   (default: build 5 16)
set -eu
B=${1:-build}; D=${2:-5}; C=${3:-16}
for t in wrk perf; do command -v $t >/dev/null || { echo "perf_http.sh: needs $t" >&2; exit 2; }; done
T=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
mkdir "$T/bodies" "$T/state"
CDSD_BENCH_BODIES="$T/bodies" "$B/cdsd-bench" bodies >/dev/null
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$B/cdsd" serve --listen "ipc://$T/cdsd.sock" --rules rules --state "$T/state" --workers 4 --fixtures none \
    --log-level error --deadline 10000 --queue 1024 --http "127.0.0.1:$PORT" &
PID=$!
i=0
until curl -sf "http://127.0.0.1:$PORT/cds-services" >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "perf_http.sh: cdsd did not start" >&2; exit 1; }
    sleep 0.1
done
T2=$((C < 2 ? 1 : 2))
wrk -t$T2 -c"$C" -d1s -s bench/wrk_post.lua "http://127.0.0.1:$PORT" -- "$T/bodies" >/dev/null   # warm-up
perf record -q -F 1999 -g -a -o "$T/perf.data" -- sleep "$D" 2>/dev/null &   # -a: connection threads come and go
REC=$!
wrk -t$T2 -c"$C" -d"${D}s" -s bench/wrk_post.lua "http://127.0.0.1:$PORT" -- "$T/bodies" | grep -E 'Requests/sec'
wait $REC
echo "## CPU samples by thread"
perf report -i "$T/perf.data" --pid "$PID" --no-children --sort comm --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -12
echo "## hottest functions (self)"
perf report -i "$T/perf.data" --pid "$PID" --no-children --sort comm,dso,sym --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -45
