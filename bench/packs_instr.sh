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
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/instr_lib.sh"
cp -r rules "$T/base"; cp -r rules "$T/with"
for p in $PATTERNS; do sed -i "s/, \"$p\.\*\"//g" "$T/base/manifest.lua"; done
without=$(per "$T/base"); with=$(per "$T/with")
awk -v a="$with" -v b="$without" -v p="$PATTERNS" 'BEGIN { printf "instructions per request: without (%s) %d, with %d: %.3fx\n", p, b, a, a / b }'
