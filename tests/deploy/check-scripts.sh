#!/usr/bin/env bash
# CTest entry: every shell script of examples/exercises and deploy parses (`bash -n`), and, when
# the shellcheck linter is installed, passes it too (optional: scripts/install-deps skips it).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
mapfile -t scripts < <(find examples/exercises deploy tests/deploy -name '*.sh' -not -path '*/node_modules/*' | sort)
if [[ ${#scripts[@]} -eq 0 ]]; then
  echo "check-scripts: no scripts found" >&2
  exit 1
fi
passed=0 failed=0
for s in "${scripts[@]}"; do
  if out=$(bash -n "$s" 2>&1); then
    echo "ok   bash -n $s"; passed=$((passed + 1))
  else
    echo "FAIL bash -n $s"; echo "$out" | sed 's/^/       /'; failed=$((failed + 1))
  fi
  # A script with a #! line is run directly, so it must be executable (lib.sh is only sourced).
  if [[ "$(head -c 2 "$s")" == "#!" && ! -x "$s" ]]; then
    echo "FAIL $s has a #! line but is not executable"; failed=$((failed + 1))
  fi
done
if command -v shellcheck >/dev/null; then
  if out=$(shellcheck -x -P SCRIPTDIR -S warning "${scripts[@]}" 2>&1); then
    echo "ok   shellcheck (${#scripts[@]} scripts)"; passed=$((passed + 1))
  else
    echo "FAIL shellcheck"; echo "$out" | sed 's/^/       /'; failed=$((failed + 1))
  fi
else
  echo "skip shellcheck (not installed)"
fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
