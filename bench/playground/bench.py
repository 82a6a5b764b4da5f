"""The playground's numbers (bench/playground/run.sh): the interpreter in a headless Chromium
tab against native `volo run`, and the size of the static site.

Tab: the page is loaded LOADS times, each time from a new origin (a new port, so the browser's
cache of compiled WebAssembly never helps: every load is a first visit), and the program is run
three times on each, starting when the page's warm-up has ended (web/playground/src/worker.ts).
A time is the run alone: the worker's clock around the interpreter's call. Reported: every
load's first run (the one a visitor sees), the slowest of them, and the best run of all.

Native: fib(27) is timed inside the program (FIB_TIMED: FLY's time() around each of 5 calls,
millisecond resolution), in 3 `volo run` processes, so a process's start and exit are not
counted, as the tab's clock does not count loading; the best of the 15 is the native time.
examples/pi.fly runs for seconds: its native time is the process's, best of 5, less the best of
5 of a program that prints one line (both printed)."""
import functools
import gzip
import http.server
import os
import subprocess
import sys
import tempfile
import threading
import time
import base64

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIB = """func fib(n) {
    if (n < 2) { return n }
    return fib(n - 1) + fib(n - 2)
}
println fib(27)
"""
FIB_TIMED = FIB.replace("println fib(27)\n", """for k in [0:5] {
    var t = time()
    var r = fib(27)
    println time(t)
}
""")


class Quiet(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".wasm": "application/wasm", ".js": "text/javascript"}

    def log_message(self, *args):
        pass


def wait_for(cond, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except Exception:
            pass
        time.sleep(0.02)
    raise SystemExit("bench/playground: timed out")


LOADS = 3


def serve(site):
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=site))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def tab_ms(driver, site, program_fragment, seed=""):
    """(first runs of each load, best run of all, output, warm-up ms of each load)"""
    firsts, best, warm_ms, out = [], None, [], ""
    for _ in range(LOADS):
        server = serve(site)  # a new origin: nothing compiled comes from the browser's cache
        try:
            driver.get("about:blank")
            driver.get(f"http://127.0.0.1:{server.server_address[1]}/#{program_fragment}")
            wait_for(lambda: driver.execute_script("return document.body.dataset.loaded") == "true")
            warm = wait_for(lambda: driver.execute_script("return document.body.dataset.warm"))
            warm_ms.append(float(driver.execute_script("return document.body.dataset.warmMs")))
            if warm != "optimized":
                print(f"bench/playground: the warm-up stopped at its time limit ({warm})",
                      file=sys.stderr)
            if seed:
                driver.find_element(By.ID, "seed").send_keys(seed)
            for k in range(3):
                driver.find_element(By.ID, "run").click()
                wait_for(lambda: driver.find_element(By.ID, "status").get_attribute("data-ms"))
                ms = float(driver.find_element(By.ID, "status").get_attribute("data-ms"))
                if k == 0:
                    firsts.append(ms)
                best = ms if best is None else min(best, ms)
                out = driver.find_element(By.ID, "output").text
        finally:
            server.shutdown()
    return firsts, best, out, warm_ms


def process_ms(volo, *args, runs=5):
    best = None
    out = ""
    for _ in range(runs):
        start = time.monotonic()
        r = subprocess.run([volo, "run", *args], capture_output=True, text=True, check=True)
        ms = (time.monotonic() - start) * 1000
        out = r.stdout
        best = ms if best is None else min(best, ms)
    return best, out


def native_fib_ms(volo, path, processes=3):
    times = []
    for _ in range(processes):
        r = subprocess.run([volo, "run", path], capture_output=True, text=True, check=True)
        times += [float(x) for x in r.stdout.split()]
    return times


def main():
    volo = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="volo-bench-playground-")
    site = os.path.join(tmp, "site")
    subprocess.run([volo, "lite", "build", site], check=True, capture_output=True)
    fib_file = os.path.join(tmp, "fib27.fly")
    with open(fib_file, "w") as f:
        f.write(FIB)
    fib_timed_file = os.path.join(tmp, "fib27_timed.fly")
    with open(fib_timed_file, "w") as f:
        f.write(FIB_TIMED)

    empty_file = os.path.join(tmp, "empty.fly")
    with open(empty_file, "w") as f:
        f.write("println 1\n")
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
              f"--user-data-dir={tmp}/chrome"]:
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        code = base64.urlsafe_b64encode(FIB.encode()).decode().rstrip("=")
        fib_firsts, fib_tab, fib_out, fib_warm = tab_ms(driver, site, "code=" + code)
        pi_firsts, pi_tab, pi_out, pi_warm = tab_ms(driver, site, "example=pi", seed="7")
    finally:
        driver.quit()
    start_ms, _ = process_ms(volo, empty_file)
    _, fib_native_out = process_ms(volo, fib_file, runs=1)
    fib_native = native_fib_ms(volo, fib_timed_file)
    pi_process, pi_native_out = process_ms(volo, os.path.join(ROOT, "examples", "pi.fly"),
                                           "--seed", "7", "--env", "local=smp:1")
    assert fib_out.strip() == fib_native_out.strip() == "196418", (fib_out, fib_native_out)
    assert pi_out.strip() == pi_native_out.strip(), (pi_out, pi_native_out)

    warm = fib_warm + pi_warm
    load = os.getloadavg()[0]
    print(f"Tab: {LOADS} loads each from a new origin, 3 runs a load, started once the page's "
          f"warm-up ended ({min(warm):.0f}-{max(warm):.0f} ms after the module loaded). Native "
          f"fib(27): timed inside the program, best of 15 in 3 processes (all: "
          f"{', '.join(f'{x:.0f}' for x in fib_native)}); pi: the process, best of 5, less "
          f"{start_ms:.0f} ms for a process that prints one line. Load average {load:.2f} on "
          f"{os.cpu_count()} CPUs.")
    print()
    print("| program | tab, first run of each load (ms) | tab, best (ms) | native, best (ms) "
          "| slowest first run ÷ native | best ÷ native |")
    print("|---|---:|---:|---:|---:|---:|")
    pi_native = max(pi_process - start_ms, 1.0)
    for name, firsts, best, native, note in (
            ("fib(27)", fib_firsts, fib_tab, max(min(fib_native), 1.0), ""),
            ("examples/pi.fly (10^6 instances; natively smp:1)", pi_firsts, pi_tab, pi_native,
             f" ({pi_process:.0f} as a process)")):
        print(f"| {name} | {', '.join(f'{x:.0f}' for x in firsts)} | {best:.0f} "
              f"| {native:.0f}{note} | **{max(firsts) / native:.2f}x** | {best / native:.2f}x |")
    print()
    print("| file of `volo lite build` | bytes | gzipped |")
    print("|---|---:|---:|")
    for f in ["fly.wasm", "fly.js", "fly-mt.wasm", "fly-mt.js", "fly-mt.worker.js", "app.js",
              "worker.js", "index.html", "style.css"]:
        data = open(os.path.join(site, f), "rb").read()
        print(f"| {f} | {len(data):,} | {len(gzip.compress(data, 9)):,} |")


if __name__ == "__main__":
    main()
