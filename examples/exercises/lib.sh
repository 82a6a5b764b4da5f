# shellcheck shell=bash
# Helpers shared by exercise-*.sh: find the volo binary, start a planner and workers as background
# processes on free local ports, wait for readiness and for the tasks (never a fixed sleep), and
# stop every process this script started, by PID, when it exits (normally, on error or on Ctrl-C).
#
# Settings (environment):
#   VOLO                 the volo binary (default: build/release/volo in the repository)
#   VOLO_DURATION_SCALE  task durations relative to the seed's (default 0.1: ten times faster)
#   PLANNER_PORT         first port to try for the planner (default 3000; the next free one is used;
#                        0: the planner binds any free port and reports it, with no race)
#   WORKER_PORT          first port to try for the workers' HTTP endpoints (default 8100; 0: any)
#   TIMEOUT              seconds to wait for the tasks before giving up (default 300)
#   KEEP_LOGS=1          keep the workers' logs (their folder is printed) instead of deleting them

set -euo pipefail

VOLO_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VOLO="${VOLO:-$VOLO_REPO/build/release/volo}"
SCALE="${VOLO_DURATION_SCALE:-0.1}"
TIMEOUT="${TIMEOUT:-300}"
PIDS=()
PLANNER_PID=""
PLANNER_URL=""
NEXT_PORT="${WORKER_PORT:-8100}"
LOG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/volo-exercise.XXXXXX")"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

require_volo() {
  if [[ ! -x "$VOLO" ]]; then
    die "no volo binary at $VOLO; build it (make build, or cmake --preset release && cmake --build build/release --target volo) or set VOLO=/path/to/volo"
  fi
}

# Stops the processes this script started (by PID, newest first), waits for them a little, then
# removes the log folder unless KEEP_LOGS=1.
cleanup() {
  local status=$? pid i
  trap - EXIT INT TERM
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid=${PIDS[i]}
    kill -TERM "$pid" 2>/dev/null || true
  done
  for ((i = 0; i < 50; i++)); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive -eq 0 ]] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $status -ne 0 && -d "$LOG_DIR" ]]; then
    local f
    for f in "$LOG_DIR"/*.log; do
      [[ -s "$f" ]] || continue
      printf '\n--- last lines of %s\n' "$(basename "$f")" >&2
      tail -n 20 "$f" >&2
    done
  fi
  if [[ "${KEEP_LOGS:-0}" == 1 ]]; then
    log "logs kept in $LOG_DIR"
  else
    rm -rf "$LOG_DIR"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# port_in_use PORT: something listens on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port FIRST: prints the first port from FIRST up that nothing listens on.
free_port() {
  local p=$1
  while port_in_use "$p"; do
    p=$((p + 1))
    ((p < 65535)) || die "no free port from $1 up"
  done
  echo "$p"
}

# http_get PATH: prints the body of GET PLANNER_URL/PATH; fails unless the answer is 2xx.
# Uses curl when it is installed, else bash's /dev/tcp (HTTP/1.0, no other tool needed).
http_get() {
  if command -v curl >/dev/null; then
    curl -fsS --max-time 5 "$PLANNER_URL$1"
    return
  fi
  local hostport=${PLANNER_URL#http://} answer
  exec 3<>"/dev/tcp/${hostport%%:*}/${hostport##*:}" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$1" "$hostport" >&3
  answer=$(timeout 5 cat <&3) || true
  exec 3<&- 3>&-
  [[ "$answer" =~ ^HTTP/1\.[01]\ 2[0-9][0-9] ]] || return 1
  printf '%s\n' "${answer#*$'\r\n\r\n'}"
}

# json_number KEY JSON: the number after "KEY": in JSON (0 if absent).
json_number() {
  local re="\"$1\"[[:space:]]*:[[:space:]]*([0-9]+)"
  if [[ "$2" =~ $re ]]; then echo "${BASH_REMATCH[1]}"; else echo 0; fi
}

# start_planner TASKS [extra planner flags...]: a planner on a free port that generates TASKS
# random add/mult tasks; its output (the results) goes to this terminal. Waits until /healthz is 200.
start_planner() {
  local tasks=$1 port deadline
  shift
  if [[ "${PLANNER_PORT:-3000}" == 0 ]]; then
    # Any free port, bound by the planner itself and read back: nothing can take it in between.
    "$VOLO" planner --port 0 --port-file "$LOG_DIR/planner.port" --tasks "$tasks" "$@" &
    PLANNER_PID=$!
    PIDS+=("$PLANNER_PID")
    deadline=$((SECONDS + 30))
    until [[ -s "$LOG_DIR/planner.port" ]]; do
      kill -0 "$PLANNER_PID" 2>/dev/null || die "the planner exited before it listened"
      ((SECONDS < deadline)) || die "the planner wrote no port file within 30 s"
      sleep 0.05
    done
    port=$(<"$LOG_DIR/planner.port")
    PLANNER_URL="http://127.0.0.1:$port"
    log "planner on $PLANNER_URL with $tasks tasks"
  else
    port=$(free_port "${PLANNER_PORT:-3000}")
    PLANNER_URL="http://127.0.0.1:$port"
    log "planner on $PLANNER_URL with $tasks tasks"
    "$VOLO" planner --port "$port" --tasks "$tasks" "$@" &
    PLANNER_PID=$!
    PIDS+=("$PLANNER_PID")
  fi
  wait_healthy
}

# wait_healthy: until the planner answers GET /healthz (fails if it exits or TIMEOUT passes).
wait_healthy() {
  local deadline=$((SECONDS + 30))
  until http_get /healthz >/dev/null 2>&1; do
    kill -0 "$PLANNER_PID" 2>/dev/null || die "the planner exited before it was ready"
    ((SECONDS < deadline)) || die "the planner did not answer $PLANNER_URL/healthz within 30 s"
    sleep 0.05
  done
}

# start_worker ID [--ops OPS] [ENV=VALUE...]: a worker that registers with the planner.
# ENV=VALUE pairs (MULT=false, ADD=false: the seed's specialisation variables) go to its environment.
start_worker() {
  local id=$1 port envs=() flags=()
  shift
  while [[ $# -gt 0 ]]; do
    case $1 in
      --ops) flags+=(--ops "$2"); shift 2 ;;
      *=*) envs+=("$1"); shift ;;
      *) die "start_worker: unknown argument $1" ;;
    esac
  done
  if [[ "$NEXT_PORT" == 0 ]]; then
    port=0 # the worker binds any free port
  else
    port=$(free_port "$NEXT_PORT")
    NEXT_PORT=$((port + 1))
  fi
  env "${envs[@]}" "$VOLO" worker --planner "$PLANNER_URL" --id "$id" --port "$port" \
    --duration-scale "$SCALE" "${flags[@]}" >"$LOG_DIR/$id.log" 2>&1 &
  PIDS+=("$!")
  log "worker $id on $([[ $port == 0 ]] && echo "any free port" || echo "port $port") ${envs[*]} ${flags[*]}"
}

# wait_tasks N: until N tasks are finished (done, failed or cancelled) and nothing is queued or
# running, or the planner exits by itself after printing its results. Prints the final status;
# fails if a task failed or TIMEOUT passes.
wait_tasks() {
  local n=$1 deadline=$((SECONDS + TIMEOUT)) status="" n_done n_failed n_cancelled n_queued n_running
  while :; do
    if ! kill -0 "$PLANNER_PID" 2>/dev/null; then
      local rc=0
      wait "$PLANNER_PID" || rc=$?
      [[ $rc -eq 0 ]] || die "the planner exited with status $rc"
      log "the planner finished its $n tasks and exited"
      return 0
    fi
    if status=$(http_get /api/v1/status 2>/dev/null); then
      n_done=$(json_number "done" "$status")
      n_failed=$(json_number failed "$status")
      n_cancelled=$(json_number cancelled "$status")
      n_queued=$(json_number queued "$status")
      n_running=$(json_number running "$status")
      if ((n_done + n_failed + n_cancelled >= n && n_queued == 0 && n_running == 0)); then
        break
      fi
    fi
    ((SECONDS < deadline)) || die "the $n tasks did not finish within $TIMEOUT s (last status: ${status:-none})"
    sleep 0.1
  done
  log "status: $status"
  local workers
  if command -v jq >/dev/null && workers=$(http_get /api/v1/workers 2>/dev/null); then
    jq -r '.workers[] | "  \(.id)\tops=\(.ops | join(","))\tdone=\(.done)"' <<<"$workers" >&2 || true
  fi
  ((n_failed == 0)) || die "$n_failed task(s) failed"
  log "all $n tasks done"
}
