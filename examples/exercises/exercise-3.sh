#!/usr/bin/env bash
# Exercise 3 — specialised workers.
# A planner with TASKS random add/mult tasks and only specialised workers, configured as in the
# seed by environment variables: ADD_WORKERS workers with only ADD set (they run only additions)
# and MULT_WORKERS with only MULT set (only multiplications). The planner must send each task to
# a worker that can run it: every task ends done, none fails.
#
# usage: examples/exercises/exercise-3.sh   (env: TASKS=20, ADD_WORKERS=2, MULT_WORKERS=2, and lib.sh's)
# Kubernetes: kubectl apply -f deploy/k8s/exercise-3/
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_volo

tasks=${TASKS:-20}
start_planner "$tasks"
for ((i = 1; i <= ${ADD_WORKERS:-2}; i++)); do start_worker "add-$i" ADD=true; done
for ((i = 1; i <= ${MULT_WORKERS:-2}; i++)); do start_worker "mult-$i" MULT=true; done
wait_tasks "$tasks"
