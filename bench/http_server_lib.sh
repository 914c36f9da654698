# bench/http_server_lib.sh — sourced by wrk_http.sh and perf_http.sh: the Synthea bodies written
# by `cdsd-bench bodies` into $T/bodies, and cdsd started with cdsd-bench's server flags serving
# HTTP on a free loopback port ($PORT; its pid in $PID, killed on exit). Needs $B (build dir).
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
    i=$((i + 1)); [ $i -gt 100 ] && { echo "$0: cdsd did not start" >&2; exit 1; }
    sleep 0.1
done
