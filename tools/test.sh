#!/bin/sh
# Set up, build, and run every test (unit, sandbox, fixtures, integration).
# Usage: tools/test.sh [BUILD_DIR] [extra cmake args...]
set -eu
cd "$(dirname "$0")/.."
BUILD="${1:-build}"; [ $# -gt 0 ] && shift
tools/setup.sh "$BUILD" "$@"
cd "$BUILD" && ctest --output-on-failure -j2
