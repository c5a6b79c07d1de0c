#!/bin/sh
# check_layers.sh must fail, naming file and line, when core includes config (a wrong-way include).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
cp -r "$1" "$tree/src"
printf '#include "config/config.hpp"\n' >> "$tree/src/core/hostname.cpp"
if out=$("$here/check_layers.sh" "$tree/src" 2>&1); then
  echo "check_layers.sh passed a tree where core includes config:"; echo "$out"; exit 1
fi
echo "$out" | grep -q 'core/hostname.cpp:[0-9]*: core may not include config' || { echo "unexpected output: $out"; exit 1; }
echo "check_layers.sh refused the wrong-way include: $out"
