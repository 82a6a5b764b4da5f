#!/usr/bin/env bash
# CTest entry: runs the five seed exercises (examples/exercises/exercise-N.sh) against a real volo
# binary, with task durations scaled down, and fails if one does not finish cleanly.
# Skips (exit 77) while the binary is not built or has no `up` subcommand yet.
# usage: tests/deploy/exercises-smoke.sh /path/to/volo
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
volo=${1:-$repo/build/release/volo}
if [[ ! -x "$volo" ]]; then
  echo "skip: no volo binary at $volo (build the volo target first)"
  exit 77
fi
for sub in planner worker up; do
  if ! "$volo" "$sub" --help >/dev/null 2>&1; then
    echo "skip: $volo has no '$sub' subcommand yet"
    exit 77
  fi
done
export VOLO="$volo" VOLO_DURATION_SCALE="${VOLO_DURATION_SCALE:-0.01}" TIMEOUT="${TIMEOUT:-120}"
# Any free ports, bound by the processes themselves (never a developer's running planner, and no
# window in which a test running beside this one could take a port picked for it).
export PLANNER_PORT=0 WORKER_PORT=0
passed=0 failed=0
for n in 1 2 3 4 5; do
  script="$repo/examples/exercises/exercise-$n.sh"
  start=$SECONDS
  if out=$(timeout 300 "$script" 2>&1); then
    echo "ok   exercise-$n ($((SECONDS - start)) s)"
    passed=$((passed + 1))
  else
    rc=$?
    echo "FAIL exercise-$n (exit $rc)"
    printf '%s\n' "$out" | tail -n 40 | sed 's/^/       /'
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
