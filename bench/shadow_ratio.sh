#!/bin/sh
# bench/shadow_ratio.sh — what shadow mode costs live replies (issue 18: at most +10% p99):
# `cdsd-bench MODE` without and with `--shadow` (a copy of the shipped rules as the candidate),
# alternated in one run (only ratios of the same run mean anything on these machines). Prints
# each pair's p50/p99 and the median p99 ratio.
#   usage: bench/shadow_ratio.sh [BUILD_DIR] [PAIRS] [MODE] [DURATION]   (default: build 5 conc 4)
set -eu
B=${1:-build}; PAIRS=${2:-5}; MODE=${3:-conc}; D=${4:-4}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
cp -r rules "$T/candidate"
# "p50 p99" of the run's cdsd line(s), one per line
run() { CDSD_BENCH_KEEP_STATE=1 "$B/cdsd-bench" --duration "$D" --workers 2 "$@" "$MODE" 2>"$T/err" |
        awk '/^(tcp|http) cdsd/ { n = $3; for (i = 1; i <= NF; i++) { if ($i ~ /^p50=/) p50 = ($i == "p50=") ? $(i + 1) : substr($i, 5);
             if ($i ~ /^p99=/) p99 = ($i == "p99=") ? $(i + 1) : substr($i, 5) } sub("us", "", p50); sub("us", "", p99); print $2, n, p50, p99 }'; }
i=0
while [ $i -lt "$PAIRS" ]; do
    run >"$T/a"; rm -rf $(sed -n 's/^cdsd-bench: state kept in //p' "$T/err")
    run --shadow "$T/candidate" >"$T/b"
    # how many calls the candidate evaluated (the others were dropped: the service was busy)
    for st in $(sed -n 's/^cdsd-bench: state kept in //p' "$T/err"); do
        "$B/cdsd" report --shadow --state "$st" 2>/dev/null | sed -n 's/^Shadow comparison: /  shadow: /p'; rm -rf "$st"
    done
    paste -d' ' "$T/a" "$T/b" | awk -v k=$((i + 1)) '{ printf "pair %d: %s %s p50 %s / %s us, p99 %s / %s us (without / with shadow): p99 %.3fx\n",
        k, $1, $2, $3, $7, $4, $8, $8 / $4; print $2, $8 / $4 > "/dev/stderr" }' 2>>"$T/ratios"
    i=$((i + 1))
done
sort -k1,1 -k2,2n "$T/ratios" | awk '{ r[$1] = r[$1] " " $2 } END { for (k in r) { n = split(r[k], a, " ");
    printf "median p99 ratio with / without shadow, %s: %.3fx over %d pairs\n", k, a[int((n + 1) / 2)], n } }'
