#!/bin/sh
# bench/rules_instr.sh — what a change to the rule set costs per request, counted in instructions
# (callgrind): the rules of a git revision against the working tree's, with this build. The
# load-independent companion of bench/rules_ratio.sh. E.g. the explanations (issue 18): REV
# 9c3778b is the rule set before any rule explained its cards.
#   usage: bench/rules_instr.sh [BUILD_DIR] [N] [REV]   (default: build 1200 main)
set -eu
B=${1:-build}; N=${2:-1200}; REV=${3:-main}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/instr_lib.sh"
git archive "$REV" rules | tar -x -C "$T"; mv "$T/rules" "$T/base"; cp -r rules "$T/with"
without=$(per "$T/base"); with=$(per "$T/with")
awk -v a="$with" -v b="$without" -v r="$REV" 'BEGIN { printf "instructions per request: rules of %s %d, this tree %d: %.3fx\n", r, b, a, a / b }'
