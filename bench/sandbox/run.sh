#!/usr/bin/env bash
# Sandboxed against unsandboxed command tasks, and shipping a 100 MiB bundle to 2 workers.
# usage: bench/sandbox/run.sh VOLO   (prints a markdown section; env BENCH_QUICK=1: fewer tasks)
set -euo pipefail
exec /usr/bin/python3 "$(cd "$(dirname "$0")" && pwd)/bench.py" "$@"
