"""The playground's numbers (bench/playground/run.sh): the interpreter in a headless Chromium
tab against native `volo run`, and the size of the static site. Times in the tab are the run
alone (the worker's clock around the interpreter's call; loading the module is not counted);
native times are wall-clock of the whole process. Best of 3 each."""
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


def tab_ms(driver, url, program_fragment, seed=""):
    driver.get("about:blank")  # a new fragment alone would not load the page again
    driver.get(url + "#" + program_fragment)
    wait_for(lambda: driver.execute_script("return document.body.dataset.loaded") == "true")
    if seed:
        driver.find_element(By.ID, "seed").send_keys(seed)
    times = []
    out = ""
    for _ in range(3):
        driver.find_element(By.ID, "run").click()
        wait_for(lambda: driver.find_element(By.ID, "status").get_attribute("data-ms"))
        times.append(float(driver.find_element(By.ID, "status").get_attribute("data-ms")))
        out = driver.find_element(By.ID, "output").text
    # The first run of a fresh page is the one a visitor sees: V8 compiles the module's code
    # with its baseline compiler first and optimizes it while it runs.
    return times[0], min(times), out


def native_ms(volo, *args):
    best = None
    out = ""
    for _ in range(3):
        start = time.monotonic()
        r = subprocess.run([volo, "run", *args], capture_output=True, text=True, check=True)
        ms = (time.monotonic() - start) * 1000
        out = r.stdout
        best = ms if best is None else min(best, ms)
    return best, out


def main():
    volo = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="volo-bench-playground-")
    site = os.path.join(tmp, "site")
    subprocess.run([volo, "lite", "build", site], check=True, capture_output=True)
    fib_file = os.path.join(tmp, "fib27.fly")
    with open(fib_file, "w") as f:
        f.write(FIB)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=site))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
              f"--user-data-dir={tmp}/chrome"]:
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        code = base64.urlsafe_b64encode(FIB.encode()).decode().rstrip("=")
        fib_first, fib_tab, fib_out = tab_ms(driver, url, "code=" + code)
        pi_first, pi_tab, pi_out = tab_ms(driver, url, "example=pi", seed="7")
    finally:
        driver.quit()
        server.shutdown()
    fib_native, fib_native_out = native_ms(volo, fib_file)
    pi_native, pi_native_out = native_ms(volo, os.path.join(ROOT, "examples", "pi.fly"),
                                         "--seed", "7", "--env", "local=smp:1")
    assert fib_out.strip() == fib_native_out.strip() == "196418", (fib_out, fib_native_out)
    assert pi_out.strip() == pi_native_out.strip(), (pi_out, pi_native_out)

    print("| program | tab, first run (ms) | tab, best of 3 (ms) | native `volo run` (ms) "
          "| tab best ÷ native | first ÷ native |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, first, best, native in (
            ("fib(27)", fib_first, fib_tab, fib_native),
            ("examples/pi.fly (10^6 instances; natively smp:1)", pi_first, pi_tab, pi_native)):
        print(f"| {name} | {first:.0f} | {best:.0f} | {native:.0f} | {best / native:.2f}x "
              f"| {first / native:.2f}x |")
    print()
    print("| file of `volo lite build` | bytes | gzipped |")
    print("|---|---:|---:|")
    for f in ["fly.wasm", "fly.js", "fly-mt.wasm", "fly-mt.js", "fly-mt.worker.js", "app.js",
              "worker.js", "index.html", "style.css"]:
        data = open(os.path.join(site, f), "rb").read()
        print(f"| {f} | {len(data):,} | {len(gzip.compress(data, 9)):,} |")


if __name__ == "__main__":
    main()
