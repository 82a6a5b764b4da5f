#!/usr/bin/env python3
"""Planner throughput of two builds, compared fairly on a busy machine.

    bench/ab_throughput.py BUILD_A BUILD_B [--rounds 3] [--tasks 100000]

Runs `make bench`'s engine throughput measurement (bench/bench.py: one planner, two workers of
256 slots, one `volo_bench throughput` client submitting no-op tasks 1,000 per message, after a
20,000-task warm-up) against each build in turn, interleaved A B A B ...: whatever else loads
the machine then weighs on both alike. Each build's `volo` and `volo_bench` are copied first, so
a build rebuilt meanwhile does not change what is measured. Prints every run and the medians,
and the last line as JSON.
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (Fleet and bench_client: the same measurement as make bench)


def snapshot(build, into):
    os.makedirs(into)
    for name in ("volo", "volo_bench"):
        src = os.path.join(build, name)
        if not os.access(src, os.X_OK):
            sys.exit(f"ab_throughput: {src} is missing (build it with the release preset)")
        shutil.copy2(src, os.path.join(into, name))
    return into


def throughput(build, tmp, tasks):
    fleet = bench.Fleet(os.path.join(build, "volo"), tmp)
    try:
        url = fleet.planner()
        fleet.workers(2, slots=256)
        bench.bench_client(build, "throughput", url, 20000, 1000)  # warm-up
        return bench.bench_client(build, "throughput", url, tasks, 1000)["tasks_per_s"]
    finally:
        fleet.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="first build directory (e.g. /work/main/build/release)")
    ap.add_argument("b", help="second build directory (e.g. build/release)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=100000)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="volo-ab-")
    try:
        builds = {"A": snapshot(os.path.abspath(args.a), os.path.join(tmp, "A")),
                  "B": snapshot(os.path.abspath(args.b), os.path.join(tmp, "B"))}
        runs = {"A": [], "B": []}
        for r in range(args.rounds):
            for name in ("A", "B"):
                tps = throughput(builds[name], tmp, args.tasks)
                runs[name].append(tps)
                print(f"round {r + 1} {name}: {tps:,.0f} tasks/s", flush=True)
        med = {k: statistics.median(v) for k, v in runs.items()}
        print(f"median A ({args.a}): {med['A']:,.0f} tasks/s")
        print(f"median B ({args.b}): {med['B']:,.0f} tasks/s ({(med['B'] / med['A'] - 1) * 100:+.1f}%)")
        print(json.dumps({"a": args.a, "b": args.b, "runs": runs, "median": med}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
