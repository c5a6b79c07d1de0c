#!/bin/bash
# Configures and builds tunnelmgr into build/ (or $TM_BUILD_DIR). Extra arguments go to cmake;
# $TM_TARGETS (space-separated) limits what is built.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${TM_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${TM_BUILD_TYPE:-RelWithDebInfo}" "$@"
targets=()
for t in ${TM_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build" -j "$(nproc)" "${targets[@]}"
