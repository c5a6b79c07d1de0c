#!/bin/bash
# Every built plugin must export exactly one function: tm_plugin_entry.
# Usage: check_exports.sh DIR...
set -euo pipefail
count=0
for dir in "$@"; do
  for so in "$dir"/*.so; do
    [ -e "$so" ] || continue
    exports=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TWiuV]$/ {print $3}' | sort)
    if [ "$exports" != "tm_plugin_entry" ]; then
      echo "FAIL: $so exports functions: $(echo $exports)" >&2
      exit 1
    fi
    count=$((count + 1))
  done
done
[ "$count" -gt 0 ] || { echo "FAIL: no plugin found in $*" >&2; exit 1; }
echo "$count plugins export only tm_plugin_entry"
