#!/usr/bin/env python3
"""volo's peers on this machine: Celery, RQ, Dask, GNU parallel and xargs, measured the way
bench/bench.py measures volo, so one run puts them side by side.

    bench/peers/peers.py [--quick] [--only celery,rq,dask,commands] [--out FILE]

Measures (each peer in a process of its own, its workers started and stopped by pid):
  throughput  no-op tasks per second: one client submits N tasks at once to 2 workers and
              collects every result (the median of several runs)
  latency     one task's round trip, submitted and awaited one after another (p50, p99)
  instance    seed exercise 5's fixed instance (instance.py) on 30 workers: makespan and its
              ratio to the lower bound
  commands    `/bin/true` N times, 2 at a time, by GNU parallel and by xargs -P2

A private Redis (for Celery and RQ) runs on a free loopback port for the length of the run.
Prints one JSON document: {"celery": {...}, "rq": {...}, "rq_simple": {...}, "dask": {...},
"parallel": {...}, "xargs": {...}, "versions": {...}}. Peers whose packages are missing are
left out with a note on stderr (scripts/install-deps --bench installs them).
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def say(*a):
    print("peers:", *a, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def latency_summary(seconds):
    us = [s * 1e6 for s in seconds]
    return {"n": len(us), "p50_us": statistics.median(us), "p99_us": percentile(us, 99),
            "mean_us": statistics.fmean(us)}


def throughput_summary(walls, n):
    med = statistics.median(walls)
    return {"n": n, "runs_s": walls, "tasks_per_s": n / med}


class Child:
    """A process this harness started, in a session of its own; stopped by its pid and group."""

    def __init__(self, argv, log, env=None):
        self.log = open(log, "ab")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                  env=dict(os.environ, **(env or {})), cwd=HERE,
                                  start_new_session=True)

    def stop(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                pass
        # Pool children (Celery's prefork, RQ's work-horses) share the group: end them too.
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.p.poll() is None:
            self.p.wait()
        self.log.close()


# ---- Celery -------------------------------------------------------------------------------

def run_celery(args, logs):
    import celery_tasks as ct
    out = {"version": __import__("celery").__version__}

    def fleet(concurrency, name):
        w = Child([PY, "-m", "celery", "-A", "celery_tasks", "worker", "--pool=prefork",
                   f"--concurrency={concurrency}", "--loglevel=WARNING", "--without-gossip",
                   "--without-mingle", "--without-heartbeat", "-Q", "volo_peers",
                   "-n", f"{name}@localhost"], os.path.join(logs, f"celery-{name}.log"))
        deadline = time.time() + 120
        while not ct.app.control.ping(timeout=0.5):
            if time.time() > deadline or w.p.poll() is not None:
                w.stop()
                raise RuntimeError("the celery worker did not answer (see its log)")
        for r in [ct.noop.delay(i) for i in range(concurrency * 10)]:
            r.get(timeout=120)
        return w

    w = fleet(2, "two")
    try:
        walls = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            rs = [ct.noop.delay(i) for i in range(args.n)]
            vals = [r.get(timeout=600) for r in rs]
            walls.append(time.perf_counter() - t0)
            assert vals == list(range(args.n)), "celery returned wrong results"
            for r in rs:
                r.forget()
        out["throughput"] = throughput_summary(walls, args.n)
        lat = []
        for i in range(args.latency_n):
            t0 = time.perf_counter()
            assert ct.noop.delay(i).get(timeout=60) == i
            lat.append(time.perf_counter() - t0)
        out["latency"] = latency_summary(lat)
    finally:
        w.stop()
    import instance
    w = fleet(instance.WORKERS, "thirty")
    try:
        out["instance"] = run_instance(args.instance_runs, lambda ts: [
            r.get(timeout=600) for r in [ct.seed_op.delay(*t) for t in ts]])
    finally:
        w.stop()
    return {"celery": out}


def run_instance(runs, submit_and_collect):
    """Runs the fixed seed instance `runs` times through `submit_and_collect(tasks)`, which
    returns each task's (value, started, finished, pid); checks every answer."""
    import instance
    ts = instance.tasks()
    bound = instance.lower_bound([t[3] for t in ts])
    spans = []
    for _ in range(runs):
        t0 = time.perf_counter()
        outs = submit_and_collect(ts)
        spans.append(time.perf_counter() - t0)
        for (op, a, b, _), o in zip(ts, outs):
            assert o[0] == instance.expected(op, a, b), "a wrong answer"
    med = statistics.median(spans)
    return {"runs_s": spans, "makespan_s": med, "lower_bound_s": bound, "ratio": med / bound}


# ---- RQ -----------------------------------------------------------------------------------

def run_rq(args, logs, worker_class, key):
    import redis
    import rq
    from rq import Queue, Worker
    from rq.job import Job
    import work
    conn = redis.Redis.from_url(os.environ["PEER_REDIS_URL"])
    conn.flushall()
    q = Queue("volo_peers", connection=conn)
    rq_bin = shutil.which("rq") or "/usr/bin/rq"
    workers = [Child([PY, rq_bin, "worker", "-u", os.environ["PEER_REDIS_URL"], "--quiet",
                      "-w", worker_class, "--path", HERE, "-n", f"{key}-{i}", "volo_peers"],
                     os.path.join(logs, f"{key}-{i}.log")) for i in range(2)]
    out = {"version": rq.__version__, "worker_class": worker_class}
    try:
        deadline = time.time() + 60
        while len(Worker.all(connection=conn)) < 2:
            if time.time() > deadline:
                raise RuntimeError("the rq workers did not register (see their logs)")
            time.sleep(0.05)

        def finish(job):
            while True:
                s = job.get_status(refresh=True)
                if s == "finished":
                    return job.result
                if s == "failed":
                    raise RuntimeError("an rq job failed")
                time.sleep(0.0005)

        for j in [q.enqueue(work.noop, i) for i in range(20)]:
            finish(j)
        walls = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            jobs = [q.enqueue(work.noop, i) for i in range(args.n)]
            ids = [j.id for j in jobs]
            while q.finished_job_registry.count + q.failed_job_registry.count < args.n:
                time.sleep(0.01)
            vals = []
            for s in range(0, args.n, 1000):
                vals += [j.result for j in Job.fetch_many(ids[s:s + 1000], connection=conn)]
            walls.append(time.perf_counter() - t0)
            assert vals == list(range(args.n)), "rq returned wrong results"
            conn.flushall()
        out["throughput"] = throughput_summary(walls, args.n)
        lat = []
        for i in range(args.latency_n):
            t0 = time.perf_counter()
            assert finish(q.enqueue(work.noop, i)) == i
            lat.append(time.perf_counter() - t0)
        # RQ has no blocking wait for a result: the client polls every 0.5 ms.
        out["latency"] = latency_summary(lat)
    finally:
        for w in workers:
            w.stop()
    return {key: out}


# ---- Dask ---------------------------------------------------------------------------------

def run_dask(args, logs):
    import distributed
    from distributed import Client, LocalCluster
    import work
    out = {"version": distributed.__version__}

    def cluster(n):
        c = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                         dashboard_address=None, silence_logs=40,
                         worker_dashboard_address=None)
        client = Client(c)
        client.wait_for_workers(n, timeout=300)
        client.gather(client.map(work.noop, range(n * 10), pure=False))
        return c, client

    c, client = cluster(2)
    try:
        walls = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            vals = client.gather(client.map(work.noop, range(args.n), pure=False))
            walls.append(time.perf_counter() - t0)
            assert vals == list(range(args.n)), "dask returned wrong results"
        out["throughput"] = throughput_summary(walls, args.n)
        lat = []
        for i in range(args.latency_n):
            t0 = time.perf_counter()
            assert client.submit(work.noop, i, pure=False).result() == i
            lat.append(time.perf_counter() - t0)
        out["latency"] = latency_summary(lat)
    finally:
        client.close()
        c.close()
    import instance
    c, client = cluster(instance.WORKERS)
    try:
        out["instance"] = run_instance(args.instance_runs, lambda ts: client.gather(
            [client.submit(work.seed_op, *t, pure=False) for t in ts]))
    finally:
        client.close()
        c.close()
    return {"dask": out}


# ---- commands -----------------------------------------------------------------------------

def run_commands(args, logs):
    n = args.commands_n
    out = {}
    true = shutil.which("true") or "/bin/true"
    runners = {"xargs": ["xargs", "-n1", "-P2", true]}
    if shutil.which("parallel"):
        runners["parallel"] = ["parallel", "--will-cite", "-j2", "-N0", true]
    else:
        say("GNU parallel is not installed; skipping it")
    feed = "".join(f"{i}\n" for i in range(n)).encode()
    for name, argv in runners.items():
        walls = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run(argv, input=feed, stdout=subprocess.DEVNULL, check=True)
            walls.append(time.perf_counter() - t0)
        out[name] = throughput_summary(walls, n)
    return out


def run_canvas(args, logs):
    """Celery's canvas, the peer of volo's workflows: a chain of no-op steps, a chord (a group
    of no-ops and a callback that receives their results), and a map (a group over a list,
    Celery having no map over an earlier result). Seconds per step, median of the runs."""
    import celery
    import celery_tasks as ct
    out = {"version": celery.__version__}
    w = Child([PY, "-m", "celery", "-A", "celery_tasks", "worker", "--pool=prefork",
               "--concurrency=2", "--loglevel=WARNING", "--without-gossip", "--without-mingle",
               "--without-heartbeat", "-Q", "volo_peers", "-n", "canvas@localhost"],
              os.path.join(logs, "celery-canvas.log"))
    try:
        deadline = time.time() + 120
        while not ct.app.control.ping(timeout=0.5):
            if time.time() > deadline or w.p.poll() is not None:
                raise RuntimeError("the celery worker did not answer (see its log)")
        chain_n, group_n = args.canvas_chain, args.canvas_group

        def timed(make, check):
            walls = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                value = make().get(timeout=1800)
                walls.append(time.perf_counter() - t0)
                check(value)
            return statistics.median(walls)

        def check_chain(v):
            assert v == 7, "celery's chain returned a wrong result"

        def check_count(v):
            assert v == group_n, "celery's chord returned a wrong count"

        def check_list(v):
            assert v == list(range(group_n)), "celery's group returned wrong results"

        wall = timed(lambda: celery.chain(ct.noop.s(7), *[ct.noop.s() for _ in range(chain_n - 1)])
                     .apply_async(), check_chain)
        out["chain"] = {"steps": chain_n, "seconds": wall, "us_per_step": wall / chain_n * 1e6}
        wall = timed(lambda: celery.chord([ct.noop.s(i) for i in range(group_n)])(ct.count.s()),
                     check_count)
        out["chord"] = {"steps": group_n + 1, "seconds": wall,
                        "us_per_step": wall / (group_n + 1) * 1e6}
        wall = timed(lambda: celery.group(ct.noop.s(i) for i in range(group_n)).apply_async(),
                     check_list)
        out["map"] = {"steps": group_n, "seconds": wall, "us_per_step": wall / group_n * 1e6}
    finally:
        w.stop()
    return {"canvas": out}


# ---- driver -------------------------------------------------------------------------------

PEERS = {
    "celery": (("celery", "redis"), run_celery),
    "rq": (("rq", "redis"), lambda a, l: run_rq(a, l, "rq.worker.Worker", "rq")),
    "rq_simple": (("rq", "redis"), lambda a, l: run_rq(a, l, "rq.worker.SimpleWorker",
                                                       "rq_simple")),
    "dask": (("distributed",), run_dask),
    "commands": ((), run_commands),
    "canvas": (("celery", "redis"), run_canvas),
}


class Redis:
    """A throw-away Redis on a free loopback port, no persistence."""

    def __init__(self, tmp):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.child = Child(["redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
                            "--save", "", "--appendonly", "no", "--dir", tmp],
                           os.path.join(tmp, "redis.log"))
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.time() > deadline or self.child.p.poll() is not None:
                    self.child.stop()
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.05)

    def stop(self):
        self.child.stop()


def importable(mod):
    r = subprocess.run([PY, "-c", f"import {mod}"], capture_output=True)
    return r.returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer tasks and runs")
    ap.add_argument("--only", default=",".join(PEERS), help="comma-separated: " + ", ".join(PEERS))
    ap.add_argument("--out", help="write the JSON here as well as to stdout")
    ap.add_argument("--peer", help=argparse.SUPPRESS)  # internal: run one peer in this process
    ap.add_argument("--logs", help=argparse.SUPPRESS)
    a = ap.parse_args()
    a.n = 2000 if a.quick else 10000
    a.runs = 1 if a.quick else 3
    a.latency_n = 200 if a.quick else 1000
    a.instance_runs = 3 if a.quick else 7
    a.commands_n = 500 if a.quick else 2000
    a.canvas_chain = 200 if a.quick else 1000
    a.canvas_group = 2000 if a.quick else 10000

    if a.peer:
        sys.path.insert(0, HERE)
        print(json.dumps(PEERS[a.peer][1](a, a.logs)))
        return 0

    want = [p for p in a.only.split(",") if p]
    unknown = [p for p in want if p not in PEERS]
    if unknown:
        ap.error("unknown peer(s): " + ", ".join(unknown))
    tmp = tempfile.mkdtemp(prefix="volo-peers-")
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    results, redis, failed = {}, None, []
    try:
        for name in want:
            mods, _ = PEERS[name]
            missing = [m for m in mods if not importable(m)]
            if missing:
                say(f"{name}: python module(s) {', '.join(missing)} missing "
                    "(scripts/install-deps --bench); skipped")
                continue
            env = dict(os.environ, PYTHONPATH=HERE, PYTHONDONTWRITEBYTECODE="1")
            if "redis" in mods:
                if redis is None:
                    if not shutil.which("redis-server"):
                        say(f"{name}: redis-server missing; skipped")
                        continue
                    redis = Redis(tmp)
                env["PEER_REDIS_URL"] = redis.url
            say(f"{name} ...")
            t0 = time.time()
            argv = [PY, os.path.abspath(__file__), "--peer", name, "--logs", logs]
            if a.quick:
                argv.append("--quick")
            r = subprocess.run(argv, env=env, cwd=HERE, capture_output=True, text=True)
            if r.returncode != 0:
                say(f"{name} failed ({r.returncode}); its logs are in {logs}\n" + r.stderr[-2000:])
                failed.append(name)
                continue
            results.update(json.loads(r.stdout.strip().splitlines()[-1]))
            say(f"{name} done in {time.time() - t0:.0f} s")
    finally:
        if redis:
            redis.stop()
    text = json.dumps(results, indent=1)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    if failed:
        say(f"failed: {', '.join(failed)}; logs kept in {logs}")
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
