#!/usr/bin/env bash
# Exercise 1 — a planner and one worker (on Kubernetes: one pod with two containers).
# The planner generates 4 random add/mult tasks and prints their results; one worker registers
# with it and runs them one after another. Ends when the 4 tasks are done; stops both processes.
#
# usage: examples/exercises/exercise-1.sh      (env: TASKS=4, and those of lib.sh: VOLO, ...)
# Kubernetes: kubectl apply -f deploy/k8s/exercise-1/
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_volo

tasks=${TASKS:-4}
start_planner "$tasks"
start_worker w1
wait_tasks "$tasks"
