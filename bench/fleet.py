"""A volo planner and workers for the benchmarks (bench.py, sandbox/, dashboard/).

Each process runs in its own process group, started and stopped by pid (SIGTERM, then SIGKILL
after 10 s). The planner listens on an ephemeral loopback port it writes to a port file; waiting
is "poll a condition until a deadline", never a fixed pause.
"""
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request


def wait_for(cond, timeout, what, proc=None):
    """Calls cond() until it returns something truthy (and returns that) or `timeout` s pass
    (or `proc`, when given, exits)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited ({proc.returncode})")
        try:
            v = cond()
            if v:
                return v
        except Exception:  # not there yet (no port file, a refused connection)
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for " + what)
        time.sleep(0.01)


def get_json(url, timeout=30):
    """GET `url`; its JSON answer."""
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def post_json(url, body, timeout=120):
    """POST `body` as JSON to `url`; its JSON answer. The default timeout outlasts the planner's
    longest long poll (60 s)."""
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.load(r)


def status(url):
    return get_json(url + "/api/v1/status")


class Fleet:
    """A planner and workers; `url` and `pid` are the planner's once planner() returns."""

    def __init__(self, volo, tmp):
        self.volo, self.tmp, self.procs = volo, tmp, []
        self.url, self.pid = None, None

    def spawn(self, args, stdout=None):
        """Starts `volo ARGS...` (stderr discarded) and stops it with the fleet."""
        p = subprocess.Popen([self.volo, *args], stdout=stdout, stderr=subprocess.DEVNULL,
                             start_new_session=True, text=True)
        self.procs.append(p)
        return p

    def planner(self, *extra):
        port_file = tempfile.mktemp(prefix="planner-", suffix=".port", dir=self.tmp)
        p = self.spawn(["planner", "--port", "0", "--port-file", port_file,
                        "--log-level", "warn", *extra])

        def port():
            with open(port_file) as f:
                return f.read().strip()

        self.url = "http://127.0.0.1:" + wait_for(port, 15, "the planner", proc=p)
        self.pid = p.pid
        return self.url

    def workers(self, n, slots=1, ops="add,mult,sleep,echo,noop", scale=1.0, extra=(),
                work_dirs=False):
        """Starts n workers of the planner and waits until all have registered; with
        work_dirs, each gets a --work-dir of its own under the fleet's tmp."""
        want = status(self.url)["workers"] + n
        for _ in range(n):
            wid = f"w{len(self.procs)}"
            args = ["worker", "--planner", self.url, "--id", wid, "--slots", str(slots),
                    "--ops", ops, "--port", "-1", "--duration-scale", str(scale),
                    "--log-level", "warn"]
            if work_dirs:
                args += ["--work-dir", tempfile.mkdtemp(prefix=f"work-{wid}-", dir=self.tmp)]
            self.spawn([*args, *extra])
        wait_for(lambda: status(self.url)["workers"] >= want, 30, "the workers to register")

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in reversed(self.procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        self.procs = []
