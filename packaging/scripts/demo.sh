#!/bin/bash
# The README's first command: install what is missing, build, and run tunnelmgr on the embedded
# default (SQLite state in a scratch folder), showing what it loaded and the state it holds.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${TM_BUILD_DIR:-$root/build}
"$root/packaging/scripts/install-deps.sh"
"$root/packaging/scripts/build.sh" -DTM_BUILD_TESTS=OFF

demo="$build/demo"
mkdir -p "$demo"
export TUNNELMGR_STATE_DB="$demo/state.db"   # the embedded default keeps its state here
tm=("$build/tunnelmgr" --plugin-dir "$build/plugins")

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }
step "Plugins this build provides" "tunnelmgr plugins"
"${tm[@]}" plugins
step "Start on the embedded default (no config file) and open the state store" "tunnelmgr state"
"${tm[@]}" --log-level warn state
step "The same, as JSON" "tunnelmgr state --json"
"${tm[@]}" --log-level warn state --json
printf '\nState file: %s\n' "$TUNNELMGR_STATE_DB"
