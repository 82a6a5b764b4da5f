"""Cold-start latency of `--fly` (and `--cmd`) functions alone (docs/functions.md, "Measured").

usage: python3 bench/functions/cold_start.py VOLO [RUNS] [RUNNERS]

Starts a planner and one sandboxed worker (as bench.py does), then for each runner of RUNNERS
(comma-separated, default "fly,cmd") deploys RUNS new functions (default 20) one after the
other and times each one's first call from the client: from no instance to the first answer,
the same measure as bench.py's "cold start" column but without the rest of the bench, so that
a change to the cold path can be compared quickly. Prints p50, p90 and max per runner, the
instance's start as the planner saw it (`volo_function_start_seconds`: from asking the worker
for an instance to its answer that the instance is ready; the rest is the planner's and the
client's own hops and the first call itself) and the load average before and after: on a
shared machine the numbers mean little without it.
Env WORKER_ARGS: more flags for the worker (say `--limits rlimit`, to see the cold start
without a cgroup per instance). Processes are started and stopped by pid.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import FLY, call, get, pct, start_fleet, stop_all  # noqa: E402


def start_ms(url, name):
    """The planner's volo_function_start_seconds_sum of function `name`, in ms."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    key = f'volo_function_start_seconds_sum{{function="{name}"}} '
    for line in text.splitlines():
        if line.startswith(key):
            return float(line[len(key):]) * 1000
    return float("nan")


def main():
    volo = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    runners = (sys.argv[3] if len(sys.argv) > 3 else "fly,cmd").split(",")
    tmp = tempfile.mkdtemp(prefix="volo-fn-cold-")
    procs = []
    try:
        url = start_fleet(volo, tmp, procs, os.environ.get("WORKER_ARGS", "").split())
        bundle = os.path.join(tmp, "fn")
        os.makedirs(bundle)
        with open(os.path.join(bundle, "hello.fly"), "w") as f:
            f.write(FLY)
        flags = {"fly": ["--fly", "hello.fly", "--func", "handle"], "cmd": ["--cmd", "--", "cat"]}
        # One function first, not counted: the bundle's upload and its warm sandbox are the
        # same for every function of the run, and paid once by the first.
        subprocess.run([volo, "fn", "deploy", "first", "--planner", url, "--bundle", bundle,
                        *flags[runners[0]]], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        call(f"{url}/fn/first")
        for runner in runners:
            load0 = os.getloadavg()[0]
            times, starts = [], []
            for i in range(runs):
                name = f"{runner}-{i}"
                subprocess.run([volo, "fn", "deploy", name, "--planner", url, "--bundle", bundle,
                                *flags[runner]], check=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                t0 = time.perf_counter()
                req = urllib.request.Request(f"{url}/fn/{name}", data=b"x", method="POST")
                with urllib.request.urlopen(req, timeout=60) as r:
                    r.read()
                    cold = r.headers.get("X-Volo-Cold")
                times.append((time.perf_counter() - t0) * 1000)
                if cold != "true":
                    raise RuntimeError(f"{name}'s first call was not cold")
                starts.append(start_ms(url, name))
            load1 = os.getloadavg()[0]
            print(f"{runner}: cold start p50 {statistics.median(times):.1f} ms, "
                  f"p90 {pct(times, 90):.1f} ms, max {max(times):.1f} ms over {runs} runs "
                  f"(load average {load0:.2f} before, {load1:.2f} after); the instance's "
                  f"start p50 {statistics.median(starts):.1f} ms")
            print("  first answer: " + " ".join(f"{t:.1f}" for t in times))
            print("  start:        " + " ".join(f"{t:.1f}" for t in starts))
    finally:
        stop_all(procs, tmp)


if __name__ == "__main__":
    main()
