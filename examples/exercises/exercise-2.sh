#!/usr/bin/env bash
# Exercise 2 — several workers for one planner.
# One command (`volo up`) starts a planner and WORKERS general workers as local processes, runs
# TASKS random add/mult tasks spread over all the workers, prints a summary and stops everything.
#
# usage: examples/exercises/exercise-2.sh [--json]   (env: WORKERS=5, TASKS=20, VOLO_DURATION_SCALE=0.1, VOLO)
# Kubernetes: kubectl apply -f deploy/k8s/exercise-2/   (a worker Deployment with several replicas)
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_volo

"$VOLO" up --workers "${WORKERS:-5}" --tasks "${TASKS:-20}" --duration-scale "$SCALE" "$@"
