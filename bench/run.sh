#!/usr/bin/env bash
# make bench: volo and its peers (Celery, RQ, Dask; Lua and CPython for FLY) in one run.
# usage: bench/run.sh BUILD_DIR     env: BENCH_QUICK=1 (fewer runs), BENCH_PEERS=0 (skip peers),
#   BENCH_ONLY=workflows (only the workflows and Celery's canvas, docs/workflows.md)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-build/release}"
exec /usr/bin/python3 "$here/bench.py" --build "$build" "${@:2}"
