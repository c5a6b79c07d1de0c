#!/bin/bash
# The README's second command: install what is missing, build with the tests, run every test.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${TM_BUILD_DIR:-$root/build}
"$root/packaging/scripts/install-deps.sh" --test
"$root/packaging/scripts/build.sh" -DTM_BUILD_TESTS=ON
cd "$build"
ctest --output-on-failure --timeout 600 -j "$(nproc)" "$@"
