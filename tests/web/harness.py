"""Real volo processes and a headless Chromium for the dashboard's browser tests.

Every child runs in its own process group with its output in a log file under the test's output
directory, and is killed by pid when the test ends. Waiting is always "poll a condition until a
deadline" (wait_for), never a fixed pause. On failure the test keeps a screenshot, the page's HTML
and every child's log in its output directory and prints the logs.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

VOLO = os.environ.get("VOLO_BINARY", "volo")
PATIENCE = float(os.environ.get("VOLO_TEST_PATIENCE", "1"))


def wait_for(cond, timeout=20.0, what="a condition", interval=0.05):
    """Calls cond() until it returns something truthy or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout * PATIENCE
    last_error = None
    while True:
        try:
            v = cond()
            if v:
                return v
        except Exception as e:  # the page may be between renders
            last_error = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}" + (f" (last error: {last_error})" if last_error else ""))
        time.sleep(interval)


class Child:
    def __init__(self, name, args, out_dir, env=None):
        self.name = name
        self.log_path = os.path.join(out_dir, f"{name}.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


class BrowserTest(unittest.TestCase):
    """Starts planners, workers and a browser; cleans all of them up."""

    def setUp(self):
        self.out = os.environ.get("VOLO_TEST_OUT") or tempfile.mkdtemp(prefix="volo-web-")
        shutil.rmtree(self.out, ignore_errors=True)
        os.makedirs(self.out)
        self.tmp = tempfile.mkdtemp(prefix="volo-web-")
        self.children = []
        self.token = None
        self._driver = None

    def tearDown(self):
        failed = self._failed()
        if failed and self._driver:
            try:
                self._driver.save_screenshot(os.path.join(self.out, "failure.png"))
                with open(os.path.join(self.out, "failure.html"), "w") as f:
                    f.write(self._driver.page_source)
                for entry in self._driver.get_log("browser"):
                    print("browser console:", entry)
            except Exception as e:
                print("no screenshot:", e)
        if self._driver:
            self._driver.quit()
        for c in reversed(self.children):
            c.stop()
        if failed:
            print(f"screenshot and logs in {self.out}")
            for c in self.children:
                print(f"----- {c.name} ({c.log_path})\n{c.output()}")
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _failed(self):
        outcome = getattr(self, "_outcome", None)
        if outcome is None:
            return False
        result = getattr(outcome, "result", None)
        if result is not None and hasattr(result, "failures"):
            mine = [t for t, _ in result.failures + result.errors if t is self]
            if mine:
                return True
        errors = getattr(outcome, "errors", None) or []
        return any(exc for _, exc in errors)

    # ---- processes ----
    def spawn(self, name, args, env=None):
        c = Child(name, [VOLO] + args, self.out, env)
        self.children.append(c)
        return c

    def planner(self, token=None, join=None, extra=()):
        port_file = os.path.join(self.tmp, "planner.port")
        args = ["planner", "--port", "0", "--port-file", port_file, "--log-level", "info", *extra]
        if token:
            self.token = token
            with open(os.path.join(self.tmp, "token"), "w") as f:
                f.write(token)
            with open(os.path.join(self.tmp, "join"), "w") as f:
                f.write(join)
            args += ["--token-file", os.path.join(self.tmp, "token"),
                     "--join-token-file", os.path.join(self.tmp, "join")]
        self.planner_child = self.spawn("planner", args)
        def port():
            with open(port_file) as f:
                return f.read().strip()
        port = wait_for(port, 30, "the planner's port file")
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def worker(self, wid, ops="add,mult", slots=2, scale="0.02", join=None, extra=()):
        args = ["worker", "--planner", self.url, "--id", wid, "--ops", ops, "--slots", str(slots),
                "--port", "-1", "--duration-scale", scale, "--log-level", "info", *extra]
        if join:
            path = os.path.join(self.tmp, "join")
            args += ["--join-token-file", path]
        return self.spawn(f"worker-{wid}", args)

    # ---- the API ----
    def api(self, method, path, body=None):
        req = urllib.request.Request(self.url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
        if body is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{method} {path}: {e.code} {e.read()!r}")

    def live_workers(self):
        return {w["id"] for w in self.api("GET", "/api/v1/workers")["workers"] if w["state"] != "gone"}

    # ---- the browser ----
    @property
    def driver(self):
        if not self._driver:
            o = webdriver.ChromeOptions()
            o.binary_location = os.environ.get("VOLO_CHROMIUM", "/usr/bin/chromium")
            for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                      "--window-size=1400,1000", "--no-first-run", "--disable-extensions",
                      f"--user-data-dir={os.path.join(self.tmp, 'chrome')}"]:
                o.add_argument(a)
            o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
            service = Service(os.environ.get("VOLO_CHROMEDRIVER", "/usr/bin/chromedriver"),
                              log_output=os.path.join(self.out, "chromedriver.log")) \
                if "log_output" in Service.__init__.__code__.co_varnames else \
                Service(os.environ.get("VOLO_CHROMEDRIVER", "/usr/bin/chromedriver"),
                        log_path=os.path.join(self.out, "chromedriver.log"))
            self._driver = webdriver.Chrome(service=service, options=o)
        return self._driver

    def open(self, path="/"):
        self.driver.get(self.url + path)

    def css(self, selector):
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def text_of(self, selector):
        els = self.css(selector)
        return els[0].text if els else None

    def click(self, selector):
        """Clicks the first element matching selector once there is one. The live views re-render
        their tables as updates arrive, so an element found a moment ago can be gone (stale) when
        clicked: find and click again until the click lands, within wait_for's deadline."""
        def once():
            els = self.css(selector)
            if not els:
                return False
            els[0].click()
            return True
        wait_for(once, what=f"a click on {selector}")
