#!/usr/bin/env bash
# Exercise 5 — everything together.
# 100 random add/mult tasks dispatched over 10 general workers, 10 workers that only multiply and
# 10 that only add, all started by one `volo up`, which prints a summary and stops them.
#
# usage: examples/exercises/exercise-5.sh [--json]
#        (env: TASKS=100, WORKERS=10, MULT_WORKERS=10, ADD_WORKERS=10, VOLO_DURATION_SCALE=0.1, VOLO)
# Kubernetes: kubectl apply -f deploy/k8s/exercise-5/
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_volo

"$VOLO" up --workers "${WORKERS:-10}" --mult "${MULT_WORKERS:-10}" --add "${ADD_WORKERS:-10}" \
  --tasks "${TASKS:-100}" --duration-scale "$SCALE" "$@"
