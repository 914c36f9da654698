#!/bin/sh
# bench/packs_instr.sh — what the clinical-breadth packs cost per request, counted in
# instructions (callgrind), the load-independent companion of bench/packs_ratio.sh: `cdsd-bench
# inproc` at N and at 200 requests with each manifest, the difference over N - 200, so set-up
# (loading the rules and the knowledge base) cancels out. Prints instructions per request
# without and with the packs and their ratio.
#   usage: bench/packs_instr.sh [BUILD_DIR] [N] [PATTERNS...]   (default: build 1200 dose route context)
set -eu
B=${1:-build}; N=${2:-1200}; shift 2 2>/dev/null || true
PATTERNS=${*:-dose route context}
command -v valgrind >/dev/null || { echo "packs_instr.sh: valgrind is not installed" >&2; exit 2; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
cp -r rules "$T/base"; cp -r rules "$T/with"
for p in $PATTERNS; do sed -i "s/, \"$p\.\*\"//g" "$T/base/manifest.lua"; done
# A run with errors (a rule stopped by its time budget's wall-clock backstop on a busy machine,
# valgrind being ~50x slower) did less work: its count would mean nothing.
ir() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$B/cdsd-bench" --rules "$1" --count "$2" --warmup 0 \
        inproc > "$T/out" 2>&1 || true
    if ! grep -q '^inproc .* err=0 ' "$T/out"; then
        echo "packs_instr.sh: the run with $1 at $2 requests had errors or failed:" >&2
        grep -v '^==' "$T/out" >&2
        exit 1
    fi
    awk '/Collected/ { print $NF }' "$T/out"
}
per() { a=$(ir "$1" "$N"); b=$(ir "$1" 200); echo $(( (a - b) / (N - 200) )); }
without=$(per "$T/base"); with=$(per "$T/with")
awk -v a="$with" -v b="$without" -v p="$PATTERNS" 'BEGIN { printf "instructions per request: without (%s) %d, with %d: %.3fx\n", p, b, a, a / b }'
