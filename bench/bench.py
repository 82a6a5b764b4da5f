"""volo's benchmarks, side by side with its peers (bench/peers/peers.py), in one run.

Prints markdown tables (and writes them to bench/results/latest.md): throughput of no-op tasks
(1 client, 2 workers), one task's round trip, planner memory per queued task, seed exercise 5
against its lower bound, the fixed seed instance (bench/peers/instance.py) on 30 workers, the
process-per-task baselines (GNU parallel, xargs), and the FLY interpreter against Lua 5.4 and
CPython (bench/fly/run.sh). The peers (Celery, RQ, Dask) run from bench/peers/peers.py.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "bench", "peers")

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.join(ROOT, "bench"))
from fleet import Fleet, get_json, post_json  # noqa: E402


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def bench_client(build, *args):
    out = subprocess.run([os.path.join(build, "volo_bench"), *map(str, args)],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError("volo_bench failed: " + out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def volo_engine(volo, build, tmp, runs):
    res = {}
    f = Fleet(volo, tmp)
    try:
        url = f.planner()
        f.workers(2, slots=256)
        bench_client(build, "throughput", url, 20000, 1000)  # warm-up
        tps = [bench_client(build, "throughput", url, 100000, 1000)["tasks_per_s"]
               for _ in range(runs)]
        res["throughput"] = {"runs": tps, "median": statistics.median(tps)}
        res["latency"] = bench_client(build, "latency", url, 10000)
    finally:
        f.stop()
    f = Fleet(volo, tmp)
    try:
        url = f.planner("--data", tempfile.mkdtemp(prefix="journal-", dir=tmp))
        f.workers(2, slots=256)
        tps = [bench_client(build, "throughput", url, 100000, 1000)["tasks_per_s"]
               for _ in range(runs)]
        res["throughput_journal"] = {"runs": tps, "median": statistics.median(tps)}
    finally:
        f.stop()
    f = Fleet(volo, tmp)
    try:
        url = f.planner()
        time.sleep(0.2)
        before = rss_kib(f.pid)
        bench_client(build, "fill", url, 1000000)
        after = rss_kib(f.pid)
        res["memory"] = {"tasks": 1000000, "rss_before_kib": before, "rss_after_kib": after,
                         "bytes_per_task": (after - before) * 1024 / 1e6,
                         "payload_bytes": len("{}")}
    finally:
        f.stop()
    return res


def volo_workflows(volo, tmp, quick, runs):
    """Workflows against Celery's canvas (bench/peers/peers.py "canvas"): a chain of no-op steps,
    a group of no-ops with a step after it (a chord), a map over a payload list; seconds per
    step. Then the planner's memory per pending step (a 100,000-element map with no worker to
    run it) and its peak while a 100,000-element map runs, on a fresh planner and on the one that
    ran (and keeps) the runs before."""
    chain_n, group_n = (200, 2000) if quick else (1000, 10000)
    big = 20000 if quick else 100000
    lines = ["tasks:", "  COUNT: {op: noop}"]
    lines += ["bench.CHAIN:", "  tasks: [" + ", ".join(["noop"] * chain_n) + "]"]
    lines += ["bench.CHORD:", "  tasks:", "    - G: {type: group, tasks: [" +
              ", ".join(["noop"] * group_n) + "]}", "    - COUNT"]
    lines += ["bench.MAP:", "  tasks:", "    - M: {type: map, over: payload.items, task: noop}"]
    text = "\n".join(lines) + "\n"
    res = {}

    def run(url, name, payload):
        t0 = time.perf_counter()
        r = post_json(url + f"/api/v1/workflows/{name}/runs", {"payload": payload})
        # The long-poll answers once the run has ended (as Celery's result.get() waits).
        while True:
            v = get_json(url + f"/api/v1/runs/{r['id']}/wait?timeout=300")
            if v["state"] not in ("queued", "running"):
                break
        wall = time.perf_counter() - t0
        assert v["state"] == "succeeded", f"{name}: {v['state']} {v.get('error')}"
        return wall

    def big_map_peak(f, url, n):
        import threading
        peak, done = [rss_kib(f.pid)], [False]

        def sample():
            while not done[0]:
                peak[0] = max(peak[0], rss_kib(f.pid))
                time.sleep(0.01)
        th = threading.Thread(target=sample)
        th.start()
        try:
            wall = run(url, "bench.MAP", {"items": list(range(n))})
        finally:
            done[0] = True
            th.join()
        return {"elements": n, "seconds": wall, "peak_rss_mib": peak[0] / 1024}

    f = Fleet(volo, tmp)
    try:
        url = f.planner()
        f.workers(2, slots=1, ops="noop,echo")
        post_json(url + "/api/v1/workflows", {"text": text})
        items = {"items": list(range(group_n))}
        for key, name, payload, steps in (("chain", "bench.CHAIN", {}, chain_n),
                                          ("chord", "bench.CHORD", {}, group_n + 1),
                                          ("map", "bench.MAP", items, group_n)):
            walls = [run(url, name, payload) for _ in range(runs)]
            wall = statistics.median(walls)
            res[key] = {"steps": steps, "seconds": wall, "us_per_step": wall / steps * 1e6}
        # The peak while a big map runs, on this planner that keeps the runs above (and their
        # tasks, for --keep-results) ...
        res["big_map_after_history"] = big_map_peak(f, url, big)
    finally:
        f.stop()
    # ... and on a fresh one.
    f = Fleet(volo, tmp)
    try:
        url = f.planner()
        f.workers(2, slots=1, ops="noop,echo")
        post_json(url + "/api/v1/workflows", {"text": text})
        res["big_map"] = big_map_peak(f, url, big)
    finally:
        f.stop()
    # Memory per pending step: the same map on a planner with no worker.
    f = Fleet(volo, tmp)
    try:
        url = f.planner()
        post_json(url + "/api/v1/workflows", {"text": text})
        before = rss_kib(f.pid)
        # The answer comes once the run and all its element tasks exist.
        post_json(url + "/api/v1/workflows/bench.MAP/runs", {"payload": {"items": list(range(big))}})
        after = rss_kib(f.pid)
        res["pending_bytes_per_step"] = (after - before) * 1024 / big
    finally:
        f.stop()
    return res


def run_rate(argv, n, stdin=None):
    """Commands per second of a process-per-task runner, run to completion once."""
    t0 = time.perf_counter()
    subprocess.run(argv, input=stdin, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=600)
    return n / (time.perf_counter() - t0)


def volo_commands(volo, tmp, n, runs):
    """Command tasks/s: an array of n `/bin/true` on 2 workers of one slot each (unsandboxed),
    from the submit to the last exit code recorded, against xargs -P2 and GNU parallel -j2 on
    the same machine in the same run."""
    res = {"tasks": n}
    f = Fleet(volo, tmp)
    try:
        url = f.planner()
        f.workers(2, slots=1, ops="exec")
        rates = []
        for _ in range(runs):
            t0 = time.perf_counter()
            a = post_json(url + "/api/v1/tasks", {"array": {"op": "exec", "args": {"cmd": ["/bin/true"]}},
                                              "each": {"var": "i", "from": 1, "to": n}})["array"]
            while True:
                s = get_json(f"{url}/api/v1/arrays/{a}")
                if s["finished"]:
                    break
                time.sleep(0.005)
            rates.append(n / (time.perf_counter() - t0))
            if s["done"] != n:
                raise RuntimeError(f"command bench: {s['failed']} of {n} failed")
        res["volo"] = {"runs": rates, "median": statistics.median(rates)}
    finally:
        f.stop()
    lines = "".join(f"{i}\n" for i in range(n)).encode()
    xs = [run_rate(["xargs", "-P2", "-n1", "/bin/true"], n, lines) for _ in range(runs)]
    res["xargs"] = {"runs": xs, "median": statistics.median(xs)}
    if shutil.which("parallel"):
        m = max(200, n // 5)
        few = "".join(f"{i}\n" for i in range(m)).encode()
        ps = [run_rate(["parallel", "-j2", "/bin/true"], m, few) for _ in range(runs)]
        res["parallel"] = {"runs": ps, "median": statistics.median(ps)}
    return res


def exercise5(volo, runs):
    ratios, spans = [], []
    for _ in range(runs):
        out = subprocess.run([volo, "up", "--workers", "10", "--mult", "10", "--add", "10",
                              "--tasks", "100", "--duration-scale", "0.01", "--json"],
                             capture_output=True, text=True, timeout=300)
        doc = json.loads(out.stdout)
        spans.append(doc["makespan"])
        ratios.append(doc["makespan"] / doc["lower_bound"])
    return {"runs": ratios, "mean_ratio": statistics.fmean(ratios),
            "mean_makespan_s": statistics.fmean(spans)}


def peer_instance(volo, tmp, runs):
    """The fixed seed instance of bench/peers/instance.py on 30 general volo workers."""
    sys.path.insert(0, PEERS)
    import instance
    tasks = instance.tasks()
    bound = instance.lower_bound([t[3] for t in tasks])
    body = {"tasks": [{"op": op, "args": {"a": a, "b": b, "duration": d}}
                      for op, a, b, d in tasks]}
    f = Fleet(volo, tmp)
    spans = []
    try:
        url = f.planner()
        f.workers(instance.WORKERS, ops="add,mult")
        for _ in range(runs):
            t0 = time.perf_counter()
            ids = post_json(url + "/api/v1/tasks", body)["ids"]
            while not post_json(url + "/api/v1/wait", {"ids": ids, "timeout": 60})["complete"]:
                pass
            spans.append(time.perf_counter() - t0)
    finally:
        f.stop()
    med = statistics.median(spans)
    return {"runs": spans, "median_makespan_s": med, "lower_bound_s": bound,
            "ratio": med / bound}


def run_peers(tmp, quick, only=None):
    """Runs bench/peers/peers.py (Celery, RQ, Dask, GNU parallel, xargs; or only the peers
    `only` names, comma-separated) and returns its JSON."""
    out = os.path.join(tmp, "peers.json")
    argv = [sys.executable, os.path.join(PEERS, "peers.py"), "--out", out]
    if quick:
        argv.append("--quick")
    if only:
        argv += ["--only", only]
    print(f"peers: {only or 'Celery, RQ, Dask, GNU parallel, xargs'}", file=sys.stderr, flush=True)
    r = subprocess.run(argv, stdout=subprocess.DEVNULL)
    if r.returncode != 0:
        print(f"peers: peers.py failed ({r.returncode}); the table shows what it measured",
              file=sys.stderr)
    try:
        return json.load(open(out))
    except (OSError, ValueError):
        return {}


def fmt(x, nd=0):
    return f"{x:,.{nd}f}"


def workflows_report(wf, cv):
    """The workflows section: volo's runs against Celery's canvas (`cv`, may be None)."""
    lines = []
    w = lines.append
    if wf:
        w("### Workflows against Celery's canvas (2 workers; time per step, median)\n")
        w("| shape | steps | volo µs/step | Celery µs/step | Celery ÷ volo |")
        w("|---|---:|---:|---:|---:|")
        for key, label in (("chain", "chain of no-ops"), ("chord", "group of no-ops, then one step (chord)"),
                           ("map", "map over a list (Celery: a group)")):
            mine = wf[key]
            theirs = (cv or {}).get(key)
            ratio = f"{theirs['us_per_step'] / mine['us_per_step']:,.0f}x" if theirs else "–"
            w(f"| {label} | {fmt(mine['steps'])} | {fmt(mine['us_per_step'], 1)} | "
              f"{fmt(theirs['us_per_step'], 1) if theirs else '–'} | {ratio} |")
        bm, bh = wf["big_map"], wf.get("big_map_after_history")
        hist = (f"; {bh['peak_rss_mib']:.0f} MiB on the planner that ran the runs above and "
                f"keeps their tasks" if bh else "")
        w(f"\nGoal: Celery ÷ volo ≥ 100x on each. A {fmt(bm['elements'])}-element map: "
          f"{bm['seconds']:.2f} s, peak RSS of a fresh planner {bm['peak_rss_mib']:.0f} MiB "
          f"(goal < 100 MiB){hist}; "
          f"planner memory per pending step {wf['pending_bytes_per_step']:.0f} bytes "
          f"(goal ≤ 512).\n")
    return lines


def report(v, peers, fly, cluster=""):
    lines = []
    w = lines.append
    w("## volo against its peers, one run on this machine\n")
    tp, lat, mem = v["throughput"], v["latency"], v["memory"]
    rows = [("volo (stream client, 2 workers)", tp["median"], lat["p50_us"], lat["p99_us"])]
    for label, key in (("Celery", "celery"), ("RQ (fork per job)", "rq"),
                       ("RQ SimpleWorker", "rq_simple"), ("Dask", "dask")):
        d = peers.get(key)
        if not d:
            continue
        rows.append((label, d.get("throughput", {}).get("tasks_per_s"),
                     d.get("latency", {}).get("p50_us"), d.get("latency", {}).get("p99_us")))
    celery_tp = next((r[1] for r in rows if r[0] == "Celery"), None)
    celery_p50 = next((r[2] for r in rows if r[0] == "Celery"), None)
    w("| system | no-op tasks/s | volo ÷ it | round trip p50 µs | p99 µs | it ÷ volo (p50) |")
    w("|---|---:|---:|---:|---:|---:|")
    for label, t, p50, p99 in rows:
        ratio_t = f"{tp['median'] / t:,.0f}x" if t else "–"
        ratio_l = f"{p50 / lat['p50_us']:,.0f}x" if p50 else "–"
        w(f"| {label} | {fmt(t) if t else '–'} | {ratio_t if label[:4] != 'volo' else '1x'} | "
          f"{fmt(p50, 1) if p50 else '–'} | {fmt(p99, 1) if p99 else '–'} | "
          f"{ratio_l if label[:4] != 'volo' else '1x'} |")
    w("")
    w(f"Targets: ≥ 100,000 tasks/s (≥ 100x Celery{', here ' + fmt(tp['median'] / celery_tp) + 'x' if celery_tp else ''}); "
      f"p50 ≤ 100 µs (here {lat['p50_us']:.1f} µs).")
    w(f"Throughput runs (100,000 tasks each): {', '.join(fmt(x) for x in tp['runs'])} tasks/s.\n")
    tj = v["throughput_journal"]
    w(f"With the journal on (`--data`, SQLite WAL, synchronous=FULL, group commit): "
      f"**{fmt(tj['median'])} tasks/s** submitted and completed (target ≥ 50,000; in memory "
      f"{fmt(tp['median'])}).\n")
    w("### Planner memory\n")
    w(f"1,000,000 queued no-op tasks (payload `{{}}`): RSS {fmt(mem['rss_before_kib'])} KiB → "
      f"{fmt(mem['rss_after_kib'])} KiB, **{mem['bytes_per_task']:.0f} bytes per task** "
      f"(target ≤ 256 plus payload).\n")
    e5 = v["exercise5"]
    w("### Seed exercise 5: 100 tasks on 10 general + 10 mult + 10 add workers, durations 1/100\n")
    w(f"makespan ÷ lower bound, {len(e5['runs'])} runs: "
      f"{', '.join(f'{r:.3f}' for r in e5['runs'])}; **mean {e5['mean_ratio']:.3f}x** "
      f"(target ≤ 1.25x; zero-overhead FIFO 1.31x, mult-before-add simulated ≈ 1.24x). "
      f"Mean makespan {e5['mean_makespan_s'] * 1000:.0f} ms.\n")
    pi = v["peer_instance"]
    w("### The fixed seed instance (bench/peers/instance.py: 100 tasks, 30 general workers, 1/100)\n")
    w("| system | median makespan ms | ÷ lower bound |")
    w("|---|---:|---:|")
    w(f"| volo | {pi['median_makespan_s'] * 1000:.0f} | {pi['ratio']:.2f}x |")
    for label, key in (("Celery", "celery"), ("Dask", "dask")):
        d = peers.get(key, {}).get("instance")
        if d:
            w(f"| {label} | {d['makespan_s'] * 1000:.0f} | {d['ratio']:.2f}x |")
    w(f"\nLower bound {pi['lower_bound_s'] * 1000:.0f} ms.\n")
    cmds = [(label, peers[k]) for label, k in (("xargs -P2", "xargs"), ("GNU parallel -j2",
                                                                         "parallel")) if k in peers]
    if cmds:
        w("### Process-per-task baselines: `/bin/true` run N times, 2 at a time\n")
        w("| runner | commands/s |")
        w("|---|---:|")
        for label, d in cmds:
            w(f"| {label} | {fmt(d['tasks_per_s'])} |")
        w("")
    c = v.get("commands")
    if c:
        vr, xr = c["volo"]["median"], c["xargs"]["median"]
        pr = c.get("parallel", {}).get("median")
        w(f"### Command tasks: `/bin/true` on 2 workers (one slot each), {fmt(c['tasks'])} per run\n")
        w("| runner | commands/s | volo unsandboxed ÷ it |")
        w("|---|---:|---:|")
        w(f"| volo unsandboxed (array, submit to last exit code) | {fmt(vr)} | 1x |")
        w(f"| `xargs -P2` (the machine's process-start rate) | {fmt(xr)} | {vr / xr:.2f}x |")
        if pr:
            w(f"| GNU parallel -j2 | {fmt(pr)} | {vr / pr:.1f}x |")
        w(f"\nGoals: ≥ 0.75x `xargs -P2`, ≥ 3x GNU parallel. volo runs: "
          f"{', '.join(fmt(x) for x in c['volo']['runs'])}.\n")
    lines += workflows_report(v.get("workflows"), peers.get("canvas"))
    if fly:
        w("### FLY interpreter (bench/fly/run.sh)\n")
        w(fly)
    if cluster:
        w("### FLY on the fleet (bench/cluster/run.sh)\n")
        w(cluster)
    return "\n".join(lines)


def run_suite(name, switch, what, *args, when=lambda: True):
    """bench/NAME/run.sh ARGS... unless it is missing, $SWITCH is 0 or `when()` is false: its
    markdown, or a line saying how it failed ("" when it did not run). `what` goes to stderr."""
    script = os.path.join(ROOT, "bench", name, "run.sh")
    if not os.path.exists(script) or os.environ.get(switch, "1") == "0" or not when():
        return ""
    print(what, file=sys.stderr, flush=True)
    r = subprocess.run([script, *args], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else f"(bench/{name}/run.sh failed: {r.stderr[-500:]})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build/release")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    volo = os.path.join(build, "volo")
    quick = os.environ.get("BENCH_QUICK") == "1"
    runs = 3 if not quick else 1
    tmp = tempfile.mkdtemp(prefix="volo-bench-")
    if os.environ.get("BENCH_ONLY") == "workflows":
        # Only the workflows and their peer, Celery's canvas (docs/workflows.md, "Measured").
        print("volo: workflows (chain, chord, map)", file=sys.stderr, flush=True)
        wf = volo_workflows(volo, tmp, quick, runs)
        peers = run_peers(tmp, quick, "canvas") if os.environ.get("BENCH_PEERS", "1") != "0" else {}
        print("\n".join(workflows_report(wf, peers.get("canvas"))))
        print(json.dumps({"workflows": wf, "canvas": peers.get("canvas")}, default=str))
        shutil.rmtree(tmp, ignore_errors=True)
        return
    elif os.environ.get("BENCH_ONLY"):
        sys.exit(f"BENCH_ONLY={os.environ['BENCH_ONLY']}: the one part that runs alone is workflows")
    print("volo: engine throughput, latency, memory", file=sys.stderr, flush=True)
    v = volo_engine(volo, build, tmp, runs)
    print("volo: command tasks against xargs and GNU parallel", file=sys.stderr, flush=True)
    v["commands"] = volo_commands(volo, tmp, 2000 if not quick else 500, runs)
    print("volo: workflows (chain, chord, map)", file=sys.stderr, flush=True)
    v["workflows"] = volo_workflows(volo, tmp, quick, runs)
    print("volo: seed exercise 5", file=sys.stderr, flush=True)
    v["exercise5"] = exercise5(volo, 5)
    print("volo: the fixed seed instance on 30 workers", file=sys.stderr, flush=True)
    v["peer_instance"] = peer_instance(volo, tmp, 7 if not quick else 3)
    peers = {}
    if os.environ.get("BENCH_PEERS", "1") != "0":
        peers = run_peers(tmp, quick)
    fly = run_suite("fly", "BENCH_FLY", "fly: interpreter against Lua and CPython", volo)
    cluster = run_suite("cluster", "BENCH_CLUSTER",
                        "cluster: pi 10^9 on smp:2 and on 2 local workers; fan-out overhead", volo)
    sandbox = run_suite("sandbox", "BENCH_SANDBOX",
                        "sandbox: commands under bwrap and bare; a 100 MiB bundle to 2 workers", volo)
    dashboard = run_suite("dashboard", "BENCH_DASHBOARD",
                          "dashboard: size, first render, throughput with a page open, the task "
                          "list with a million tasks",
                          build, "--runs", str(5 if not quick else 2),
                          "--tasks", str(1_000_000 if not quick else 100_000))
    playground = run_suite(
        "playground", "BENCH_PLAYGROUND", "playground: fib(27) in headless Chromium against volo run; sizes",
        volo, when=lambda: subprocess.run([volo, "lite", "build", "--help"],
                                          capture_output=True).returncode == 0)
    functions = run_suite("functions", "BENCH_FUNCTIONS",
                          "functions: cold start, warm latency and throughput through the planner",
                          volo)
    text = report(v, peers, fly, cluster)
    if playground:
        text += "\n### The FLY playground (bench/playground/run.sh)\n\n" + playground
    if sandbox:
        text += "\n### Sandboxed commands and bundles (bench/sandbox/run.sh)\n\n" + sandbox
    if dashboard:
        text += "\n### The dashboard (bench/dashboard/run.sh)\n\n" + dashboard
    if functions:
        text += "\n### Functions (bench/functions/run.sh)\n\n" + functions
    print(text)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "latest.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(ROOT, "bench", "results", "latest.json"), "w") as f:
        json.dump({"volo": v, "peers": peers}, f, indent=1, default=str)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
