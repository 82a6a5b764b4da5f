#!/bin/sh
# Smoke-runs the net and wire libFuzzer targets (and fly_fuzz, when that target exists and this
# is not run from CTest, which has its own fly_fuzz_smoke): configures the "fuzz" preset in
# build/fuzz if needed, builds only the fuzz targets, runs each for a fixed number of inputs
# from its seed corpus in tests/fuzz/corpus/<target>/, and exits non-zero on any crash.
# Usage: tests/fuzz/run.sh [runs]   (default 20000 per target; FUZZ_WITH_FLY=0 skips fly_fuzz)
set -eu
runs=${1:-20000}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: clang++ not installed, skipping"
  exit 0
fi
if [ ! -f build/fuzz/build.ninja ]; then
  cmake --preset fuzz >/dev/null
fi
targets="http_fuzz wire_fuzz"
if [ "${FUZZ_WITH_FLY:-1}" = 1 ] && ninja -C build/fuzz -t targets all 2>/dev/null | grep -q '^fly_fuzz:'; then
  targets="$targets fly_fuzz"
fi
# shellcheck disable=SC2086
cmake --build build/fuzz --target $targets -j "$(nproc)" >/dev/null

status=0
for t in $targets; do
  bin=$(find build/fuzz -name "$t" -type f -perm -u+x | head -1)
  if [ -z "$bin" ]; then
    echo "fuzz: $t was not built" >&2
    status=1
    continue
  fi
  # libFuzzer adds what it finds to the first corpus directory: give it a scratch copy so the
  # committed seeds stay small.
  work=$(mktemp -d)
  if [ -d "tests/fuzz/corpus/$t" ]; then cp "tests/fuzz/corpus/$t"/* "$work"/ 2>/dev/null || true; fi
  echo "== $t ($runs runs)"
  if ! "$bin" -runs="$runs" -max_len=4096 -timeout=20 -rss_limit_mb=2048 \
      -artifact_prefix="build/fuzz/$t-" -print_final_stats=0 "$work" >"build/fuzz/$t.log" 2>&1; then
    echo "fuzz: $t FAILED; its log (crash input saved as build/fuzz/$t-*):" >&2
    tail -60 "build/fuzz/$t.log" >&2
    status=1
  else
    tail -1 "build/fuzz/$t.log"
  fi
  rm -rf "$work"
done
exit $status
