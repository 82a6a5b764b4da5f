"""CPU per warm `--fly` call, per process (docs/functions.md, "Measured").

usage: python3 bench/functions/cpu_per_call.py VOLO [SECONDS] [CONNECTIONS]

Starts a planner and one worker (as bench.py does), deploys bench.py's `fly` function with one
instance of concurrency 2 (env CONCURRENCY), warms it, then runs wrk (keep-alive, POST "x") against
`/fn/NAME` for SECONDS (default 5) with CONNECTIONS connections (default 16). Prints calls/s
and, for the planner, the worker, the instance (every process below the worker: the sandbox
and `volo __fn-fly`) and wrk, the CPU time each used during the run (utime + stime from
/proc/PID/stat, all threads) divided by the calls the planner answered, in microseconds, and
the planner's, the worker's and the instance's context switches per call (voluntary and not,
all threads, from /proc/PID/task/*/status: a thread that hands work to another and sleeps
until it answers shows here, whatever the load). The load average is printed with it: on a
shared machine the CPU numbers mean little without it.
Processes are started and stopped by pid.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import FLY, call, get, start_fleet, stop_all  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def stat(pid):
    """(ppid, utime + stime in seconds) of pid, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: fields start after the last ')'.
    w = text[text.rindex(")") + 2:].split()
    return int(w[1]), (int(w[11]) + int(w[12])) / TICK


def descendants(root):
    """The pids below root (children, their children, ...)."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        s = stat(int(name))
        if s:
            children.setdefault(s[0], []).append(int(name))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def cpu(pids):
    return sum((stat(p) or (0, 0.0))[1] for p in pids)


def switches(pids):
    """Context switches so far (voluntary and not) of every thread of pids."""
    total = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                            total += int(line.split()[1])
            except OSError:
                pass
    return total


def main():
    volo = sys.argv[1]
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    connections = int(sys.argv[3]) if len(sys.argv) > 3 else 16
    if not shutil.which("wrk"):
        sys.exit("cpu_per_call.py needs wrk (Debian package wrk)")
    tmp = tempfile.mkdtemp(prefix="volo-fn-cpu-")
    procs = []
    try:
        url = start_fleet(volo, tmp, procs)
        planner, worker = procs[-2], procs[-1]
        flydir = os.path.join(tmp, "flyfn")
        os.makedirs(flydir)
        with open(os.path.join(flydir, "hello.fly"), "w") as f:
            f.write(FLY)
        subprocess.run([volo, "fn", "deploy", "fwarm", "--planner", url, "--bundle", flydir,
                        "--fly", "hello.fly", "--func", "handle", "--max", "1", "--concurrency",
                        os.environ.get("CONCURRENCY", "2"), "--queue", "10000"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        status, body = call(f"{url}/fn/fwarm")
        assert status == 200 and body == b"hello x", body
        for _ in range(200):  # warm: the VMs, the connections' buffers
            call(f"{url}/fn/fwarm")

        script = os.path.join(tmp, "post.lua")
        with open(script, "w") as f:
            f.write('wrk.method = "POST"\nwrk.body = "x"\n')
        instance = descendants(worker.pid)
        calls0 = get(f"{url}/api/v1/functions/fwarm/usage")["calls"]
        p0, w0, i0 = cpu([planner.pid]), cpu([worker.pid]), cpu(instance)
        sw0 = [switches([planner.pid]), switches([worker.pid]), switches(instance)]
        load0 = os.getloadavg()
        t0 = time.time()
        wrk = subprocess.Popen(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", script,
                                f"{url}/fn/fwarm"], stdout=subprocess.PIPE, text=True)
        out = wrk.stdout.read()
        _, _, ru = os.wait4(wrk.pid, 0)
        wrk.returncode = 0
        elapsed = time.time() - t0
        p1, w1, i1 = cpu([planner.pid]), cpu([worker.pid]), cpu(instance)
        sw1 = [switches([planner.pid]), switches([worker.pid]), switches(instance)]
        load1 = os.getloadavg()
        usage = get(f"{url}/api/v1/functions/fwarm/usage")
        calls = usage["calls"] - calls0
        if calls <= 0:
            raise RuntimeError("no calls were answered:\n" + out)
        rps = next((float(line.split()[1]) for line in out.splitlines()
                    if line.startswith("Requests/sec:")), calls / elapsed)
        wrk_cpu = ru.ru_utime + ru.ru_stime
        rows = [("planner", p1 - p0), ("worker", w1 - w0), ("instance", i1 - i0),
                ("wrk", wrk_cpu)]
        print(f"fly calls/s (wrk -t2 -c{connections}, {seconds} s): {rps:.0f}; "
              f"{calls} calls metered, {usage['errors']} errors; "
              f"load average {load0[0]:.2f} before, {load1[0]:.2f} after")
        total = 0.0
        for name, secs in rows:
            us = secs / calls * 1e6
            total += us
            print(f"  {name:9s} {us:7.1f} us CPU per call")
        print(f"  {'all':9s} {total:7.1f} us CPU per call "
              f"(2 cores: at most {2e6 / total:.0f} calls/s)")
        per = [(b - a) / calls for a, b in zip(sw0, sw1)]
        print(f"  context switches per call: planner {per[0]:.2f}, worker {per[1]:.2f}, "
              f"instance {per[2]:.2f}")
        print(json.dumps({"calls_per_s": round(rps), "load": round(load1[0], 2),
                          **{n: round(s / calls * 1e6, 1) for n, s in rows},
                          "switches": {n: round(x, 2) for n, x in
                                       zip(["planner", "worker", "instance"], per)}}))
    finally:
        stop_all(procs, tmp)


if __name__ == "__main__":
    main()
