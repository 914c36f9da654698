#!/bin/sh
# Install the Debian 12 packages cdsd needs (only those missing), then configure and build.
# Usage: tools/setup.sh [BUILD_DIR] [extra cmake args...]
set -eu
cd "$(dirname "$0")/.."
PKGS="build-essential cmake pkg-config liblua5.4-dev libnng-dev libmsgpack-dev libsqlite3-dev
      libcmocka-dev libcjson-dev libssl-dev zlib1g-dev libmicrohttpd-dev libjwt-dev libcurl4-openssl-dev libsystemd-dev
      openssl curl chromium prometheus haproxy wrk"
# prometheus: its promtool checks a live /metrics scrape (tests/observe_test.sh); haproxy: the
# load balancer in front of three replicas (tools/deploy/haproxy.cfg, tests/haproxy_test.sh);
# wrk: the independent HTTP client that cross-checks cdsd-bench's HTTP figures (bench/wrk_http.sh)
tools/install-missing.sh $PKGS
BUILD="${1:-build}"; [ $# -gt 0 ] && shift
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
