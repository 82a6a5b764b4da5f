#!/usr/bin/env bash
# CTest entry for tests/deploy: validates every Kubernetes manifest under deploy/k8s (and the
# Containerfile) offline against the Kubernetes schemas, or, with --behaviour, runs the
# manifests' containers as local processes (behaviour.mjs). Installs the pinned npm packages
# from package-lock.json into tests/deploy/node_modules when they are missing or older than the
# lock.
# usage: tests/deploy/run.sh [validate.mjs arguments...]
#        tests/deploy/run.sh --behaviour --volo PATH [behaviour.mjs arguments...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

command -v node >/dev/null || { echo "run.sh: node is not installed (scripts/install-deps installs nodejs)" >&2; exit 1; }
command -v npm >/dev/null || { echo "run.sh: npm is not installed (scripts/install-deps installs npm)" >&2; exit 1; }

# npm ci writes node_modules/.package-lock.json; reinstall when it is absent or differs from the
# committed lock (a dependency was changed), so the check always runs the pinned versions.
stamp=node_modules/.volo-lock-stamp
if [[ ! -f "$stamp" ]] || ! cmp -s package-lock.json "$stamp"; then
  # Two CTest processes may get here at once: one installs, the other waits for it.
  exec 9>.npm-ci.lock
  flock 9
  if [[ ! -f "$stamp" ]] || ! cmp -s package-lock.json "$stamp"; then
    echo "run.sh: npm ci (pinned by tests/deploy/package-lock.json)"
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json "$stamp"
  fi
  flock -u 9
fi

if [[ "${1:-}" == --behaviour ]]; then
  shift
  exec node behaviour.mjs "$@"
fi
exec node validate.mjs "$@"
