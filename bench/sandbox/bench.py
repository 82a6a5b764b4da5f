"""Command tasks under `--sandbox bwrap` (warm sandboxes, the default, and a bwrap per command)
against `--sandbox none` and `xargs -P4` (2 workers of 2 slots, `/bin/true`), side by side in one
run, and the time to ship a 100 MiB bundle to 2 workers (push, fetch, verify, unpack) against
`cp`.

Prints a markdown section for bench/bench.py. Processes are started and stopped by pid.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import fleet  # noqa: E402


def call(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.load(r)


class Fleet(fleet.Fleet):
    """A planner and 2 exec workers with the given sandbox."""

    def start(self, sandbox, slots, extra=()):
        self.planner()
        self.workers(2, slots=slots, ops="exec", extra=["--sandbox", sandbox, *extra],
                     work_dirs=True)
        return self.url

    def run(self, tasks):
        ids = call("POST", self.url + "/api/v1/tasks", {"tasks": tasks})["ids"]
        while True:
            r = call("POST", self.url + "/api/v1/wait", {"ids": ids, "timeout": 60})
            if r["complete"]:
                bad = [t for t in r["tasks"] if t["state"] != "done"]
                if bad:
                    raise RuntimeError("a task failed: " + json.dumps(bad[0])[:300])
                return


def commands_per_s(volo, tmp, sandbox, n, runs, extra=()):
    f = Fleet(volo, tmp)
    try:
        f.start(sandbox, slots=2, extra=extra)
        task = {"op": "exec", "args": {"cmd": ["/bin/true"]}}
        f.run([task] * 20)  # warm-up
        rates = []
        for _ in range(runs):
            t0 = time.perf_counter()
            f.run([task] * n)
            rates.append(n / (time.perf_counter() - t0))
        return statistics.median(rates)
    finally:
        f.stop()


def xargs_per_s(n, runs):
    """The machine's raw process-start rate at the same parallelism (4)."""
    lines = ("x\n" * n).encode()
    rates = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(["xargs", "-P4", "-n1", "/bin/true"], input=lines, check=True)
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def bundle_shipping(volo, tmp):
    src = os.path.join(tmp, "bundle-src")
    os.makedirs(src)
    with open(os.path.join(src, "data.bin"), "wb") as out:
        out.write(os.urandom(100 << 20))
    t0 = time.perf_counter()
    for i in range(2):
        shutil.copytree(src, os.path.join(tmp, f"cp-{i}"))
    cp_s = time.perf_counter() - t0
    f = Fleet(volo, tmp)
    try:
        url = f.start("none", slots=1)
        # Two tasks, one slot per worker: each worker fetches the bundle once.
        task = {"op": "exec", "args": {"shell": "test -s \"$VOLO_BUNDLE_DIR/data.bin\" && sleep 0.2"}}
        t0 = time.perf_counter()
        push = subprocess.run([volo, "bundle", "push", src, "--planner", url],
                              capture_output=True, text=True, check=True)
        bundle = push.stdout.strip().splitlines()[-1]
        task["args"]["bundle"] = bundle
        f.run([task, task])
        first_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        subprocess.run([volo, "bundle", "push", src, "--planner", url], capture_output=True,
                       check=True)
        f.run([task, task])
        again_s = time.perf_counter() - t0
        return {"cp_s": cp_s, "first_s": first_s, "again_s": again_s}
    finally:
        f.stop()


def main():
    volo = sys.argv[1]
    quick = os.environ.get("BENCH_QUICK") == "1"
    n, runs = (200, 1) if quick else (1000, 3)
    tmp = tempfile.mkdtemp(prefix="volo-bench-sandbox-")
    try:
        xargs = xargs_per_s(n, runs)
        bare = commands_per_s(volo, tmp, "none", n, runs)
        boxed = commands_per_s(volo, tmp, "bwrap", n, runs)
        cold_n = max(100, n // 4)  # a bwrap per command is slow: fewer
        cold = commands_per_s(volo, tmp, "bwrap", cold_n, runs, ["--sandbox-zygote=false"])
        ship = bundle_shipping(volo, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("| `/bin/true` on 2 workers, 2 slots each | commands/s | ÷ unsandboxed |")
    print("|---|---:|---:|")
    print(f"| `xargs -P4 -n1 /bin/true` (the machine's process-start rate) | {xargs:,.0f} | "
          f"{xargs / bare:.2f}x |")
    print(f"| volo `--sandbox none` | {bare:,.0f} | 1x |")
    print(f"| volo `--sandbox bwrap` (warm sandbox per bundle, the default) | {boxed:,.0f} | "
          f"{boxed / bare:.2f}x |")
    print(f"| volo `--sandbox bwrap --sandbox-zygote=false` (a bwrap per command) | {cold:,.0f} | "
          f"{cold / bare:.2f}x |")
    print()
    print("| 100 MiB bundle to 2 workers | seconds | ÷ `cp` |")
    print("|---|---:|---:|")
    print(f"| `cp -r` twice (local copy, the floor) | {ship['cp_s']:.2f} | 1x |")
    print(f"| push, fetch, verify, unpack, 1 task each | {ship['first_s']:.2f} | "
          f"{ship['first_s'] / ship['cp_s']:.1f}x |")
    print(f"| again (cached: nothing crosses) | {ship['again_s']:.2f} | "
          f"{ship['again_s'] / ship['cp_s']:.1f}x |")
    print()
    print(f"Goal: sandboxed ≥ 0.5x unsandboxed (here {boxed / bare:.2f}x).")


if __name__ == "__main__":
    main()
