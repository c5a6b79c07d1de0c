#!/bin/bash
# Configures and builds tunnelmgr into build/ (or $TM_BUILD_DIR). Extra arguments go to cmake;
# $TM_TARGETS (space-separated) limits what is built. Installs under /usr with plugins in
# /usr/lib/tunnelmgr/plugins, as the Debian package does, so the compiled-in plugin folder of every
# build matches the package (the packaging test checks it); later -D arguments override.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${TM_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${TM_BUILD_TYPE:-RelWithDebInfo}" \
  -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_INSTALL_LIBDIR=lib -DTM_PLUGIN_INSTALL_DIR=lib/tunnelmgr/plugins "$@"
targets=()
for t in ${TM_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build" -j "$(nproc)" "${targets[@]}"
