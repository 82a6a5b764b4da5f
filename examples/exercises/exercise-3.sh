#!/usr/bin/env bash
# Exercise 3 — specialised workers.
# A planner with TASKS random add/mult tasks and only specialised workers, configured as in the
# seed by environment variables (booleans, both true by default): ADD_WORKERS workers with
# MULT=false (they run only additions) and MULT_WORKERS with ADD=false (only multiplications).
# The planner must send each task to a worker that can run it: every task ends done, none fails.
#
# usage: examples/exercises/exercise-3.sh   (env: TASKS=20, ADD_WORKERS=2, MULT_WORKERS=2, and lib.sh's)
# Kubernetes: deploy/k8s/apply.sh exercise-3
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_volo

tasks=${TASKS:-20}
start_planner "$tasks"
for ((i = 1; i <= ${ADD_WORKERS:-2}; i++)); do start_worker "add-$i" MULT=false; done
for ((i = 1; i <= ${MULT_WORKERS:-2}; i++)); do start_worker "mult-$i" ADD=false; done
wait_tasks "$tasks"
