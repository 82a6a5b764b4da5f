#!/usr/bin/env bash
# FLY on the fleet: pi with 10^9 points on smp:2 against a cluster of 2 local workers (one
# slot each) on the same machine, and the fan-out overhead of 10^6 empty instances on that
# cluster. Prints a markdown table.
# usage: bench/cluster/run.sh VOLO_BINARY     env: BENCH_QUICK=1 (10^8 points)
set -euo pipefail
volo="$(realpath "${1:?usage: bench/cluster/run.sh path/to/volo}")"
here="$(cd "$(dirname "$0")" && pwd)"
dir="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

points=1000000000
[[ "${BENCH_QUICK:-0}" == 1 ]] && points=100000000
sed "s/const points = 1000000000/const points = $points/" "$here/pi.fly" > "$dir/pi.fly"
cp "$here/empty.fly" "$dir/empty.fly"

"$volo" planner --port 0 --port-file "$dir/planner.port" --log-level warn > "$dir/planner.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do [[ -s "$dir/planner.port" ]] && break; sleep 0.05; done
url="http://127.0.0.1:$(cat "$dir/planner.port")"
for w in 1 2; do
  "$volo" worker --planner "$url" --id "bench-$w" --ops fly --slots 1 --port -1 \
    --log-level warn > "$dir/worker-$w.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 200); do
  n=$(curl -s "$url/api/v1/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["workers"])' 2>/dev/null || echo 0)
  [[ "$n" == 2 ]] && break
  sleep 0.05
done

# seconds NAME COMMAND...: wall time of one run, its output kept in $dir/NAME.out
seconds() {
  local name="$1"
  shift
  local t0 t1
  t0=$(date +%s.%N)
  "$@" > "$dir/$name.out" 2> "$dir/$name.err" || { cat "$dir/$name.err" >&2; return 1; }
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.3f}')"
}

# CPU seconds (user + system) a process has used so far; the machine's load does not change it.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$1/stat"; }
# A worker's CPU seconds with those of its fly runners (child processes that run the chunks).
tree_cpu() {
  local sum p
  sum=$(cpu "$1")
  for p in $(ps -o pid= --ppid "$1"); do sum="$sum + $(cpu "$p" 2>/dev/null || echo 0)"; done
  python3 -c "print($sum)"
}
workers_cpu() { python3 -c "print($(tree_cpu "${pids[1]}") + $(tree_cpu "${pids[2]}"))"; }

smp=$(seconds smp /usr/bin/time -f "%U %S" -o "$dir/smp.time" "$volo" run "$dir/pi.fly" --seed 7 \
  --env cloud=smp:2)
smp_cpu=$(awk '{print $1 + $2}' "$dir/smp.time")
before=$(workers_cpu)
cluster=$(seconds cluster "$volo" run "$dir/pi.fly" --seed 7 --env "cloud=cluster:$url")
cluster_cpu=$(python3 -c "print($(workers_cpu) - $before)")
same=no
cmp -s "$dir/smp.out" "$dir/cluster.out" && same=yes
fanout=$(seconds fanout "$volo" run "$dir/empty.fly" --env "cloud=cluster:$url")
fanout_smp=$(seconds fanout_smp "$volo" run "$dir/empty.fly" --env cloud=smp:2)

python3 - "$points" "$smp" "$cluster" "$same" "$fanout" "$fanout_smp" "$smp_cpu" "$cluster_cpu" \
  "$(cat /proc/loadavg | cut -d' ' -f1)" <<'EOF'
import sys
points, smp, cluster, same, fanout, fanout_smp, smp_cpu, cluster_cpu, load = sys.argv[1:]
smp, cluster, fanout, fanout_smp = map(float, (smp, cluster, fanout, fanout_smp))
smp_cpu, cluster_cpu = float(smp_cpu), float(cluster_cpu)
print("| measure | smp:2 | cluster, 2 local workers | ratio (smp time / cluster time) | target |")
print("|---|---|---|---|---|")
print(f"| pi, {int(points):.0e} points (1000 instances) | {smp:.2f} s | {cluster:.2f} s "
      f"| {smp / cluster:.2f}x (same output: {same}) | cluster >= 0.9x smp; <= 23 s |")
print(f"| pi, CPU seconds (smp: the process; cluster: both workers) | {smp_cpu:.2f} s "
      f"| {cluster_cpu:.2f} s | {smp_cpu / cluster_cpu:.2f}x | |")
print(f"| fan-out, 10^6 empty instances | {fanout_smp * 1e6 / 1e6:.2f} us/instance "
      f"| {fanout * 1e6 / 1e6:.2f} us/instance | | cluster <= 20 us/instance |")
print(f"\n(load average {load} when it ended: wall times on a busy machine are not comparable "
      f"between runs; the CPU seconds are)")
EOF
