#!/bin/sh
# FLY vs Lua 5.4 vs CPython on the same five programs (best of 3 wall-clock runs each), then
# smp scaling of pi with 10^8 points from 1 to 2 threads. Prints a markdown table.
# Usage: bench/fly/run.sh <path-to-volo>
set -eu
volo=${1:?usage: run.sh <path-to-volo>}
here=$(cd "$(dirname "$0")" && pwd)
lua=${LUA:-lua5.4}
py=${PYTHON:-/usr/bin/python3}

# best <command...>: the lowest wall time of 3 runs, in seconds.
best() {
  b=""
  for _ in 1 2 3; do
    s=$(date +%s.%N)
    "$@" >/dev/null
    e=$(date +%s.%N)
    t=$(echo "$e - $s" | bc -l)
    if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
  done
  printf '%.3f' "$b"
}

echo "| program | FLY (s) | Lua 5.4 (s) | CPython (s) | Lua/FLY | CPython/FLY |"
echo "|---|---|---|---|---|---|"
for p in fib loop pi concat map; do
  f=$(best "$volo" run "$here/$p.fly")
  l=$(best "$lua" "$here/$p.lua")
  c=$(best "$py" "$here/$p.py")
  printf '| %s | %s | %s | %s | %.2fx | %.2fx |\n' "$p" "$f" "$l" "$c" \
    "$(echo "$l / $f" | bc -l)" "$(echo "$c / $f" | bc -l)"
done
echo
one=$(best "$volo" run "$here/pi_smp.fly" --env local=smp:1)
two=$(best "$volo" run "$here/pi_smp.fly" --env local=smp:2)
echo "| pi 10^8 points | smp:1 (s) | smp:2 (s) | speed-up |"
echo "|---|---|---|---|"
printf '| FLY | %s | %s | %.2fx |\n' "$one" "$two" "$(echo "$one / $two" | bc -l)"
