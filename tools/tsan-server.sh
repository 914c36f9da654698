#!/bin/sh
# Builds cdsd with ThreadSanitizer and runs the integration suites (built by tools/test.sh in
# build/) against it: the service's threads - workers, the inline path on NNG's threads, the
# audit writer and checkpointer, reloads, shutdown - under 32 concurrent clients, SIGKILL and
# SIGTERM. The first data race stops the server, and the suite fails with the report.
# Usage: tools/tsan-server.sh [BUILD_DIR]   (after tools/test.sh)
set -eu
cd "$(dirname "$0")/.."
TSAN_BUILD="${1:-build-tsan}"
cmake -S . -B "$TSAN_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS="-fsanitize=thread -g" >/dev/null
cmake --build "$TSAN_BUILD" -j2 --target cdsd >/dev/null
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
export CDSD_SERVER_SANITIZED=1   # the tests allow for the sanitizer's own memory
build/test_server "$TSAN_BUILD/cdsd"
build/test_prefetch_fetch "$TSAN_BUILD/cdsd"
echo "ThreadSanitizer: no data race in the server under the integration suites"
