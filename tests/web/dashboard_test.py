"""What a person sees in the dashboard, in a real headless Chromium against real volo processes.

Run one test: python3 dashboard_test.py DashboardTest.test_CancelButtonCancels
(VOLO_BINARY, VOLO_CHROMIUM and VOLO_CHROMEDRIVER point at the programs; ctest sets them.)
"""
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BrowserTest, Child, VOLO, wait_for  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402


class DashboardTest(BrowserTest):
    def worker_rows(self):
        return {tr.get_attribute("data-worker") for tr in self.css("#workers tbody tr")}

    def test_WorkersAppearWhenTheyJoinAndGoWhenTheyLeave(self):
        self.planner()
        self.open("/")
        wait_for(lambda: self.text_of("#live") == "live", what="the live feed to connect")
        self.assertEqual(self.worker_rows(), set())
        a = self.worker("wa")
        self.worker("wb", ops="mult")
        wait_for(lambda: self.worker_rows() == {"wa", "wb"}, what="both workers on the page")
        row = self.css('tr[data-worker="wb"]')[0]
        self.assertIn("mult", row.text)
        a.stop()
        wait_for(lambda: self.worker_rows() == {"wb"}, what="worker wa to leave the page")
        self.assertEqual(self.text_of("#count-workers b"), "1")

    def test_SubmittedTaskMovesFromQueuedToDoneWithoutReload(self):
        self.planner()
        tid = self.api("POST", "/api/v1/tasks", {"op": "add", "args": {"a": 20, "b": 22}})["id"]
        self.open(f"/tasks/{tid}")
        wait_for(lambda: self.text_of("#task-state") == "queued", what="the task shown queued")
        self.driver.execute_script("window.__sameDocument = true")
        # The queue on the overview says why it waits; the task page says queued.
        self.worker("w1", ops="add")
        wait_for(lambda: self.text_of("#task-state") == "done", what="the task shown done")
        self.assertTrue(self.driver.execute_script("return window.__sameDocument === true"),
                        "the page reloaded")
        self.assertEqual(self.text_of("#task-result"), "42")
        self.assertIn("w1", self.text_of("dl.details"))
        # The overview counts it.
        self.click('nav a[href="/"]')
        wait_for(lambda: self.text_of("#count-done b") == "1", what="done = 1 on the overview")

    def test_CancelButtonCancels(self):
        self.planner()
        tid = self.api("POST", "/api/v1/tasks", {"op": "mult", "args": {"a": 2, "b": 3}})["id"]
        self.open("/")
        # With nobody to run it, the queue shows the task and the reason it waits.
        wait_for(lambda: "no live worker runs 'mult'" in (self.text_of("#queues") or ""),
                 what="the queue's waiting reason")
        self.open(f"/tasks/{tid}")
        wait_for(lambda: self.text_of("#task-state") == "queued", what="the task shown queued")
        self.click("#cancel")
        wait_for(lambda: self.text_of("#task-state") == "cancelled", what="the task shown cancelled")
        self.assertEqual(self.api("GET", f"/api/v1/tasks/{tid}")["state"], "cancelled")
        self.assertFalse(self.css("#cancel")[0].is_enabled())

    def test_TaskListFiltersAndPages(self):
        self.planner()
        self.api("POST", "/api/v1/tasks", {"tasks": [{"op": "add", "args": {"a": i, "b": 1}} for i in range(60)]})
        self.api("POST", "/api/v1/tasks", {"tasks": [{"op": "mult", "args": {"a": i, "b": 2}} for i in range(5)]})
        self.open("/tasks")
        rows = lambda: [tr.get_attribute("data-task") for tr in self.css("#tasks tbody tr")]
        wait_for(lambda: len(rows()) == 50, what="the first page of 50")
        self.assertEqual(rows()[0], "65")  # newest first
        self.click("#older")
        wait_for(lambda: rows() and rows()[0] == "15", what="the second page")
        self.assertEqual(len(rows()), 15)
        self.assertFalse(self.css("#older")[0].is_enabled())
        self.click("#newer")
        wait_for(lambda: rows() and rows()[0] == "65", what="back on the first page")
        op = self.css("#filter-op")[0]
        op.send_keys("mult")
        self.click(".filters button[type=submit]")
        wait_for(lambda: rows() == ["65", "64", "63", "62", "61"], what="only the mult tasks")
        self.assertIn("op=mult", self.driver.current_url)

    def test_TokenPromptRefusesAWrongTokenAndActionsWorkInTheSession(self):
        self.planner(token="api-secret-1", join="join-secret-1")
        self.worker("w1", ops="add", join=True)
        wait_for(lambda: self.live_workers() == {"w1"}, what="the worker to join")
        self.open("/")
        wait_for(lambda: self.css("#login #token"), what="the token prompt")
        self.assertFalse(self.css("#workers"), "the dashboard showed before the login")
        self.css("#token")[0].send_keys("not-the-token")
        self.click("#login-button")
        wait_for(lambda: "wrong token" in (self.text_of("#login-error") or ""),
                 what="the wrong token refused")
        self.assertFalse(self.css("#workers"))
        box = self.css("#token")[0]
        box.clear()
        box.send_keys("api-secret-1")
        self.click("#login-button")
        wait_for(lambda: self.worker_rows() == {"w1"}, what="the dashboard after the login")
        cookie = self.driver.get_cookie("volo_session")
        self.assertTrue(cookie["httpOnly"])
        self.assertEqual(cookie.get("sameSite"), "Strict")
        self.assertEqual(self.driver.execute_script("return document.cookie"), "")
        # An action in the session (it carries the CSRF token): drain the worker.
        self.click('button[data-drain="w1"]')
        wait_for(lambda: self.api("GET", "/api/v1/workers/w1")["state"] == "draining",
                 what="the worker drained")
        wait_for(lambda: "draining" in self.css('tr[data-worker="w1"]')[0].text,
                 what="the worker shown draining")
        # A reload keeps the session; logging out ends it.
        self.driver.refresh()
        wait_for(lambda: self.worker_rows() == {"w1"}, what="the dashboard after a reload")
        self.click("#logout")
        wait_for(lambda: self.css("#login #token"), what="the token prompt after logging out")

    def test_TaskStreamGrowsWhileVoloUpRuns(self):
        up = self.spawn("up", ["up", "--workers", "2", "--mult", "1", "--add", "1", "--tasks", "0",
                               "--duration-scale", "0.01"])
        def url():
            m = re.search(r"dashboard at (http://127\.0\.0\.1:\d+)/", up.output())
            return m and m.group(1)
        self.url = wait_for(url, 60, "volo up to print the dashboard URL")
        stop = threading.Event()
        def submit():
            import random
            while not stop.is_set():
                try:
                    self.api("POST", "/api/v1/tasks", {"tasks": [
                        {"op": random.choice(["add", "mult"]), "args": {"a": 1, "b": 2}} for _ in range(4)]})
                except AssertionError:
                    pass
                stop.wait(0.1)
        t = threading.Thread(target=submit, daemon=True)
        t.start()
        try:
            self.open("/stream")
            total = lambda: int(self.css("#stream")[0].get_attribute("data-total") or 0)
            first = wait_for(lambda: total() >= 5 and total(), 60, "bars in the task stream")
            wait_for(lambda: total() >= first + 20, 60, "the task stream to grow")
            lanes = self.text_of("#stream-info")
            self.assertRegex(lanes, r"on \d+ lanes")
            legend = self.text_of(".legend")
            self.assertIn("add", legend)
            self.assertIn("mult", legend)
        finally:
            stop.set()
            t.join()

    def test_TaskStreamShowsTasksFromBeforeThePageOpened(self):
        self.planner()
        self.worker("w1", ops="add")
        wait_for(lambda: self.live_workers() == {"w1"}, what="the worker to join")
        ids = self.api("POST", "/api/v1/tasks", {"tasks": [{"op": "add", "args": {"a": i, "b": 1}}
                                                           for i in range(12)]})["ids"]
        wait_for(lambda: self.api("GET", "/api/v1/status")["done"] == 12, what="the 12 tasks done")
        # No page was open while they ran; the task stream draws them all the same.
        self.open("/stream")
        total = lambda: int(self.css("#stream")[0].get_attribute("data-total") or 0)
        wait_for(lambda: total() == 12, what="the 12 earlier tasks in the stream")
        self.assertRegex(self.text_of("#stream-info"), r"^12 tasks shown on [12] lanes$")
        self.assertIn("add", self.text_of(".legend"))
        self.assertEqual(len(ids), 12)

    def test_RunPageShowsStepsAndRelaunches(self):
        wf = os.path.join(self.tmp, "wf.yml")
        with open(wf, "w") as f:
            f.write("tasks:\n  ADD: {op: add, args: {a: 1, b: 2}}\n  MULT: {op: mult, args: {a: 2, b: 3}}\n"
                    "demo.CHAIN:\n  tasks:\n    - ADD\n    - FAN:\n        type: group\n"
                    "        tasks: [MULT, noop]\n    - ADD\n")
        self.planner(extra=["--workflows", wf])
        self.worker("w1", ops="add,mult,noop")
        run = self.api("POST", "/api/v1/workflows/demo.CHAIN/runs", {})
        rid = run["id"]
        self.open("/runs")
        wait_for(lambda: self.css(f'#runs tr[data-run="{rid}"]'), what="the run in the list")
        self.click(f'#runs tr[data-run="{rid}"] a')
        wait_for(lambda: self.text_of("#run-state") == "succeeded", what="the run succeeded")
        steps = self.css("#run-graph .node")
        self.assertGreaterEqual(len(steps), 2)
        self.assertTrue(all("succeeded" in s.get_attribute("class") for s in steps))
        self.click("#run-relaunch")
        wait_for(lambda: self.driver.current_url.rstrip("/").split("/")[-1] != str(rid),
                 what="the relaunched run's page")
        wait_for(lambda: self.text_of("#run-state") == "succeeded", what="the relaunch succeeded")

    def test_RunCancelButtonCancelsTheRun(self):
        wf = os.path.join(self.tmp, "wf.yml")
        with open(wf, "w") as f:
            f.write("tasks:\n  ADD: {op: add, args: {a: 1, b: 2}}\n  MULT: {op: mult, args: {a: 2, b: 3}}\n"
                    "demo.CHAIN:\n  tasks: [ADD, MULT, ADD]\n")
        self.planner(extra=["--workflows", wf])
        self.worker("w1", ops="add")  # nobody runs mult: the run waits at its second step
        rid = self.api("POST", "/api/v1/workflows/demo.CHAIN/runs", {})["id"]
        self.open(f"/runs/{rid}")
        wait_for(lambda: self.text_of("#run-state") == "running", what="the run shown running")
        wait_for(lambda: any("succeeded" in n.get_attribute("class") for n in self.css("#run-graph .node")),
                 what="the first step shown succeeded")
        self.assertFalse(self.css("#run-relaunch")[0].is_enabled(), "Relaunch offered on a running run")
        self.click("#run-cancel")
        wait_for(lambda: self.text_of("#run-state") == "cancelled", what="the run shown cancelled")
        self.assertEqual(self.api("GET", f"/api/v1/runs/{rid}")["state"], "cancelled")
        self.assertFalse(self.css("#run-cancel")[0].is_enabled())
        wait_for(lambda: self.css("#run-relaunch")[0].is_enabled(), what="Relaunch offered")

    def test_FailuresFromBeforeThePageOpenedAreListed(self):
        self.planner()
        self.worker("w1", ops="exec", extra=["--sandbox", "none",
                                             "--work-dir", os.path.join(self.tmp, "work")])
        wait_for(lambda: self.live_workers() == {"w1"}, what="the worker to join")
        early = self.api("POST", "/api/v1/tasks", {"op": "exec", "args": {"shell": "exit 3"}})["id"]
        wait_for(lambda: self.api("GET", f"/api/v1/tasks/{early}")["state"] == "failed",
                 what="the task to fail")
        # No page was open when it failed; the overview lists it all the same.
        self.open("/")
        wait_for(lambda: f"#{early}" in (self.text_of("#failures tbody") or ""),
                 what="the earlier failure listed")
        self.assertEqual(self.text_of("#count-failed b"), "1")
        # One that fails while the page is open joins it, listed first.
        late = self.api("POST", "/api/v1/tasks", {"op": "exec", "args": {"shell": "exit 4"}})["id"]
        wait_for(lambda: [tr.text.split()[0] for tr in self.css("#failures tbody tr")]
                 == [f"#{late}", f"#{early}"], what="both failures, the latest first")

    def test_TaskPageFollowsACommandsOutputLive(self):
        gate = os.path.join(self.tmp, "gate")
        os.mkfifo(gate)
        self.planner()
        self.worker("w1", ops="exec", extra=["--sandbox", "none",
                                             "--work-dir", os.path.join(self.tmp, "work")])
        wait_for(lambda: self.live_workers() == {"w1"}, what="the worker to join")  # exec is its op
        tid = self.api("POST", "/api/v1/tasks", {"op": "exec", "args": {
            "shell": f'echo first line; read go < "{gate}"; echo "second line $go"'}})["id"]
        self.open(f"/tasks/{tid}")
        self.driver.execute_script("window.__sameDocument = true")
        # The command waits at the gate: its first line is on the page while it runs.
        wait_for(lambda: self.text_of("#task-logs") == "first line", what="the first line, live")
        self.assertEqual(self.text_of("#task-state"), "running")

        def release():
            try:
                fd = os.open(gate, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO until the command reads
            except OSError:
                return False
            os.write(fd, b"now\n")
            os.close(fd)
            return True
        wait_for(release, what="the command to open its gate")
        wait_for(lambda: self.text_of("#task-state") == "done", what="the task shown done")
        wait_for(lambda: self.text_of("#task-logs") == "first line\nsecond line now",
                 what="the whole output")
        self.assertTrue(self.driver.execute_script("return window.__sameDocument === true"),
                        "the page reloaded")

    def test_ActionsWithoutTheSessionsCsrfTokenAreRefused(self):
        self.planner(token="api-secret-2", join="join-secret-2")
        tid = self.api("POST", "/api/v1/tasks", {"op": "mult", "args": {"a": 2, "b": 3}})["id"]
        self.open("/")
        wait_for(lambda: self.css("#login #token"), what="the token prompt")
        self.css("#token")[0].send_keys("api-secret-2")
        self.click("#login-button")
        wait_for(lambda: self.text_of("#live") == "live", what="the dashboard after the login")
        # The page's own origin, with the session cookie but without X-Volo-CSRF: refused.
        post = """const done = arguments[arguments.length - 1];
            fetch(arguments[0], {method: 'POST', headers: arguments[1]})
              .then(r => r.text().then(t => done([r.status, t])), e => done([0, String(e)]));"""
        status, body = self.driver.execute_async_script(post, f"/api/v1/tasks/{tid}/cancel", {})
        self.assertEqual(status, 403, body)
        status, body = self.driver.execute_async_script(
            post, f"/api/v1/tasks/{tid}/cancel", {"X-Volo-CSRF": "not-the-csrf-token"})
        self.assertEqual(status, 403, body)
        self.assertEqual(self.api("GET", f"/api/v1/tasks/{tid}")["state"], "queued")
        # Reading needs no CSRF token; the page's Cancel button carries it and works.
        status, _ = self.driver.execute_async_script(
            post.replace("'POST'", "'GET'"), f"/api/v1/tasks/{tid}", {})
        self.assertEqual(status, 200)
        self.open(f"/tasks/{tid}")
        wait_for(lambda: self.text_of("#task-state") == "queued", what="the task shown queued")
        self.click("#cancel")
        wait_for(lambda: self.text_of("#task-state") == "cancelled", what="the task shown cancelled")

    def test_FlyRunsViewFollowsAProgramOnTheFleet(self):
        self.planner()
        self.worker("w1", ops="fly")
        self.open("/fly")
        wait_for(lambda: "No FLY program has run" in (self.text_of("main") or ""),
                 what="the empty FLY runs view")
        program = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples",
                               "sum_indices.fly")
        r = subprocess.run([VOLO, "run", program, "--env", f"local=cluster:{self.url}"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "sum of indices: 4950\n")
        # The open page shows the run, without a reload.
        wait_for(lambda: "100 of 100 instances done" in (self.text_of("#fly-runs .fly-run") or ""),
                 what="the run's 100 instances on the page")
        self.assertEqual(self.text_of("#fly-runs .fly-run .badge"), "done")

    def call_function(self, name, data):
        """POST /fn/NAME; returns (status, body)."""
        import urllib.error
        import urllib.request
        req = urllib.request.Request(f"{self.url}/fn/{name}", data=data.encode(), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def function_cell(self, name, column):
        # The table re-renders as updates arrive: read it again if it changed under the read.
        for _ in range(50):
            try:
                heads = [th.text for th in self.css("#functions thead th")]
                cells = self.css(f'#functions tr[data-function="{name}"] td')
                return cells[heads.index(column)].text if cells else None
            except StaleElementReferenceException:
                continue
        raise AssertionError(f"the functions table kept changing while reading {name}'s {column}")

    def test_FunctionsViewCountsCalls(self):
        self.planner()
        self.worker("w1", ops="exec")  # function instances run beside exec
        self.open("/functions")
        wait_for(lambda: "No functions deployed" in (self.text_of("main") or ""),
                 what="the empty functions view")
        self.api("PUT", "/api/v1/functions/upper", {"cmd": ["tr", "a-z", "A-Z"]})
        self.api("PUT", "/api/v1/functions/broken", {"cmd": ["false"]})
        wait_for(lambda: self.function_cell("upper", "Calls") == "0"
                 and self.function_cell("broken", "Calls") == "0",
                 what="both functions listed without calls")
        self.assertEqual(self.function_cell("upper", "Latency p50 / p99"), "–")
        for word in ["one", "two", "three"]:
            self.assertEqual(self.call_function("upper", word), (200, word.upper()))
        status, body = self.call_function("broken", "x")
        self.assertEqual(status, 502, body)
        # The counts move on the open page, without a reload.
        wait_for(lambda: self.function_cell("upper", "Calls") == "3", what="3 calls of upper")
        wait_for(lambda: self.function_cell("broken", "Errors") == "1", what="the error of broken")
        self.assertEqual(self.function_cell("upper", "Errors"), "0")
        self.assertGreaterEqual(int(self.function_cell("upper", "Cold starts")), 1)
        wait_for(lambda: re.match(r"^[0-9.]+ (µs|ms|s) / [0-9.]+ (µs|ms|s)$",
                                  self.function_cell("upper", "Latency p50 / p99") or ""),
                 what="upper's latency")
        self.click('#functions tr[data-function="upper"] a')
        wait_for(lambda: self.text_of('#function-facts dd[data-fact="Calls"]') == "3",
                 what="the function's page")
        wait_for(lambda: [td.text for td in self.css('#function-usage tr[data-caller="all"] td')][:2]
                 == ["all", "3"], what="the usage of all calls")
        self.assertTrue(self.css('#function-usage tr[data-caller="api"]'))
        self.assertEqual(len(self.css("#function-revisions li")), 1)
        self.assertEqual(self.call_function("upper", "four"), (200, "FOUR"))
        wait_for(lambda: self.text_of('#function-facts dd[data-fact="Calls"]') == "4",
                 what="the fourth call on the function's page")
        # A fly function's page names its file and function as its program.
        self.api("PUT", "/api/v1/functions/hello", {
            "runner": "fly", "fly": {"file": "hello.fly", "function": "handle",
                                     "source": "func handle(body) {\n  return \"hi \" + body\n}\n"}})
        self.open("/functions/hello")
        wait_for(lambda: self.text_of('#function-facts dd[data-fact="Program"]') == "hello.fly: handle()",
                 what="the fly function's program")
        self.assertEqual(self.text_of('#function-facts dd[data-fact="Runner"]'), "fly")


    def console_errors(self):
        """The browser console's errors since the last call (a JavaScript error, a failed load)."""
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def test_EveryViewOpensWithoutConsoleErrors(self):
        """Each view on a planner with tasks of every kind: no error in the console; a failed
        command's stderr on its page; a path that is no view says so, as a 404."""
        self.planner()
        self.worker("w1", ops="add,exec", extra=["--sandbox", "none",
                                                 "--work-dir", os.path.join(self.tmp, "work")])
        wait_for(lambda: self.live_workers() == {"w1"}, what="the worker to join")
        done = self.api("POST", "/api/v1/tasks", {"op": "add", "args": {"a": 1, "b": 2}})["id"]
        failed = self.api("POST", "/api/v1/tasks", {"op": "exec", "args": {
            "shell": "echo to stdout; echo to stderr >&2; exit 3"}})["id"]
        self.api("POST", "/api/v1/tasks", {"op": "mult", "args": {"a": 2, "b": 3}})  # waits
        wait_for(lambda: self.api("GET", f"/api/v1/tasks/{failed}")["state"] == "failed",
                 what="the command to fail")
        views = {"/": "#workers tbody tr", "/tasks": "#tasks tbody tr", f"/tasks/{done}":
                 "#task-result", "/stream": "#stream", "/fly": "#fly-runs", "/runs": "#runs",
                 "/functions": "h2"}
        for path, selector in views.items():
            self.open(path)
            wait_for(lambda: self.text_of("#live") == "live" and self.css(selector),
                     what=f"{path} drawn")
            self.assertEqual(self.console_errors(), [], path)
        self.open(f"/tasks/{failed}")
        wait_for(lambda: self.text_of("#task-state") == "failed", what="the failed task")
        wait_for(lambda: self.text_of("#task-stderr") == "to stderr", what="its stderr")
        self.assertEqual(self.text_of("#task-logs"), "to stdout")
        self.assertEqual(self.console_errors(), [])
        self.open(f"/tasks/{done}")
        wait_for(lambda: self.text_of("#task-result") == "3", what="the add's result")
        self.assertNotIn("Labels", self.text_of("dl.details"))  # none given: no empty row
        self.assertFalse(self.css("#task-stderr")[0].is_displayed())
        # A function that is not deployed: said once (no request every 2 s, each a console error).
        self.open("/functions/nope")
        wait_for(lambda: "No function named nope" in (self.text_of("main") or ""),
                 what="the page saying there is no such function")
        self.assertEqual(len(self.console_errors()), 1)  # the one 404
        self.assertEqual(self.driver.execute_script(
            "return performance.getEntriesByType('resource')"
            ".filter(e => e.name.includes('/api/v1/functions/nope')).length"), 1)
        # The playground is one click away when this volo has it.
        try:
            has_playground = urllib.request.urlopen(self.url + "/playground/", timeout=10).status == 200
        except urllib.error.HTTPError:
            has_playground = False
        self.open("/")
        if has_playground:
            self.click("#playground-link")
            wait_for(lambda: self.driver.execute_script("return document.body.dataset.loaded") == "true",
                     timeout=60, what="the playground opened from the dashboard")
            self.assertEqual(self.console_errors(), [])
        else:
            wait_for(lambda: self.text_of("#live") == "live", what="the overview")
            self.assertEqual(self.css("#playground-link"), [])
        # No view there: the page says so, and the planner answers 404 (the API's paths stay
        # JSON errors).
        self.open("/nonexistent")
        wait_for(lambda: "Nothing at /nonexistent" in self.driver.find_element(By.TAG_NAME, "main").text,
                 what="the page saying there is nothing there")
        for path, kind in [("/nonexistent", "text/html"), ("/tasks/abc", "text/html"),
                           ("/api", "application/json"), ("/api/v1/nothing", "application/json")]:
            try:
                urllib.request.urlopen(self.url + path, timeout=10)
                self.fail(f"{path} answered 200")
            except urllib.error.HTTPError as e:
                self.assertEqual(e.code, 404, path)
                self.assertTrue(e.headers["Content-Type"].startswith(kind), (path, e.headers))

    def test_TaskListSaysWhatItIgnoresInALink(self):
        self.planner()
        ids = [self.api("POST", "/api/v1/tasks", {"op": "mult", "args": {"a": 1, "b": i}})["id"]
               for i in range(3)]
        self.open("/tasks?state=bogus&cursor=abc")
        wait_for(lambda: len(self.css("#tasks tbody tr")) == 3, what="every task listed")
        warning = self.text_of("#tasks-warning")
        self.assertIn("state=bogus", warning)
        self.assertIn("cursor=abc", warning)
        self.assertEqual(self.console_errors(), [])  # no request with cursor=NaN
        self.open(f"/tasks?cursor={ids[-1]}")
        wait_for(lambda: [tr.get_attribute("data-task") for tr in self.css("#tasks tbody tr")]
                 == [str(ids[1]), str(ids[0])], what="the tasks before the cursor")
        self.assertEqual(self.text_of("#tasks-warning"), "")

    def test_AnotherSitesPageCannotSubmitTasks(self):
        """A planner without a token on loopback: a page on another site, open in the same
        browser, posts a command to it (a no-cors fetch and a form need no CORS); refused."""
        self.planner()
        site = os.path.join(self.tmp, "evil")
        os.makedirs(site)
        with open(os.path.join(site, "index.html"), "w") as f:
            f.write("""<!doctype html><title>elsewhere</title><script>
              const planner = new URLSearchParams(location.search).get("planner");
              fetch(planner + "/api/v1/tasks", {method: "POST", mode: "no-cors",
                    body: JSON.stringify({op: "exec", args: {shell: "echo pwned"}})})
                .finally(() => fetch(planner + "/api/v1/workers/w1/drain",
                                     {method: "POST", mode: "no-cors"}))
                .finally(() => { document.title = "sent"; });
            </script>""")
        evil = self.spawn_static(site)
        self.worker("w1", ops="exec", extra=["--sandbox", "none",
                                             "--work-dir", os.path.join(self.tmp, "work")])
        wait_for(lambda: self.live_workers() == {"w1"}, what="the worker to join")
        self.driver.get(f"{evil}/index.html?planner={self.url}")
        wait_for(lambda: self.driver.title == "sent", what="the other page's requests")
        self.assertEqual(self.api("GET", "/api/v1/tasks")["tasks"], [])
        self.assertEqual([w["state"] for w in self.api("GET", "/api/v1/workers")["workers"]],
                         ["live"])
        # The dashboard itself, on the planner's own origin, still acts.
        self.open("/")
        self.click('button[data-drain="w1"]')
        wait_for(lambda: [w["state"] for w in self.api("GET", "/api/v1/workers")["workers"]]
                 == ["draining"], what="the dashboard's Drain to work")

    def test_AfterAPlannerRestartThePageAsksForTheTokenAgain(self):
        """Sessions live in the planner's memory: once it is back, the open page asks for the
        token (instead of reconnecting in vain) and, logged in again, is live again."""
        self.planner(token="api-secret-3", join="join-secret-3")
        port = self.url.rsplit(":", 1)[1]
        self.open("/")  # the overview reads only the live feed, which a browser cannot see refused
        wait_for(lambda: self.css("#login #token"), what="the token prompt")
        self.css("#token")[0].send_keys("api-secret-3")
        self.click("#login-button")
        wait_for(lambda: self.text_of("#live") == "live", what="the dashboard after the login")
        self.planner_child.stop()
        wait_for(lambda: self.text_of("#live") != "live", what="the page to lose the planner")
        self.spawn("planner-again", ["planner", "--port", port, "--log-level", "info",
                                     "--token-file", os.path.join(self.tmp, "token"),
                                     "--join-token-file", os.path.join(self.tmp, "join")])
        wait_for(lambda: "log in again" in (self.text_of("#login-error") or ""),
                 what="the prompt saying to log in again")
        tid = self.api("POST", "/api/v1/tasks", {"op": "mult", "args": {"a": 6, "b": 7}})["id"]
        self.css("#token")[0].send_keys("api-secret-3")
        self.click("#login-button")
        wait_for(lambda: self.text_of("#live") == "live", what="live again after the new login")
        wait_for(lambda: self.text_of("#count-queued b") == "1",
                 what="the overview drawn on the new page")
        self.click('nav a[href="/tasks"]')
        wait_for(lambda: [tr.get_attribute("data-task") for tr in self.css("#tasks tbody tr")]
                 == [str(tid)], what="the task list")

    def spawn_static(self, directory):
        """A static file server on another loopback port (another origin); returns its URL."""
        port_file = os.path.join(self.tmp, "static.port")
        code = ("import http.server, functools, sys\n"
                "h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])\n"
                "s = http.server.HTTPServer(('127.0.0.1', 0), h)\n"
                "open(sys.argv[2] + '.tmp', 'w').write(str(s.server_address[1]))\n"
                "import os; os.rename(sys.argv[2] + '.tmp', sys.argv[2])\n"
                "s.serve_forever()\n")
        c = Child("static", [sys.executable, "-c", code, directory, port_file], self.out)
        self.children.append(c)
        port = wait_for(lambda: os.path.exists(port_file) and open(port_file).read(),
                        what="the static server's port")
        return f"http://127.0.0.1:{port}"

if __name__ == "__main__":
    unittest.main(verbosity=2)
