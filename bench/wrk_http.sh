#!/bin/sh
# bench/wrk_http.sh — the HTTP door measured by an independent client (Debian's wrk), as a cross-
# check of `cdsd-bench http`: the same Synthea requests (written by `cdsd-bench bodies`), the same
# server flags as cdsd-bench's server, keep-alive connections: 1 connection (1 wrk thread) and 16
# (2 wrk threads). Prints wrk's latency distribution and requests/s for each.
#   usage: bench/wrk_http.sh [BUILD_DIR] [SECONDS]   (default: build 3; run from the repository root)
set -eu
B=${1:-build}; D=${2:-3}
command -v wrk >/dev/null || { echo "wrk_http.sh: needs wrk (apt-get install wrk)" >&2; exit 2; }
. "$(dirname "$0")/http_server_lib.sh"
echo "# $(ls "$T/bodies" | wc -l) requests; cdsd --workers 4; ${D} s per run after a 1 s warm-up; $(nproc) cores"
for run in "1 1" "2 16"; do
    set -- $run
    wrk -t"$1" -c"$2" -d1s -s bench/wrk_post.lua "http://127.0.0.1:$PORT" -- "$T/bodies" >/dev/null   # warm-up
    echo "## wrk -t$1 -c$2 -d${D}s --latency"
    wrk -t"$1" -c"$2" -d"${D}s" --latency -s bench/wrk_post.lua "http://127.0.0.1:$PORT" -- "$T/bodies" |
        grep -E 'Latency  |50%|90%|99%|Requests/sec|Non-2xx|Socket errors'
done
