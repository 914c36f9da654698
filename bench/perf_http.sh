#!/bin/sh
# bench/perf_http.sh — where the HTTP door's CPU goes (issue 20): cdsd started as cdsd-bench
# starts it, wrk posting the Synthea requests over 16 keep-alive connections, and `perf record`
# (timer sampling: these VMs have no hardware counters) on the server meanwhile. Prints the CPU
# share per thread kind and the hottest functions.
#   usage: bench/perf_http.sh [BUILD_DIR] [SECONDS] [CONNECTIONS]   (default: build 5 16)
set -eu
B=${1:-build}; D=${2:-5}; C=${3:-16}
for t in wrk perf; do command -v $t >/dev/null || { echo "perf_http.sh: needs $t (apt-get install wrk linux-perf)" >&2; exit 2; }; done
. "$(dirname "$0")/http_server_lib.sh"
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
