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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BrowserTest, VOLO, wait_for  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402


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
        self.css('nav a[href="/"]')[0].click()
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
        self.css("#cancel")[0].click()
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
        self.css("#older")[0].click()
        wait_for(lambda: rows() and rows()[0] == "15", what="the second page")
        self.assertEqual(len(rows()), 15)
        self.assertFalse(self.css("#older")[0].is_enabled())
        self.css("#newer")[0].click()
        wait_for(lambda: rows() and rows()[0] == "65", what="back on the first page")
        op = self.css("#filter-op")[0]
        op.send_keys("mult")
        self.css(".filters button[type=submit]")[0].click()
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
        self.css("#login-button")[0].click()
        wait_for(lambda: "wrong token" in (self.text_of("#login-error") or ""),
                 what="the wrong token refused")
        self.assertFalse(self.css("#workers"))
        box = self.css("#token")[0]
        box.clear()
        box.send_keys("api-secret-1")
        self.css("#login-button")[0].click()
        wait_for(lambda: self.worker_rows() == {"w1"}, what="the dashboard after the login")
        cookie = self.driver.get_cookie("volo_session")
        self.assertTrue(cookie["httpOnly"])
        self.assertEqual(cookie.get("sameSite"), "Strict")
        self.assertEqual(self.driver.execute_script("return document.cookie"), "")
        # An action in the session (it carries the CSRF token): drain the worker.
        self.css('button[data-drain="w1"]')[0].click()
        wait_for(lambda: self.api("GET", "/api/v1/workers/w1")["state"] == "draining",
                 what="the worker drained")
        wait_for(lambda: "draining" in self.css('tr[data-worker="w1"]')[0].text,
                 what="the worker shown draining")
        # A reload keeps the session; logging out ends it.
        self.driver.refresh()
        wait_for(lambda: self.worker_rows() == {"w1"}, what="the dashboard after a reload")
        self.css("#logout")[0].click()
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
        self.css(f'#runs tr[data-run="{rid}"] a')[0].click()
        wait_for(lambda: self.text_of("#run-state") == "succeeded", what="the run succeeded")
        steps = self.css("#run-graph .node")
        self.assertGreaterEqual(len(steps), 2)
        self.assertTrue(all("succeeded" in s.get_attribute("class") for s in steps))
        self.css("#run-relaunch")[0].click()
        wait_for(lambda: self.driver.current_url.rstrip("/").split("/")[-1] != str(rid),
                 what="the relaunched run's page")
        wait_for(lambda: self.text_of("#run-state") == "succeeded", what="the relaunch succeeded")


if __name__ == "__main__":
    unittest.main(verbosity=2)
