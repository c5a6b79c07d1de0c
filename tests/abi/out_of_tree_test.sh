#!/bin/bash
# Proves a third-party author can build a plugin: install the plugin API from this build tree to a
# temporary prefix, build the two example plugins it ships (tests/abi/example-plugin in C++ on the SDK,
# tests/abi/example-c-plugin in plain C) out of tree from their installed copies against it (CMake
# package and pkg-config), check each exports only tm_plugin_entry, and have the host list and start them.
# Usage: out_of_tree_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" --component dev >/dev/null
test -f "$tmp/prefix/include/tunnelmgr/plugin_api.h"
test -f "$tmp/prefix/share/pkgconfig/tunnelmgr-plugin-api.pc"
examples="$tmp/prefix/share/doc/tunnelmgr-dev/examples"
test -f "$examples/example-supervisor/CMakeLists.txt" && test -f "$examples/example-c-supervisor/CMakeLists.txt"

only_entry() {  # only_entry SO: fails unless tm_plugin_entry is the one exported symbol
  local exports
  exports=$(nm -D --defined-only "$1" | awk '$2 ~ /^[TWiuV]$/ {print $3}')
  [ "$exports" = "tm_plugin_entry" ] || { echo "FAIL: $1 exports: $exports" >&2; exit 1; }
}

# 1. CMake package config.
for name in example-supervisor example-c-supervisor; do
  cmake -S "$examples/$name" -B "$tmp/cmake-build/$name" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$tmp/cmake-build/$name" >/dev/null
  test -f "$tmp/cmake-build/$name/$name.so"
  only_entry "$tmp/cmake-build/$name/$name.so"
  mkdir -p "$tmp/cmake-plugins"
  cp "$tmp/cmake-build/$name/$name.so" "$tmp/cmake-plugins/"
done

# 2. pkg-config, as a plain Makefile user would.
mkdir -p "$tmp/pc-build"
export PKG_CONFIG_PATH="$tmp/prefix/share/pkgconfig"
pkg-config --exists tunnelmgr-plugin-api
test "$(pkg-config --modversion tunnelmgr-plugin-api)" = "$(pkg-config --variable=api_version tunnelmgr-plugin-api)"
# shellcheck disable=SC2046
g++ -std=c++20 -shared -fPIC $(pkg-config --cflags tunnelmgr-plugin-api) \
    "$examples/example-supervisor/example_supervisor.cpp" -o "$tmp/pc-build/example-supervisor.so" \
    $(pkg-config --libs tunnelmgr-plugin-api)
only_entry "$tmp/pc-build/example-supervisor.so"
# shellcheck disable=SC2046
gcc -std=c11 -Wall -Wextra -Werror -shared -fPIC $(pkg-config --cflags tunnelmgr-plugin-api) \
    "$examples/example-c-supervisor/example_c_supervisor.c" -o "$tmp/pc-build/example-c-supervisor.so" \
    $(pkg-config --libs tunnelmgr-plugin-api)
only_entry "$tmp/pc-build/example-c-supervisor.so"

# 3. The host lists every build and starts each example in the supervisor slot.
for dir in "$tmp/cmake-plugins" "$tmp/pc-build"; do
  out=$("$build/tunnelmgr" plugins --plugin-dir "$dir")
  for name in example-supervisor example-c-supervisor; do
    echo "$out" | grep -Eq "^$name +1\.0\.0 +1\.[0-9]+\.[0-9]+ .*tunnel_supervisor_v1" || { echo "FAIL: $name not listed from $dir:"; echo "$out"; exit 1; }
  done
  if echo "$out" | grep -q refused; then echo "FAIL: refused from $dir:"; echo "$out"; exit 1; fi
done
echo running > "$tmp/status"
cat > "$tmp/config.yml" <<YAML
state: { plugin: abi-good }
supervisor: { plugin: example-supervisor, status_file: "$tmp/status" }
plugin_dir: [ "$build/abi-fixtures", "$tmp/cmake-plugins" ]
YAML
out=$("$build/tunnelmgr" --config "$tmp/config.yml" check)
echo "$out" | grep -Eq 'supervisor +ok +example-supervisor 1\.0\.0' || { echo "FAIL: not started:"; echo "$out"; exit 1; }
for dir in "$tmp/cmake-plugins" "$tmp/pc-build"; do
  cat > "$tmp/c.yml" <<YAML
state: { plugin: abi-good }
supervisor: { plugin: example-c-supervisor }
plugin_dir: [ "$build/abi-fixtures", "$dir" ]
YAML
  out=$("$build/tunnelmgr" --config "$tmp/c.yml" check)
  echo "$out" | grep -Eq 'supervisor +ok +example-c-supervisor 1\.0\.0' || { echo "FAIL: C example not started from $dir:"; echo "$out"; exit 1; }
done
# Its config_schema() is checked before init: the missing key is named with file and line.
cat > "$tmp/bad.yml" <<YAML
supervisor: { plugin: example-supervisor }
plugin_dir: [ "$tmp/cmake-plugins" ]
YAML
if out=$("$build/tunnelmgr" --config "$tmp/bad.yml" check); then echo "FAIL: bad config accepted"; exit 1; fi
echo "$out" | grep -q 'bad.yml:1: supervisor.status_file: is required but missing' || { echo "FAIL: no reason:"; echo "$out"; exit 1; }
echo "out-of-tree plugins (C++ and C): built from the installed examples with CMake and pkg-config, export only tm_plugin_entry, listed and started"
