#!/bin/sh
# Set up, build, and start the service on its embedded defaults (shipped packs, state in ./var).
set -eu
cd "$(dirname "$0")/.."
tools/setup.sh build
exec build/cdsd serve --http 127.0.0.1:8080 "$@"
