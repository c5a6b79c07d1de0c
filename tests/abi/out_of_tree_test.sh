#!/bin/bash
# Proves a third-party author can build a plugin: install the plugin API from this build tree to a
# temporary prefix, build tests/abi/example-plugin out of tree against it (CMake package and
# pkg-config), check it exports only tm_plugin_entry, and have the host list it and start it.
# Usage: out_of_tree_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" --component dev >/dev/null
test -f "$tmp/prefix/include/tunnelmgr/plugin_api.h"
test -f "$tmp/prefix/share/pkgconfig/tunnelmgr-plugin-api.pc"

# 1. CMake package config.
cmake -S "$src/tests/abi/example-plugin" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/cmake-build" >/dev/null
so="$tmp/cmake-build/example-supervisor.so"
test -f "$so"
exports=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TWiuV]$/ {print $3}')
if [ "$exports" != "tm_plugin_entry" ]; then
  echo "FAIL: $so exports: $exports" >&2; exit 1
fi

# 2. pkg-config, as a plain Makefile user would.
mkdir -p "$tmp/pc-build"
export PKG_CONFIG_PATH="$tmp/prefix/share/pkgconfig"
pkg-config --exists tunnelmgr-plugin-api
test "$(pkg-config --modversion tunnelmgr-plugin-api)" = "$(pkg-config --variable=api_version tunnelmgr-plugin-api)"
# shellcheck disable=SC2046
g++ -std=c++20 -shared -fPIC $(pkg-config --cflags tunnelmgr-plugin-api) \
    "$src/tests/abi/example-plugin/example_supervisor.cpp" -o "$tmp/pc-build/example-supervisor.so" \
    $(pkg-config --libs tunnelmgr-plugin-api)
exports=$(nm -D --defined-only "$tmp/pc-build/example-supervisor.so" | awk '$2 ~ /^[TWiuV]$/ {print $3}')
[ "$exports" = "tm_plugin_entry" ] || { echo "FAIL: pkg-config build exports: $exports" >&2; exit 1; }

# 3. The host lists both builds and starts one in the supervisor slot.
for dir in "$tmp/cmake-build" "$tmp/pc-build"; do
  out=$("$build/tunnelmgr" plugins --plugin-dir "$dir")
  echo "$out" | grep -Eq '^example-supervisor +1\.0\.0 +1\.[0-9]+\.[0-9]+ .*tunnel_supervisor_v1' || { echo "FAIL: not listed from $dir:"; echo "$out"; exit 1; }
  if echo "$out" | grep -q refused; then echo "FAIL: refused from $dir:"; echo "$out"; exit 1; fi
done
echo running > "$tmp/status"
cat > "$tmp/config.yml" <<YAML
state: { plugin: abi-good }
supervisor: { plugin: example-supervisor, status_file: "$tmp/status" }
plugin_dir: [ "$build/abi-fixtures", "$tmp/cmake-build" ]
YAML
out=$("$build/tunnelmgr" --config "$tmp/config.yml" check)
echo "$out" | grep -Eq 'supervisor +ok +example-supervisor 1\.0\.0' || { echo "FAIL: not started:"; echo "$out"; exit 1; }
# Its own config check surfaces as a refusal sentence.
cat > "$tmp/bad.yml" <<YAML
supervisor: { plugin: example-supervisor }
plugin_dir: [ "$tmp/cmake-build" ]
YAML
if out=$("$build/tunnelmgr" --config "$tmp/bad.yml" check); then echo "FAIL: bad config accepted"; exit 1; fi
echo "$out" | grep -q 'init failed: supervisor.status_file is missing' || { echo "FAIL: no reason:"; echo "$out"; exit 1; }
echo "out-of-tree plugin: built with CMake and pkg-config, exports only tm_plugin_entry, listed and started"
