"""Browser tests of the FLY playground (label `browser`), in Debian's headless Chromium.

The site under test is what a user deploys: `volo lite build OUT/` writes it, and a plain static
file server started here on an ephemeral loopback port serves it (no volo process involved). One
test instead opens a real planner's own /playground/.

Waiting is always "poll a condition until a deadline", never a fixed pause. Children run in
their own process groups, are killed by pid, and their logs are printed when a test fails; a
failing test also leaves a screenshot and the page's HTML in its output directory.

Run one: /usr/bin/python3 tests/web/playground_test.py PlaygroundTest.test_PiEstimate
(VOLO_BINARY, VOLO_CHROMIUM, VOLO_CHROMEDRIVER and VOLO_TEST_OUT come from ctest).
"""
import base64
import functools
import http.server
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Child  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VOLO = os.environ.get("VOLO_BINARY", os.path.join(ROOT, "build", "release", "volo"))
PATIENCE = float(os.environ.get("VOLO_TEST_PATIENCE", "1"))


def wait_for(cond, timeout=30.0, what="a condition", interval=0.05):
    """harness.wait_for with the playground's longer default (a page compiles WebAssembly)."""
    return harness.wait_for(cond, timeout, what, interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".wasm": "application/wasm", ".js": "text/javascript",
                      ".fly": "text/plain; charset=utf-8"}

    def log_message(self, *args):
        pass


def encode_program(text):
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


class PlaygroundTest(unittest.TestCase):
    def setUp(self):
        self.out = os.environ.get("VOLO_TEST_OUT") or tempfile.mkdtemp(prefix="volo-pg-")
        shutil.rmtree(self.out, ignore_errors=True)
        os.makedirs(self.out)
        self.tmp = tempfile.mkdtemp(prefix="volo-pg-")
        self.children = []
        self.server = None
        self.driver = None

    def tearDown(self):
        failed = self._failed()
        if self.driver is not None:
            if failed:
                try:
                    self.driver.save_screenshot(os.path.join(self.out, "screenshot.png"))
                    with open(os.path.join(self.out, "page.html"), "w") as f:
                        f.write(self.driver.page_source)
                    print(f"screenshot and page: {self.out}", file=sys.stderr)
                except Exception as e:  # the browser itself may be what failed
                    print(f"no screenshot: {e}", file=sys.stderr)
            self.driver.quit()
        for c in self.children:
            c.stop()
            if failed:
                print(f"---- {c.name} ----\n{c.output()}", file=sys.stderr)
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _failed(self):
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is None:
            return True
        return any(t is self for t, _ in result.errors + result.failures)

    # ---- the site, the browser, the page ----

    def build_site(self):
        if os.environ.get("VOLO_PLAYGROUND_SITE"):  # a site built some other way (development)
            return os.environ["VOLO_PLAYGROUND_SITE"]
        site = os.path.join(self.tmp, "site")
        r = subprocess.run([VOLO, "lite", "build", site], capture_output=True, text=True,
                           timeout=60 * PATIENCE)
        self.assertEqual(r.returncode, 0, f"volo lite build failed:\n{r.stdout}{r.stderr}")
        for f in ["index.html", "app.js", "worker.js", "fly.js", "fly.wasm",
                  "examples/pi.fly", "examples/index.json"]:
            self.assertTrue(os.path.isfile(os.path.join(site, f)), f"{f} missing from {site}")
        return site

    def serve(self, site):
        handler = functools.partial(QuietHandler, directory=site)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def browser(self):
        opts = webdriver.ChromeOptions()
        opts.binary_location = os.environ.get("VOLO_CHROMIUM", "/usr/bin/chromium")
        for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                  "--window-size=1280,900", f"--user-data-dir={self.tmp}/chrome"]:
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(os.environ.get("VOLO_CHROMEDRIVER", "/usr/bin/chromedriver"))
        self.driver = webdriver.Chrome(service=service, options=opts)
        return self.driver

    def console_errors(self):
        """The browser console's errors since the last call (a JavaScript error, a failed load)."""
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def editor_text(self):
        return self.driver.execute_script("return document.querySelector('.cm-content').innerText")

    def open(self, url):
        d = self.driver or self.browser()
        d.get(url)
        wait_for(lambda: d.execute_script("return document.body.dataset.loaded") == "true",
                 what="the playground to load")
        return d

    def el(self, id_):
        return self.driver.find_element(By.ID, id_)

    def run_program(self, timeout=60.0):
        """Clicks Run and waits for the run to end; returns (exit status text, output text)."""
        wait_for(lambda: self.el("run").is_enabled(), what="Run to be enabled")
        self.el("run").click()
        wait_for(lambda: self.el("status").get_attribute("data-exit") is not None,
                 timeout=timeout, what="the program to end")
        return self.el("status").get_attribute("data-exit"), self.el("output").text

    def set_seed(self, seed):
        box = self.el("seed")
        box.clear()
        box.send_keys(str(seed))

    def native(self, *args):
        r = subprocess.run([VOLO, "run", *args], capture_output=True, text=True,
                           timeout=120 * PATIENCE, cwd=ROOT)
        return r.returncode, r.stdout

    # ---- the tests ----

    def test_PiEstimate(self):
        """examples/pi.fly, the default example of the static build, estimates pi."""
        d = self.open(self.serve(self.build_site()))
        self.assertIn("fly pi in [0:1000000] on local thenall estimation",
                      d.execute_script("return document.querySelector('.cm-content').innerText"))
        code, out = self.run_program(timeout=120)
        self.assertEqual(code, "0", out)
        # A static host without COOP/COEP headers: one thread.
        self.assertEqual(d.execute_script("return document.body.dataset.threads"), "one-thread")
        m = re.search(r"pi estimation: ([0-9.]+)", out)
        self.assertIsNotNone(m, out)
        self.assertLess(abs(float(m.group(1)) - math.pi), 0.01, out)

    def test_SameAnswerAsNativeForASeed(self):
        """smp runs one instance at a time in the tab; the answer for a seed is volo run's."""
        url = self.serve(self.build_site())
        for example in ["pi", "onemax", "temperature", "wordcount"]:
            d = self.open(f"{url}#example={example}")
            self.set_seed(7)
            code, out = self.run_program(timeout=120)
            self.assertEqual(code, "0", f"{example}: {out}")
            native_code, native_out = self.native(f"examples/{example}.fly", "--seed", "7")
            self.assertEqual(native_code, 0, native_out)
            self.assertEqual(out.strip(), native_out.strip(), example)
            d.get("about:blank")

    def test_ErrorMarkAtItsLine(self):
        """A runtime error and a compile error each mark their line in the editor."""
        url = self.serve(self.build_site())
        runtime_error = 'var x = 1\nprintln "before"\nvar y = x + "b" * 2\nprintln "after"\n'
        self.open(f"{url}#code={encode_program(runtime_error)}")
        code, out = self.run_program()
        self.assertEqual(code, "1", out)
        self.assertIn("before", out)
        self.assertNotIn("after", out)
        self.assertIn("main.fly:3:17:", out)
        self.assert_marked(3)

        compile_error = "var a = 1\n\nfunc f( {\n  return 2\n}\n"
        self.open(f"{url}#code={encode_program(compile_error)}")
        code, out = self.run_program()
        self.assertEqual(code, "1", out)
        self.assert_marked(3)

    def assert_marked(self, line):
        d = self.driver
        marked = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, ".cm-fly-error-line"),
                          what=f"an error mark on line {line}")
        self.assertEqual([m.get_attribute("data-error-line") for m in marked], [str(line)])
        # The mark is on the editor's line `line` as the reader sees it.
        lines = d.find_elements(By.CSS_SELECTOR, ".cm-content > .cm-line")
        self.assertIn("cm-fly-error-line", lines[line - 1].get_attribute("class"))
        items = d.find_elements(By.CSS_SELECTOR, "#diagnostics li")
        self.assertTrue(items and items[0].get_attribute("data-line") == str(line),
                        [i.text for i in items])

    def test_OutputStreamsAndStopStops(self):
        """Lines show while the program runs; Stop ends an endless program; Run works again."""
        url = self.serve(self.build_site())
        program = ('println "started"\nvar n = 0\nwhile (true) {\n  n += 1\n'
                   '  if (n % 2000000 == 0) {\n    println "tick " + n\n  }\n}\n')
        self.open(f"{url}#code={encode_program(program)}")
        self.el("run").click()
        wait_for(lambda: "tick 4000000" in self.el("output").text, what="streamed output")
        self.assertIsNone(self.el("status").get_attribute("data-exit"))  # still running
        self.el("stop").click()
        wait_for(lambda: self.el("status").get_attribute("data-exit") == "stopped",
                 what="the program to stop")
        d = self.driver
        d.execute_script("location.hash = arguments[0]; location.reload()",
                         "code=" + encode_program('println "again"\n'))
        wait_for(lambda: d.execute_script("return document.body.dataset.loaded") == "true",
                 what="reload")
        code, out = self.run_program()
        self.assertEqual((code, out.strip()), ("0", "again"))

    def test_ExampleMenuAndHighlighting(self):
        """An example is one click away in the menu; the editor colours FLY's syntax."""
        from selenium.webdriver.support.ui import Select
        d = self.open(self.serve(self.build_site()))
        Select(self.el("examples")).select_by_value("sum_indices")
        with open(os.path.join(ROOT, "examples", "sum_indices.fly")) as f:
            first_code_line = "var local = [type=\"smp\", nthread=4]"
            self.assertIn(first_code_line, f.read())
        wait_for(lambda: first_code_line in d.execute_script(
            "return document.querySelector('.cm-content').innerText"), what="the example in the editor")
        self.assertTrue(d.current_url.endswith("#example=sum_indices"), d.current_url)
        # Each kind of token has its own colour, unlike plain text (the line's colour).
        colours = d.execute_script("""
            const plain = getComputedStyle(document.querySelector('.cm-line')).color;
            const of = (text) => {
              for (const s of document.querySelectorAll('.cm-content .cm-line span')) {
                if (s.textContent === text) return getComputedStyle(s).color;
              }
              return null;
            };
            return {plain, keyword: of('func'), string: of('"smp"'), number: of('100'),
                    comment: of('//   volo run examples/sum_indices.fly')};""")
        for kind in ["keyword", "string", "number", "comment"]:
            self.assertIsNotNone(colours[kind], f"no {kind} token coloured: {colours}")
            self.assertNotEqual(colours[kind], colours["plain"], f"{kind}: {colours}")
        self.assertNotEqual(colours["keyword"], colours["string"], colours)
        code, out = self.run_program()
        self.assertEqual((code, out.strip()), ("0", "sum of indices: 4950"))

    def test_ShareLinkCarriesTheProgram(self):
        """Share puts the program in the URL fragment; opening the link restores it."""
        url = self.serve(self.build_site())
        d = self.open(f"{url}#example=sum_indices")
        program = d.execute_script("return document.querySelector('.cm-content').innerText")
        self.el("share").click()
        link = wait_for(lambda: self.el("share-link").get_attribute("value"), what="the link")
        self.assertIn("#code=", link)
        d.get("about:blank")
        self.open(link)
        self.assertEqual(
            d.execute_script("return document.querySelector('.cm-content').innerText"), program)
        # With a seed and a binding set, the link carries them too (the same answer for all).
        self.set_seed(7)
        self.el("env").send_keys("local=smp:2")
        self.el("share").click()
        link = wait_for(lambda: "seed=7" in (self.el("share-link").get_attribute("value") or "")
                        and self.el("share-link").get_attribute("value"), what="the new link")
        d.get("about:blank")
        self.open(link)
        self.assertEqual(self.el("seed").get_attribute("value"), "7")
        self.assertEqual(self.el("env").get_attribute("value"), "local=smp:2")
        self.assertEqual(self.editor_text(), program)


    def test_StaticSiteLoadsAndRunsWithoutConsoleErrors(self):
        """On a static host the page asks no API (no 404 in the console) and offers no fleet."""
        url = self.serve(self.build_site())
        self.open(f"{url}#example=sum_indices")
        code, out = self.run_program()
        self.assertEqual((code, out.strip()), ("0", "sum of indices: 4950"))
        self.assertFalse(self.el("fleet-switch").is_displayed())
        self.assertEqual(self.console_errors(), [])

    def test_LinkPastedIntoTheSameTabLoadsItsProgram(self):
        """Only the fragment changes (no page load): the page reads the program again; a link
        it cannot read says so."""
        url = self.serve(self.build_site())
        d = self.open(f"{url}#example=sum_indices")
        d.execute_script("window.__sameDocument = true")
        d.get(f"{url}#code={encode_program('println 6 * 7')}")
        wait_for(lambda: self.editor_text().strip() == "println 6 * 7", what="the pasted program")
        self.assertTrue(d.execute_script("return window.__sameDocument === true"), "a page load")
        code, out = self.run_program()
        self.assertEqual((code, out.strip()), ("0", "42"))
        d.get(f"{url}#example=nope")
        wait_for(lambda: "no example named 'nope'" in self.el("status").text,
                 what="the status to name the missing example")
        self.assertIn("fly pi in [0:1000000]", self.editor_text())
        d.get(f"{url}#code=%%%")
        wait_for(lambda: "not base64url" in self.el("status").text, what="an unreadable link")
        self.assertEqual(self.console_errors(), [])

    def test_EnvBindsAnEnvironmentAsVoloRunDoes(self):
        """pi_slides declares an "azure" environment: the page says so and fills the Env box
        with the binding volo run asks for; with it, the answer is volo run's for the seed."""
        url = self.serve(self.build_site())
        self.open(f"{url}#example=pi_slides")
        self.set_seed(7)
        code, out = self.run_program()
        self.assertEqual(code, "2", out)
        self.assertIn("bind it at launch with --env cloud=smp:N", out)
        self.assertEqual(self.el("env").get_attribute("value"), "cloud=smp:4")
        self.assertIn("Env set to cloud=smp:4", self.el("status").text)
        code, out = self.run_program(timeout=120)
        self.assertEqual(code, "0", out)
        native_code, native_out = self.native("examples/pi_slides.fly", "--seed", "7",
                                              "--env", "cloud=smp:4")
        self.assertEqual(native_code, 0, native_out)
        self.assertEqual(out.strip(), native_out.strip())
        # A binding the interpreter cannot take is its own error, as volo run's.
        box = self.el("env")
        box.clear()
        box.send_keys("cloud=gpu:9")
        code, out = self.run_program()
        self.assertNotEqual(code, "0", out)
        self.assertIn("cloud=gpu:9", out)

    def test_LiteBuildWritesTheSiteAndRefusesAFile(self):
        """volo lite build writes every file again over an older build; a file as OUT is an error."""
        site = os.path.join(self.tmp, "site")
        os.makedirs(os.path.join(site, "examples"))
        with open(os.path.join(site, "index.html"), "w") as f:
            f.write("old")
        with open(os.path.join(site, "mine.txt"), "w") as f:
            f.write("kept")
        r = subprocess.run([VOLO, "lite", "build", site], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("python3 -m http.server", r.stdout)
        with open(os.path.join(site, "index.html")) as f:
            self.assertIn("FLY playground", f.read())
        with open(os.path.join(site, "mine.txt")) as f:
            self.assertEqual(f.read(), "kept")
        r = subprocess.run([VOLO, "lite", "build", os.path.join(site, "mine.txt")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not a directory", r.stderr)

    def test_PlannerServesIt(self):
        """A planner serves the same playground at /playground/, to anyone, beside its API."""
        port_file = os.path.join(self.tmp, "planner.port")
        token_file = os.path.join(self.tmp, "token")
        with open(token_file, "w") as f:
            f.write("s3cret")
        self.children.append(Child("planner", [VOLO, "planner", "--port", "0", "--port-file",
                                               port_file, "--token-file", token_file,
                                               "--log-level", "info"], self.out))
        port = wait_for(lambda: open(port_file).read().strip(), what="the planner's port file")
        base = f"http://127.0.0.1:{port}"
        # No token for the pages; the API still wants one.
        with urllib.request.urlopen(f"{base}/playground", timeout=10) as r:  # follows the 301
            self.assertEqual(r.url, f"{base}/playground/")
            self.assertIn("FLY playground", r.read().decode())
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{base}/api/v1/status", timeout=10)
        self.assertEqual(e.exception.code, 401)

        self.open(f"{base}/playground/#example=pi")
        self.set_seed(7)
        code, out = self.run_program(timeout=120)
        self.assertEqual(code, "0", out)
        native_code, native_out = self.native("examples/pi.fly", "--seed", "7")
        self.assertEqual(native_code, 0, native_out)
        self.assertEqual(out.strip(), native_out.strip())

    # ---- "run on this fleet": the page a planner serves, its flies on the planner's workers ----

    def start_fleet(self, token=None, workers=2):
        """A planner (with API and join tokens when `token`) and `workers` fly workers."""
        port_file = os.path.join(self.tmp, "planner.port")
        args = [VOLO, "planner", "--port", "0", "--port-file", port_file, "--log-level", "info"]
        worker_extra = []
        if token:
            self.token = token
            for name, value in [("token", token), ("join", "j0in")]:
                with open(os.path.join(self.tmp, name), "w") as f:
                    f.write(value)
            args += ["--token-file", os.path.join(self.tmp, "token"),
                     "--join-token-file", os.path.join(self.tmp, "join")]
            worker_extra = ["--join-token-file", os.path.join(self.tmp, "join")]
        self.children.append(Child("planner", args, self.out))
        def read_port():
            with open(port_file) as f:
                return f.read().strip()
        port = wait_for(read_port, what="the planner's port file")
        self.base = f"http://127.0.0.1:{port}"
        for k in range(workers):
            self.children.append(Child(f"worker-w{k + 1}", [
                VOLO, "worker", "--planner", self.base, "--id", f"w{k + 1}", "--ops", "fly",
                "--slots", "2", "--port", "-1", "--log-level", "info", *worker_extra], self.out))
        wait_for(lambda: len([w for w in self.api("GET", "/api/v1/workers")["workers"]
                              if w["state"] == "live"]) == workers,
                 what=f"{workers} fly workers to join")
        return self.base

    def api(self, method, path):
        req = urllib.request.Request(self.base + path, method=method)
        if getattr(self, "token", None):
            req.add_header("Authorization", "Bearer " + self.token)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def fly_tasks(self):
        return self.api("GET", "/api/v1/tasks?op=fly&limit=10000")["tasks"]

    def switch_to_fleet(self, on=True):
        wait_for(lambda: self.el("fleet-switch").is_displayed(), what="the fleet switch")
        if self.el("fleet").is_selected() != on:
            self.el("fleet").click()

    def test_RunsOnTheFleet(self):
        """With the switch on, pi.fly's flies run on the planner's two fly workers, with the answer
        of `volo run --seed` and of the tab; chunks' output reaches the page as printed."""
        base = self.start_fleet()
        native_code, native_out = self.native("examples/pi.fly", "--seed", "7")
        self.assertEqual(native_code, 0, native_out)

        self.open(f"{base}/playground/#example=pi")
        self.set_seed(7)
        code, tab_out = self.run_program(timeout=120)  # the switch off: in the tab
        self.assertEqual(code, "0", tab_out)
        self.assertEqual(self.fly_tasks(), [])

        self.switch_to_fleet()
        tab_ms = float(self.el("status").get_attribute("data-ms"))
        code, fleet_out = self.run_program(timeout=300)
        self.assertEqual(code, "0", fleet_out)
        print(f"pi.fly --seed 7: {tab_ms:.0f} ms in the tab, "
              f"{float(self.el('status').get_attribute('data-ms')):.0f} ms on the fleet",
              file=sys.stderr)
        self.assertEqual(fleet_out.strip(), native_out.strip())
        self.assertEqual(fleet_out.strip(), tab_out.strip())
        chunks = self.fly_tasks()
        self.assertGreater(len(chunks), 1)
        self.assertTrue(all(t["state"] == "done" for t in chunks), chunks)
        self.assertEqual({t["worker"] for t in chunks}, {"w1", "w2"})
        self.assertEqual(self.el("status").get_attribute("data-chunks"), str(len(chunks)))

        # What instances print on the workers shows on the page, whole lines and an
        # unterminated last piece alike.
        program = ('var pool = [type="smp", nthread=4]\n'
                   'func hello(i) {\n    println "hello from instance " + i\n'
                   '    if (i == 3) {\n        print "no newline"\n    }\n}\n'
                   'fly hello in [0:4] on pool\nprintln ""\nprintln "end"\n')
        self.driver.execute_script("location.hash = arguments[0]; location.reload()",
                                   "code=" + encode_program(program))
        wait_for(lambda: self.driver.execute_script("return document.body.dataset.loaded") == "true",
                 what="reload")
        self.switch_to_fleet()
        code, out = self.run_program(timeout=120)
        self.assertEqual(code, "0", out)
        lines = out.splitlines()
        self.assertEqual(sorted(l for l in lines if l.startswith("hello")),
                         [f"hello from instance {i}" for i in range(4)], out)
        self.assertIn("no newline", out)
        self.assertEqual(lines[-1], "end", out)
        before = len(chunks)
        self.assertGreater(len(self.fly_tasks()), before)  # it did run on the fleet

    def test_ChunkErrorMarksItsLine(self):
        """An instance that fails on a worker fails the program with its line:col, marked."""
        base = self.start_fleet(workers=1)
        program = ('var pool = [type="smp", nthread=2]\n'
                   'func bad(i) {\n    var x = i + "a" * 2\n    return x\n}\n'
                   'fly bad in [0:4] on pool\nprintln "not reached"\n')
        self.open(f"{base}/playground/#code={encode_program(program)}")
        self.switch_to_fleet()
        code, out = self.run_program(timeout=120)
        self.assertEqual(code, "1", out)
        self.assertNotIn("not reached", out)
        # As in the tab and with `volo run`: the fly fails at its statement (line 6), with the
        # instance's own error inside, at the line and column on the worker.
        self.assertIn("main.fly:6:1: runtime error: fly 'bad': instance 0 failed:", out)
        self.assertIn("main.fly:3:21: runtime error: cannot apply '*' to String and Integer", out)
        d = self.driver
        marked = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, ".cm-fly-error-line"),
                          what="the error marks")
        self.assertEqual(sorted(m.get_attribute("data-error-line") for m in marked), ["3", "6"])
        items = [(i.get_attribute("data-line"), i.get_attribute("data-col"))
                 for i in d.find_elements(By.CSS_SELECTOR, "#diagnostics li")]
        self.assertIn(("3", "21"), items)
        self.assertTrue(all(t["state"] == "failed" for t in self.fly_tasks()), self.fly_tasks())

    def test_RunsOnTheFleetWithTokens(self):
        """With tokens configured the switch asks for the API token once (a wrong one is
        refused), then runs on the fleet in the dashboard's session."""
        base = self.start_fleet(token="fl33t-s3cret")
        native_code, native_out = self.native("examples/pi.fly", "--seed", "11")
        self.assertEqual(native_code, 0, native_out)
        self.open(f"{base}/playground/#example=pi")
        self.set_seed(11)
        self.switch_to_fleet()
        wait_for(lambda: self.el("login").is_displayed(), what="the token prompt")
        self.el("token").send_keys("wrong")
        self.el("login-button").click()
        wait_for(lambda: "wrong token" in self.el("login-error").text, what="the refusal")
        self.el("token").clear()
        self.el("token").send_keys("fl33t-s3cret")
        self.el("login-button").click()
        wait_for(lambda: not self.el("login").is_displayed(), what="the session")
        code, out = self.run_program(timeout=300)
        self.assertEqual(code, "0", out)
        self.assertEqual(out.strip(), native_out.strip())
        self.assertTrue(self.fly_tasks())

    def test_NoFlyWorkerIsAClearError(self):
        """With no fly worker connected, a fly on the fleet fails at once, saying so."""
        base = self.start_fleet(workers=0)
        self.open(f"{base}/playground/#example=pi")
        self.switch_to_fleet()
        code, out = self.run_program(timeout=60)
        self.assertEqual(code, "1", out)
        self.assertIn("no worker with the fly operation is connected to the planner at " + base,
                      out)
        self.assertEqual(self.fly_tasks(), [])

    def test_StopCancelsTheFleetsChunks(self):
        """Stop ends the program at once and cancels its chunks still on the fleet."""
        base = self.start_fleet(workers=1)
        program = ('var pool = [type="smp", nthread=2]\n'
                   'func spin(i) {\n    var n = 0\n    while (true) {\n        n += 1\n    }\n}\n'
                   'fly spin in [0:8] on pool\n')
        self.open(f"{base}/playground/#code={encode_program(program)}")
        self.switch_to_fleet()
        self.el("run").click()
        wait_for(lambda: any(t["state"] == "running" for t in self.fly_tasks()),
                 what="a chunk running on the fleet")
        self.el("stop").click()
        wait_for(lambda: self.el("status").get_attribute("data-exit") == "stopped",
                 what="the program to stop")
        wait_for(lambda: self.fly_tasks() and
                 all(t["state"] == "cancelled" for t in self.fly_tasks()),
                 what="every chunk cancelled")

    def test_SmpOnWebWorkersWhenIsolated(self):
        """The planner serves the playground cross-origin isolated: smp runs on Web Workers
        (the threaded build), with volo run's answers, and a program that needs two instances
        running at once works as it does natively; output keeps its printed order."""
        base = self.start_fleet(workers=0)
        d = self.open(f"{base}/playground/#example=pi")
        self.assertTrue(d.execute_script("return crossOriginIsolated"))
        wait_for(lambda: d.execute_script("return document.body.dataset.threads") == "web-workers",
                 what="the threaded interpreter")
        self.assertIn("Web Workers", self.el("smp-mode").text)
        self.set_seed(7)
        code, out = self.run_program(timeout=120)
        self.assertEqual(code, "0", out)
        print(f"pi.fly --seed 7 on Web Workers: {self.el('status').get_attribute('data-ms')} ms",
              file=sys.stderr)
        native_code, native_out = self.native("examples/pi.fly", "--seed", "7")
        self.assertEqual((code, out.strip()), ("0", native_out.strip()))

        # b waits for a's message and a for b's: fine with threads, a clear error on one thread
        # (tests/web/playground_corpus/one_thread_nested_receive.fly).
        nested = ('var local = [type="smp", nthread=2]\nvar x = [type="channel"] on local\n'
                  'var y = [type="channel"] on local\nfunc b() {\n    var v = x? as Integer\n'
                  '    y ! v + 1 on local\n}\nfunc a() {\n    x ! 1 on local\n'
                  '    println y? as Integer\n}\nvar hb = async fly b in [0:1] on local\n'
                  'var ha = async fly a in [0:1] on local\n')
        ordered = ('var pool = [type="smp", nthread=4]\nfunc hello(i) {\n'
                   '    println "hello " + i\n}\nprintln "start"\n'
                   'fly hello in [0:8] on pool\nprintln "end"\n')
        for program, check in [(nested, lambda out: self.assertEqual(out.strip(), "2")),
                               (ordered, lambda out: self.assertEqual(
                                   (out.splitlines()[0], sorted(out.splitlines()[1:-1]),
                                    out.splitlines()[-1]),
                                   ("start", sorted(f"hello {i}" for i in range(8)), "end")))]:
            d.execute_script("location.hash = arguments[0]; location.reload()",
                             "code=" + encode_program(program))
            wait_for(lambda: d.execute_script("return document.body.dataset.loaded") == "true",
                     what="reload")
            code, out = self.run_program(timeout=60)
            self.assertEqual(code, "0", out)
            check(out)

        # More threads than the page has Web Workers for: a clear error, not a hang.
        greedy = ('var pool = [type="smp", nthread=12]\nfunc f(i) {\n    return i\n}\n'
                  'fly f in [0:12] on pool\nprintln "done"\n')
        d.execute_script("location.hash = arguments[0]; location.reload()",
                         "code=" + encode_program(greedy))
        wait_for(lambda: d.execute_script("return document.body.dataset.loaded") == "true",
                 what="reload")
        code, out = self.run_program(timeout=60)
        self.assertEqual(code, "1", out)
        self.assertIn("smp:12: this machine would start only 8 of the threads", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
