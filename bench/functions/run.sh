#!/usr/bin/env bash
# Functions: cold-start latency, warm latency (p50/p99) and throughput through the planner.
# usage: bench/functions/run.sh VOLO   (prints a markdown section; env BENCH_QUICK=1: fewer calls)
set -euo pipefail
exec /usr/bin/python3 "$(cd "$(dirname "$0")" && pwd)/bench.py" "$@"
