#!/usr/bin/env bash
# Exercise 4 — a dynamic number of workers.
# One command: a planner with ~50 tasks starts with FIRST_WORKERS general workers; the others
# (WORKERS in all, about ten) join one by one while it runs. Each new worker registers with the
# planner (WebSocket PLANNER/api/v1/workers/connect) and gets work at once. Ends when every task
# is done and stops every process it started.
#
# usage: examples/exercises/exercise-4.sh   (env: TASKS=50, WORKERS=10, FIRST_WORKERS=2,
#                                            JOIN_EVERY=0.2 seconds between joins, and lib.sh's)
# Kubernetes: kubectl apply -f deploy/k8s/exercise-4/; kubectl scale deployment/volo-worker --replicas=15
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_volo

tasks=${TASKS:-50}
workers=${WORKERS:-10}
first=${FIRST_WORKERS:-2}
start_planner "$tasks"
for ((i = 1; i <= workers; i++)); do
  if ((i > first)); then
    sleep "${JOIN_EVERY:-0.2}" # on purpose: these workers join a planner that is already busy
  fi
  start_worker "w$i"
done
wait_tasks "$tasks"
