#!/bin/sh
# bench/rules_ratio.sh — what a change to the rule set costs per request: `cdsd-bench MODE` with
# the rules of a git revision (default main) against the working tree's rules, interleaved in one
# run (machines here differ 2-4x between sessions and helper builds share the cores: only the
# ratio of the same run means anything). Prints each run's p50 and the median ratio.
#   usage: bench/rules_ratio.sh [BUILD_DIR] [RUNS] [REV] [MODE]   (default: build 5 main inproc)
#   MODE scale-kb compares the in-process p50 of each kb size.
set -eu
B=${1:-build}; RUNS=${2:-5}; REV=${3:-main}; MODE=${4:-inproc}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
git archive "$REV" rules | tar -x -C "$T"; mv "$T/rules" "$T/base"; cp -r rules "$T/with"
# p50 of each in-process row, one per line ("NAME p50")
p50() { "$B/cdsd-bench" --rules "$1" --duration 2 "$MODE" 2>/dev/null | awk '/inproc/ { name = $1; for (i = 2; i <= NF; i++) { if ($i ~ /^pairs=|^meds=/) name = name " " $i; if ($i ~ /^p50=/) { v = $i; sub("p50=", "", v); if (v == "") v = $(i + 1); sub("us", "", v); print name, v } } }'; }
i=0
while [ $i -lt "$RUNS" ]; do
    p50 "$T/base" >"$T/b"; p50 "$T/with" >"$T/w"
    paste -d' ' "$T/b" "$T/w" | awk -v run=$((i + 1)) -v rev="$REV" '{ n = NF / 2; name = $1; for (k = 2; k < n; k++) name = name " " $k;
        printf "run %d: %s p50 %s %s us, this tree %s us: %.3fx\n", run, name, rev, $n, $NF, $NF / $n }' | tee -a "$T/all"
    i=$((i + 1))
done
awk '{ key = $3; for (k = 4; $k != "p50"; k++) key = key " " $k; r[key] = r[key] " " substr($NF, 1, length($NF) - 1) }
     END { for (k in r) { n = split(r[k], a, " "); for (x = 1; x <= n; x++) for (y = x + 1; y <= n; y++) if (a[y] < a[x]) { t = a[x]; a[x] = a[y]; a[y] = t }
           printf "median ratio this tree / base, %s: %.3fx over %d runs\n", k, a[int((n + 1) / 2)], n } }' "$T/all"
