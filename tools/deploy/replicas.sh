#!/bin/sh
# replicas.sh — three `cdsd serve --http` replicas on loopback behind HAProxy (haproxy.cfg beside
# this script): to try the set-up on one machine, and for tests/haproxy_test.sh.
#   replicas.sh start DIR PORT [CDSD] [RULES] [FIXTURES]
#       HAProxy on 127.0.0.1:PORT (stats on PORT+4: /stats;csv), replicas r1..r3 on PORT+1..PORT+3
#       (--http) and ipc://DIR/rN/cdsd.sock (NNG); each keeps its state in DIR/rN and its log in
#       DIR/rN.log; pids in DIR/*.pid. CDSD defaults to build/cdsd, RULES to rules, FIXTURES
#       (the reload gate) to fixtures. Extra `cdsd serve` flags: CDSD_SERVE_FLAGS.
#   replicas.sh start-replica DIR PORT N [CDSD] [RULES] [FIXTURES]   (re)start replica rN only
#   replicas.sh stop DIR      SIGTERM to everything started (each replica drains first)
# A rolling reload is `cdsd reload --state DIR/rN` for N = 1, 2, 3 (see README "Replicas behind HAProxy").
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cmd="$1"; DIR="$2"

replica() { # N PORT CDSD RULES FIXTURES
    n=$1; port=$(($2 + $1))
    mkdir -p "$DIR/r$n"
    # shellcheck disable=SC2086
    "$3" serve --http "127.0.0.1:$port" --listen "ipc://$DIR/r$n/cdsd.sock" --state "$DIR/r$n" --rules "$4" \
        --fixtures "$5" --workers 2 --drain-ms "${CDSD_DRAIN_MS:-2000}" ${CDSD_SERVE_FLAGS:-} 2>>"$DIR/r$n.log" &
    echo $! >"$DIR/r$n.pid"
}

case "$cmd" in
start)
    PORT="$3"; CDSD="${4:-build/cdsd}"; RULES="${5:-rules}"; FIXTURES="${6:-fixtures}"
    mkdir -p "$DIR"
    for n in 1 2 3; do replica "$n" "$PORT" "$CDSD" "$RULES" "$FIXTURES"; done
    CDSD_LB_BIND="127.0.0.1:$PORT" CDSD_LB_STATS="127.0.0.1:$((PORT + 4))" CDSD_R1="127.0.0.1:$((PORT + 1))" \
        CDSD_R2="127.0.0.1:$((PORT + 2))" CDSD_R3="127.0.0.1:$((PORT + 3))" \
        haproxy -f "$here/haproxy.cfg" -db 2>>"$DIR/haproxy.log" &   # foreground: its log (stderr) to DIR/haproxy.log
    echo $! >"$DIR/haproxy.pid"
    ;;
start-replica)
    replica "$4" "$3" "${5:-build/cdsd}" "${6:-rules}" "${7:-fixtures}"
    ;;
stop)
    for f in "$DIR"/r1.pid "$DIR"/r2.pid "$DIR"/r3.pid "$DIR"/haproxy.pid; do
        [ -f "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null || true
    done
    ;;
*)
    echo "usage: replicas.sh start|start-replica|stop DIR ..." >&2
    exit 2
    ;;
esac
