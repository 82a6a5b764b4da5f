#!/bin/sh
# The playground (make bench): fib(27) in headless Chromium against native `volo run` (the goal
# is within 2.5x), examples/pi.fly in the tab against `volo run --env local=smp:1`, and the
# sizes of what `volo lite build` writes. Prints markdown.
# Usage: bench/playground/run.sh <path-to-volo>
set -eu
volo=${1:?usage: run.sh <path-to-volo>}
exec /usr/bin/python3 "$(cd "$(dirname "$0")" && pwd)/bench.py" "$volo"
