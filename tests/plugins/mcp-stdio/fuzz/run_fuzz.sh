#!/bin/sh
# Builds the mcp_server fuzzer with clang (-fsanitize=fuzzer,address) and runs it for a bounded time.
# Usage: run_fuzz.sh CLANGXX SOURCE_DIR WORK_DIR SECONDS
# Separate from the main build so a GCC build can still run it; the seed corpus stays untouched
# (new inputs go to WORK_DIR/corpus, crash reproducers to WORK_DIR/crash-*).
# pointer-overflow is off: RapidJSON 1.1's internal stack does `nullptr + 0`-style arithmetic on its
# first push (stack.h:117), a known upstream report that is not ours and would stop every run.
set -eu
CXX="$1"; SRC="$2"; WORK="$3"; SECONDS_TO_RUN="$4"
CORE="$SRC/plugins/mcp-stdio/src"
FUZZ="$SRC/tests/plugins/mcp-stdio/fuzz"
mkdir -p "$WORK/corpus"
BIN="$WORK/fuzz_mcp_server"
NEWEST=$(ls -t "$CORE"/*.cpp "$CORE"/*.hpp "$FUZZ"/fuzz_mcp_server.cpp "$FUZZ"/run_fuzz.sh | head -n1)
if [ ! -x "$BIN" ] || [ "$NEWEST" -nt "$BIN" ]; then
  "$CXX" -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -fno-sanitize=pointer-overflow \
    -I"$CORE" "$FUZZ/fuzz_mcp_server.cpp" \
    "$CORE/argument_check.cpp" "$CORE/line_splitter.cpp" "$CORE/mcp_server.cpp" "$CORE/tool_catalog.cpp" \
    -o "$BIN.tmp" -lpthread
  mv "$BIN.tmp" "$BIN"
fi
exec "$BIN" -max_total_time="$SECONDS_TO_RUN" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$WORK/" "$WORK/corpus" "$FUZZ/corpus"
