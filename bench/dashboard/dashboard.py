"""The dashboard's numbers (make bench; docs/dashboard.md): the page's size, its first render on
loopback, and what an open dashboard costs a planner running the no-op throughput benchmark.

usage: dashboard.py BUILD_DIR [--runs N] [--tasks N]  prints a markdown section (--tasks: how
                                                      many tasks the task-list measurement
                                                      fills the planner with; 0 leaves it out)
       dashboard.py BUILD_DIR --screenshot OUT.png    a screenshot of a real fleet's overview
"""
import argparse
import gzip
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from fleet import Fleet, post_json, wait_for  # noqa: E402


def browser(tmp, width=1400, height=1000):
    o = webdriver.ChromeOptions()
    o.binary_location = os.environ.get("VOLO_CHROMIUM", "/usr/bin/chromium")
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              f"--window-size={width},{height}", "--no-first-run", "--disable-extensions",
              f"--user-data-dir={tempfile.mkdtemp(prefix='chrome-', dir=tmp)}"]:
        o.add_argument(a)
    return webdriver.Chrome(service=Service(os.environ.get("VOLO_CHROMEDRIVER", "/usr/bin/chromedriver")),
                            options=o)


def throughput(build, url, n=100000):
    out = subprocess.run([os.path.join(build, "volo_bench"), "throughput", url, str(n), "1000"],
                         capture_output=True, text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["tasks_per_s"]


def sizes(build):
    dist = os.path.join(build, "web", "dashboard", "dist")
    raw = gz = 0
    for root, _, files in os.walk(dist):
        for f in files:
            if f.endswith((".js", ".css")):
                data = open(os.path.join(root, f), "rb").read()
                raw += len(data)
                gz += len(gzip.compress(data, 9))
    return raw, gz


def first_render(volo, tmp, loads):
    """Milliseconds from navigation to the first live data drawn, cold (a new browser profile)
    and warm (reloads answered 304)."""
    f = Fleet(volo, tmp)
    d = None
    try:
        url = f.planner()
        f.workers(2, 4)
        d = browser(tmp)
        times = []
        for i in range(loads):
            d.get(url + "/")
            t = wait_for(lambda: d.execute_script(
                "const m = performance.getEntriesByName('volo-first-data'); return m.length && m[0].startTime"),
                30, "the first live data")
            times.append(t)
        return times[0], statistics.median(times[1:]) if len(times) > 1 else times[0]
    finally:
        if d:
            d.quit()
        f.stop()


def with_and_without(volo, build, tmp, runs):
    """The no-op throughput benchmark of make bench (2 workers of 256 slots, 100,000 tasks in
    batches of 1,000) with no page open, then with a headless Chromium on the overview, in
    alternation."""
    f = Fleet(volo, tmp)
    d = None
    try:
        url = f.planner()
        f.workers(2, 256)
        throughput(build, url, 20000)  # warm-up
        bare, open_ = [], []
        d = browser(tmp)
        for _ in range(runs):
            d.get("about:blank")
            bare.append(throughput(build, url))
            d.get(url + "/")
            wait_for(lambda: d.execute_script("return performance.getEntriesByName('volo-first-data').length"),
                     30, "the dashboard")
            open_.append(throughput(build, url))
        return statistics.median(bare), statistics.median(open_), bare, open_
    finally:
        if d:
            d.quit()
        f.stop()


def ms_of(conn, path, n=20):
    """The median and the slowest of `n` GETs of `path` on a kept-alive connection, in ms."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        body = json.loads(r.read())
        times.append((time.perf_counter() - start) * 1000)
        assert r.status == 200, body
    return statistics.median(times), max(times), body


def task_list(volo, tmp, n):
    """The task list's answer times with `n` tasks queued in the planner (no worker runs them):
    99 % add, 1 % mult. Each query is GET /api/v1/dashboard/tasks as the page sends it (50 a
    page); then the page itself: Older clicked on /tasks?op=mult, to the new rows drawn."""
    import http.client
    f = Fleet(volo, tmp)
    d = None
    try:
        url = f.planner()
        batch = [{"op": "add", "args": {"a": 1, "b": 2}}] * 990 + \
                [{"op": "mult", "args": {"a": 1, "b": 2}}] * 10
        start = time.monotonic()
        for _ in range(n // len(batch)):
            post_json(url + "/api/v1/tasks", {"tasks": batch})
        fill_s = time.monotonic() - start
        host = url.split("//")[1]
        conn = http.client.HTTPConnection(host, timeout=60)
        base = "/api/v1/dashboard/tasks?limit=50"
        rows = []
        for name, q in [("the newest page", ""),
                        ("op=mult (1 % match)", "&op=mult"),
                        ("a page half-way down (cursor)", f"&cursor={n // 2}"),
                        ("state=done (nothing matches: one answer scans its bound)", "&state=done")]:
            med, worst, body = ms_of(conn, base + q)
            rows.append((name, med, worst, len(body["tasks"]), body["scanned"]))
        conn.close()
        d = browser(tmp)
        d.get(url + "/tasks?op=mult")
        wait_for(lambda: len(d.find_elements("css selector", "#tasks tbody tr")) == 50, 60,
                 "the first page")
        clicks = []
        for _ in range(5):
            clicks.append(d.execute_async_script("""
                const done = arguments[arguments.length - 1];
                const body = document.querySelector('#tasks tbody');
                const first = body.firstElementChild.dataset.task;
                const t = performance.now();
                const seen = new MutationObserver(() => {
                  if (body.firstElementChild && body.firstElementChild.dataset.task !== first) {
                    seen.disconnect();
                    requestAnimationFrame(() => done(performance.now() - t));
                  }
                });
                seen.observe(body, {childList: true, subtree: true});
                document.querySelector('#older').click();"""))
        return fill_s, rows, statistics.median(clicks), max(clicks)
    finally:
        if d:
            d.quit()
        f.stop()


def screenshot(volo, tmp, out):
    """The overview and the task stream of a `volo up` fleet under a mixed load."""
    f = Fleet(volo, tmp)
    d = None
    stop = threading.Event()
    try:
        up = f.spawn(["up", "--workers", "3", "--mult", "2", "--add", "1", "--slots", "2",
                      "--tasks", "0", "--duration-scale", "0.04"], stdout=subprocess.PIPE)
        url = None
        while url is None:
            line = up.stdout.readline()
            if not line:
                raise RuntimeError("volo up ended")
            if "dashboard at " in line:
                url = line.split("dashboard at ")[1].strip().rstrip("/")
        rng = random.Random(7)

        def load():
            while not stop.is_set():
                tasks = [{"op": rng.choice(["add", "mult", "mult"]), "args": {"a": rng.randint(1, 9), "b": rng.randint(1, 9)}}
                         for _ in range(rng.randint(2, 9))]
                batches = [tasks]
                if rng.random() < 0.1:  # a task that fails, for the failures table
                    batches.append([{"op": "mult", "args": {"a": 1, "b": 2}, "timeout": 0.02}])
                for b in batches:
                    try:
                        post_json(url + "/api/v1/tasks", {"tasks": b}, timeout=60)
                    except Exception:
                        pass
                stop.wait(0.35)
        t = threading.Thread(target=load, daemon=True)
        t.start()
        d = browser(tmp, 1400, 1050)
        d.get(url + "/")
        time.sleep(45)  # the charts fill: a picture, not a measurement
        d.save_screenshot(out)
        d.get(url + "/stream")
        time.sleep(3)
        d.save_screenshot(out.replace(".png", "-stream.png"))
    finally:
        stop.set()
        if d:
            d.quit()
        f.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=1_000_000)
    ap.add_argument("--screenshot")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    volo = os.path.join(build, "volo")
    tmp = tempfile.mkdtemp(prefix="volo-dash-bench-")
    try:
        if a.screenshot:
            screenshot(volo, tmp, os.path.abspath(a.screenshot))
            return
        raw, gz = sizes(build)
        cold, warm = first_render(volo, tmp, 6)
        bare, opened, bare_runs, open_runs = with_and_without(volo, build, tmp, a.runs)
        print("| dashboard | value |")
        print("|---|---|")
        print(f"| JavaScript + CSS | {raw / 1024:.0f} KiB, **{gz / 1024:.0f} KiB gzipped** (goal ≤ 300 KB) |")
        print(f"| first render on loopback (navigation to the first live data drawn) | **{cold:.0f} ms** cold, {warm:.0f} ms warm (304s) |")
        print(f"| no-op throughput, no page open | {bare:,.0f} tasks/s (runs: {', '.join(f'{x:,.0f}' for x in bare_runs)}) |")
        print(f"| no-op throughput, headless Chromium on the overview | {opened:,.0f} tasks/s (runs: {', '.join(f'{x:,.0f}' for x in open_runs)}) |")
        print(f"| with ÷ without | **{opened / bare:.3f}** (goal ≥ 0.95) |")
        if a.tasks:
            fill_s, rows, click_med, click_max = task_list(volo, tmp, a.tasks)
            print()
            print(f"The task list with {a.tasks:,} tasks in the planner (submitted in "
                  f"{fill_s:.0f} s; 20 requests each):")
            print()
            print("| GET /api/v1/dashboard/tasks, 50 a page | median | slowest | rows | tasks scanned |")
            print("|---|---:|---:|---:|---:|")
            for name, med, worst, n_rows, scanned in rows:
                print(f"| {name} | {med:.1f} ms | {worst:.1f} ms | {n_rows} | {scanned:,} |")
            print(f"| the page: Older clicked on /tasks?op=mult, to the next 50 rows drawn "
                  f"| {click_med:.0f} ms | {click_max:.0f} ms | 50 | |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
