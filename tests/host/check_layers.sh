#!/bin/sh
# The host's layers (host/CMakeLists.txt): each folder of host/src may include only itself and the
# folders listed for it. A wrong-way include (core → config, sys → core, ...) fails this test with
# the file and line, so a layer cannot quietly start depending on one above it.
# Usage: check_layers.sh HOST_SRC_DIR
set -eu
src=$1
allowed() {
  case $1 in
    common) echo "common" ;;
    log) echo "common log" ;;
    sys) echo "common log sys" ;;
    config) echo "common log sys config" ;;
    core) echo "common log sys core" ;;
    metrics) echo "common log sys core metrics" ;;
    plugin_host) echo "common log sys config core metrics plugin_host" ;;
    service) echo "common log sys config core metrics plugin_host service" ;;
    app) echo "common log sys config core metrics plugin_host service app" ;;
    plugin_check) echo "common log sys config core plugin_host plugin_check" ;;
    *) echo "" ;;
  esac
}
bad=0
checked=0
found=$(mktemp)
trap 'rm -f "$found"' EXIT
for dir in "$src"/*/; do
  layer=$(basename "$dir")
  ok=$(allowed "$layer")
  if [ -z "$ok" ]; then
    echo "host/src/$layer: a folder with no place in the layers: add it to host/CMakeLists.txt and to this script"
    bad=1
    continue
  fi
  for f in $(find "$dir" -name '*.cpp' -o -name '*.hpp'); do
    checked=$((checked + 1))
    # Lines like: #include "core/result.hpp"
    grep -n '^#include "[a-z_]*/' "$f" | while IFS= read -r line; do
      target=$(echo "$line" | sed 's/^[0-9]*:#include "\([a-z_]*\)\/.*/\1/')
      case " $ok " in
        *" $target "*) ;;
        *) echo "${f#"$src"/}:${line%%:*}: $layer may not include $target (allowed: $ok)"; echo x >> "$found" ;;
      esac
    done
  done
done
[ -s "$found" ] && bad=1
if [ "$bad" -ne 0 ]; then
  echo "layers: FAILED"
  exit 1
fi
echo "layers: $checked files follow the layers"
