#!/bin/sh
# bench/packs_ratio.sh — what the clinical-breadth packs cost per request: `cdsd-bench inproc`
# with the shipped manifest against the same rules with a manifest that leaves the new packs'
# rules out, interleaved in one run (machines here differ 2-4x between sessions: only the ratio
# of the same run means anything). Prints each run's p50 and the median ratio.
#   usage: bench/packs_ratio.sh [BUILD_DIR] [RUNS] [PATTERNS...]   (default: build 3 dose route context)
#   EXCLUDE="context" leaves those patterns out of both sides (e.g. the dosing packs alone).
set -eu
B=${1:-build}; RUNS=${2:-3}; shift 2 2>/dev/null || true
PATTERNS=${*:-dose route context}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
cp -r rules "$T/base"; cp -r rules "$T/with"
for p in $PATTERNS ${EXCLUDE:-}; do sed -i "s/, \"$p\.\*\"//g" "$T/base/manifest.lua"; done
for p in ${EXCLUDE:-}; do sed -i "s/, \"$p\.\*\"//g" "$T/with/manifest.lua"; done
p50() { "$B/cdsd-bench" --rules "$1" --duration 2 inproc 2>/dev/null | awk '/^inproc/ { for (i = 1; i <= NF; i++) if ($i ~ /^p50=/) { v = $i; sub("p50=", "", v); if (v == "") v = $(i + 1); sub("us", "", v); print v } }'; }
i=0; ratios=""
while [ $i -lt "$RUNS" ]; do
    without=$(p50 "$T/base"); with=$(p50 "$T/with")
    r=$(awk -v a="$with" -v b="$without" 'BEGIN { printf "%.3f", a / b }')
    echo "run $((i + 1)): p50 without ($PATTERNS) ${without} us, with ${with} us: ${r}x"
    ratios="$ratios $r"; i=$((i + 1))
done
echo "$ratios" | tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { printf "median ratio with/without: %.3fx over %d runs\n", a[int((NR + 1) / 2)], NR }'
