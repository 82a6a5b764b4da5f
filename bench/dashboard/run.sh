#!/usr/bin/env bash
# The dashboard's numbers for make bench: size, first render, throughput with and without a page
# open (docs/dashboard.md). usage: bench/dashboard/run.sh BUILD_DIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec /usr/bin/python3 "$here/dashboard.py" "${1:-build/release}" "${@:2}"
