"""Functions as a service, measured on loopback (docs/functions.md).

A planner and one sandboxed worker; a `cmd` function (`cat`, so the program's own work is
nothing and what is measured is volo's path plus one sandboxed process start per call):

- cold start: from no instance to the first answer (a new function each time, so the instance,
  its bundle lease and the call all start from nothing), p50 and max over the runs;
- warm: one client calling in a loop, latency p50/p99;
- throughput: wrk (Debian's) with a few connections for a few seconds, or a Python client
  pool when wrk is missing.

Prints a markdown section; processes are started and stopped by pid.
"""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

QUICK = os.environ.get("BENCH_QUICK") == "1"


def call(url, body=b"x", timeout=60):
    req = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    volo = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="volo-fn-bench-")
    procs = []
    try:
        port_file = os.path.join(tmp, "planner.port")
        procs.append(subprocess.Popen([volo, "planner", "--port", "0", "--port-file", port_file,
                                       "--log-level", "warn"], stderr=subprocess.DEVNULL))
        deadline = time.time() + 20
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if time.time() > deadline:
                raise RuntimeError("planner did not start")
            time.sleep(0.01)
        url = "http://127.0.0.1:" + open(port_file).read().strip()
        procs.append(subprocess.Popen([volo, "worker", "--planner", url, "--ops", "exec",
                                       "--slots", "2", "--port", "-1", "--work-dir",
                                       os.path.join(tmp, "work"), "--log-level", "warn"],
                                      stderr=subprocess.DEVNULL))
        deadline = time.time() + 30
        while get(url + "/api/v1/status")["workers"] < 1:
            if time.time() > deadline:
                raise RuntimeError("worker did not register")
            time.sleep(0.01)
        bundle = os.path.join(tmp, "fn")
        os.makedirs(bundle)
        with open(os.path.join(bundle, "handler.sh"), "w") as f:
            f.write("cat\n")

        def deploy(name, *flags):
            subprocess.run([volo, "fn", "deploy", name, "--planner", url, "--bundle", bundle,
                            *flags, "--cmd", "--", "cat"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        cold = []
        for i in range(5 if QUICK else 20):
            deploy(f"cold-{i}")
            t0 = time.perf_counter()
            status, _ = call(f"{url}/fn/cold-{i}")
            cold.append((time.perf_counter() - t0) * 1000)
            assert status == 200

        deploy("warm", "--max", "4", "--concurrency", "4", "--queue", "10000")
        call(f"{url}/fn/warm")
        warm = []
        for _ in range(100 if QUICK else 500):
            t0 = time.perf_counter()
            call(f"{url}/fn/warm")
            warm.append((time.perf_counter() - t0) * 1000)

        seconds = 3 if QUICK else 10
        tput = None
        how = ""
        if shutil.which("wrk"):
            script = os.path.join(tmp, "post.lua")
            with open(script, "w") as f:
                f.write('wrk.method = "POST"\nwrk.body = "x"\n')
            r = subprocess.run(["wrk", "-t2", "-c8", f"-d{seconds}s", "-s", script,
                                f"{url}/fn/warm"], capture_output=True, text=True)
            for line in r.stdout.splitlines():
                if line.startswith("Requests/sec:"):
                    tput = float(line.split()[1])
            how = "wrk -t2 -c8"
        else:
            from concurrent.futures import ThreadPoolExecutor
            end = time.time() + seconds
            count = [0]

            def loop():
                n = 0
                while time.time() < end:
                    call(f"{url}/fn/warm")
                    n += 1
                return n
            t0 = time.time()
            with ThreadPoolExecutor(8) as pool:
                total = sum(pool.map(lambda _: loop(), range(8)))
            tput = total / (time.time() - t0)
            how = "8 Python clients (wrk not installed)"
        usage = get(f"{url}/api/v1/functions/warm/usage")

        print("| runner | cold start p50 | cold start max | warm p50 | warm p99 | warm calls/s |")
        print("|---|---|---|---|---|---|")
        print(f"| cmd (`cat` under bwrap) | {statistics.median(cold):.1f} ms | {max(cold):.1f} ms | "
              f"{pct(warm, 50):.2f} ms | {pct(warm, 99):.2f} ms | {tput:.0f} ({how}) |")
        print()
        print(f"Cold start: a new function each run ({len(cold)} runs), from no instance to the "
              f"first answer. Warm: {len(warm)} sequential calls, then {how} for {seconds} s "
              f"(4 instances of concurrency 4). The planner metered {usage['calls']} warm calls.")
        print("The `--http` and `--fly` runners are not built yet, so they have no row.")
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
