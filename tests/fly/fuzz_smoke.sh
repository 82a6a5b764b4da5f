#!/bin/sh
# Builds the FLY fuzz target with clang + libFuzzer in build/fuzz and runs it briefly over a
# seed corpus made of the examples, the FLY test corpus and tests/fuzz/corpus/fly_fuzz.
# Usage: fuzz_smoke.sh <repo root>
set -eu
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"
if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz_smoke: clang++ not installed, skipping"
  exit 0
fi
cmake --preset fuzz >/dev/null
cmake --build build/fuzz --target fly_fuzz -j "$(nproc)" >/dev/null
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
find examples tests/fly -name '*.fly' -exec cp {} "$corpus"/ \; 2>/dev/null || true
# The shapes that once crashed the compiler (long chains, deep nesting), cut to the fuzzer's
# input size.
cp tests/fuzz/corpus/fly_fuzz/* "$corpus"/ 2>/dev/null || true
# Seed inputs keep their names unique by content.
"$(find build/fuzz -name fly_fuzz -type f -perm -u+x | head -1)" -runs="${FLY_FUZZ_RUNS:-200000}" -max_len=4096 -timeout=10 \
  -rss_limit_mb=2048 "$corpus"
