"""Functions as a service, measured on loopback (docs/functions.md).

A planner and one sandboxed worker; a `cmd` function (`cat`, so the program's own work is
nothing and what is measured is volo's path plus one sandboxed process start per call), an
`http` function (a small Python HTTP/1.1 server answering its request's body, also run directly,
outside volo, as the machine's limit for that server) and a `fly` function (FLY's
`handle(body)` answering "hello " + body, in warm VMs):

- cold start: from no instance to the first answer (a new function each time, so the instance,
  its bundle lease and the call all start from nothing), p50 and max over the runs;
- warm: one client calling in a loop, latency p50/p99;
- throughput: wrk (Debian's) with a few connections for a few seconds, or a Python client
  pool when wrk is missing.

Prints a markdown section; processes are started and stopped by pid.
"""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

QUICK = os.environ.get("BENCH_QUICK") == "1"
# The Python the sandbox finds on its PATH (only /usr is there), for the direct runs too.
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")


def call(url, body=b"x", timeout=60):
    req = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


# The http function's server: Python's threading HTTP server with keep-alive, its answer in one
# write (wbufsize), so that what limits it is Python, not Nagle's algorithm.
SERVER = r"""
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


# The fly function.
FLY = """func handle(body) {
  return "hello " + body
}
"""


def wrk(url, seconds, connections=8):
    """Requests/s and latency p50/p99 (ms) of wrk POSTing "x" to url."""
    script = os.path.join(tempfile.gettempdir(), f"volo-bench-post-{os.getpid()}.lua")
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\nwrk.body = "x"\n')
    r = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
                        script, url], capture_output=True, text=True)
    os.unlink(script)
    tput, p50, p99 = None, None, None

    def ms(text):
        for unit, f in (("us", 1e-3), ("ms", 1), ("s", 1e3)):
            if text.endswith(unit):
                return float(text[:-len(unit)]) * f
        return float(text)
    for line in r.stdout.splitlines():
        w = line.split()
        if line.startswith("Requests/sec:"):
            tput = float(w[1])
        elif len(w) == 2 and w[0] == "50%":
            p50 = ms(w[1])
        elif len(w) == 2 and w[0] == "99%":
            p99 = ms(w[1])
    return tput, p50, p99


def latencies_ms(url, n):
    """The latency (ms) of each of `n` calls to `url`, one after the other."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        call(url)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def cold_starts_ms(url, deploy, names):
    """Deploys each function of `names` with deploy(name) and times its first call (ms), which
    starts its first instance."""
    out = []
    for name in names:
        deploy(name)
        t0 = time.perf_counter()
        status, _ = call(f"{url}/fn/{name}")
        out.append((time.perf_counter() - t0) * 1000)
        assert status == 200
    return out


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stop_all(procs, tmp):
    """Ends the processes a run started (SIGTERM, newest first; SIGKILL after 15 s) and removes
    its directory."""
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in reversed(procs):
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    shutil.rmtree(tmp, ignore_errors=True)


def start_fleet(volo, tmp, procs, worker_args=()):
    """Starts a planner on a free port and one worker (ops exec, 2 slots) under `tmp`, appends
    both to `procs` (for stop_all) and returns the planner's URL once the worker is registered."""
    port_file = os.path.join(tmp, "planner.port")
    planner = subprocess.Popen([volo, "planner", "--port", "0", "--port-file", port_file,
                                "--log-level", "warn"], stderr=subprocess.DEVNULL)
    procs.append(planner)
    deadline = time.time() + 20
    while not (os.path.exists(port_file) and open(port_file).read().strip()):
        if time.time() > deadline or planner.poll() is not None:
            raise RuntimeError("planner did not start")
        time.sleep(0.01)
    url = "http://127.0.0.1:" + open(port_file).read().strip()
    procs.append(subprocess.Popen([volo, "worker", "--planner", url, "--ops", "exec", "--slots",
                                   "2", "--port", "-1", "--work-dir", os.path.join(tmp, "work"),
                                   "--log-level", "warn", *worker_args],
                                  stderr=subprocess.DEVNULL))
    deadline = time.time() + 30
    while get(url + "/api/v1/status")["workers"] < 1:
        if time.time() > deadline:
            raise RuntimeError("worker did not register")
        time.sleep(0.01)
    return url


def main():
    volo = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="volo-fn-bench-")
    procs = []
    try:
        url = start_fleet(volo, tmp, procs)
        bundle = os.path.join(tmp, "fn")
        os.makedirs(bundle)
        with open(os.path.join(bundle, "handler.sh"), "w") as f:
            f.write("cat\n")

        def deploy(name, *flags):
            subprocess.run([volo, "fn", "deploy", name, "--planner", url, "--bundle", bundle,
                            *flags, "--cmd", "--", "cat"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        cold = cold_starts_ms(url, deploy, [f"cold-{i}" for i in range(5 if QUICK else 20)])

        deploy("warm", "--max", "4", "--concurrency", "4", "--queue", "10000")
        call(f"{url}/fn/warm")
        warm = latencies_ms(f"{url}/fn/warm", 100 if QUICK else 500)

        seconds = 3 if QUICK else 10
        tput = None
        how = ""
        if shutil.which("wrk"):
            script = os.path.join(tmp, "post.lua")
            with open(script, "w") as f:
                f.write('wrk.method = "POST"\nwrk.body = "x"\n')
            r = subprocess.run(["wrk", "-t2", "-c8", f"-d{seconds}s", "-s", script,
                                f"{url}/fn/warm"], capture_output=True, text=True)
            for line in r.stdout.splitlines():
                if line.startswith("Requests/sec:"):
                    tput = float(line.split()[1])
            how = "wrk -t2 -c8"
        else:
            from concurrent.futures import ThreadPoolExecutor
            end = time.time() + seconds
            count = [0]

            def loop():
                n = 0
                while time.time() < end:
                    call(f"{url}/fn/warm")
                    n += 1
                return n
            t0 = time.time()
            with ThreadPoolExecutor(8) as pool:
                total = sum(pool.map(lambda _: loop(), range(8)))
            tput = total / (time.time() - t0)
            how = "8 Python clients (wrk not installed)"
        usage = get(f"{url}/api/v1/functions/warm/usage")

        # The http runner: the same, and the server reached directly.
        web = os.path.join(tmp, "web")
        os.makedirs(web)
        with open(os.path.join(web, "server.py"), "w") as f:
            f.write(SERVER)

        def deploy_http(name, *flags):
            subprocess.run([volo, "fn", "deploy", name, "--planner", url, "--bundle", web,
                            "--http", *flags, "--cmd", "--", "python3", "server.py"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        http_cold = cold_starts_ms(url, deploy_http,
                                   [f"hcold-{i}" for i in range(3 if QUICK else 10)])
        # The server's own start, for comparison: from exec to its first answer, directly.
        own_start = []
        for _ in range(3 if QUICK else 10):
            port = free_port()
            t0 = time.perf_counter()
            p = subprocess.Popen([PYTHON, os.path.join(web, "server.py")],
                                 env={**os.environ, "PORT": str(port)},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while True:
                try:
                    call(f"http://127.0.0.1:{port}/", timeout=5)
                    break
                except OSError:
                    time.sleep(0.001)
            own_start.append((time.perf_counter() - t0) * 1000)
            p.terminate()
            p.wait()
        deploy_http("hwarm", "--max", "1", "--concurrency", "16", "--queue", "10000")
        call(f"{url}/fn/hwarm")
        http_warm = latencies_ms(f"{url}/fn/hwarm", 100 if QUICK else 500)
        http_tput = wrk(f"{url}/fn/hwarm", seconds) if shutil.which("wrk") else (None, None, None)
        port = free_port()
        direct = subprocess.Popen([PYTHON, os.path.join(web, "server.py")],
                                  env={**os.environ, "PORT": str(port)},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(direct)
        deadline = time.time() + 20
        while True:
            try:
                call(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.01)
        direct_warm = latencies_ms(f"http://127.0.0.1:{port}/", 100 if QUICK else 500)
        direct_tput = (wrk(f"http://127.0.0.1:{port}/", seconds) if shutil.which("wrk")
                       else (None, None, None))

        # The fly runner: cold starts, sequential calls, then wrk with keep-alive (-t2 -c16)
        # against one instance of concurrency 2 (the machine's two cores).
        flydir = os.path.join(tmp, "flyfn")
        os.makedirs(flydir)
        with open(os.path.join(flydir, "hello.fly"), "w") as f:
            f.write(FLY)

        def deploy_fly(name, *flags):
            subprocess.run([volo, "fn", "deploy", name, "--planner", url, "--bundle", flydir,
                            "--fly", "hello.fly", "--func", "handle", *flags],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        fly_cold = cold_starts_ms(url, deploy_fly,
                                  [f"fcold-{i}" for i in range(5 if QUICK else 20)])
        deploy_fly("fwarm", "--max", "1", "--concurrency", "2", "--queue", "10000")
        status, body = call(f"{url}/fn/fwarm")
        assert status == 200 and body == b"hello x", body
        fly_warm = latencies_ms(f"{url}/fn/fwarm", 100 if QUICK else 500)
        fly_tput = (wrk(f"{url}/fn/fwarm", seconds, connections=16) if shutil.which("wrk")
                    else (None, None, None))
        fly_usage = get(f"{url}/api/v1/functions/fwarm/usage")

        print("| runner | cold start p50 | cold start max | warm p50 | warm p99 | warm calls/s |")
        print("|---|---|---|---|---|---|")
        print(f"| cmd (`cat` under bwrap) | {statistics.median(cold):.1f} ms | {max(cold):.1f} ms | "
              f"{pct(warm, 50):.2f} ms | {pct(warm, 99):.2f} ms | {tput:.0f} ({how}) |")

        def fmt(x, unit=""):
            return "n/a" if x is None else f"{x:.0f}{unit}" if unit == "" else f"{x:.2f}{unit}"
        print(f"| http (Python server under bwrap) | {statistics.median(http_cold):.1f} ms | "
              f"{max(http_cold):.1f} ms | {pct(http_warm, 50):.2f} ms | "
              f"{pct(http_warm, 99):.2f} ms | {fmt(http_tput[0])} |")
        print(f"| the same server, directly | {statistics.median(own_start):.1f} ms (its own "
              f"start) | {max(own_start):.1f} ms | {pct(direct_warm, 50):.2f} ms | "
              f"{pct(direct_warm, 99):.2f} ms | {fmt(direct_tput[0])} |")
        print(f"| fly (`handle(body)` under bwrap) | {statistics.median(fly_cold):.1f} ms | "
              f"{max(fly_cold):.1f} ms | {pct(fly_warm, 50):.2f} ms | "
              f"{pct(fly_warm, 99):.2f} ms | {fmt(fly_tput[0])} |")
        print()
        if fly_tput[0]:
            print(f"`--fly` through volo: {fly_tput[0]:.0f} calls/s with wrk -t2 -c16 for "
                  f"{seconds} s (goal: at least 20,000); wrk's own p50/p99: "
                  f"{fmt(fly_tput[1], ' ms')}/{fmt(fly_tput[2], ' ms')}. The planner metered "
                  f"{fly_usage['calls']} calls of it, {fly_usage['errors']} errors.")
            print()
        if http_tput[0] and direct_tput[0]:
            print(f"`--http` through volo: {http_tput[0] / direct_tput[0]:.2f}x the server's "
                  f"direct throughput (goal: at least 0.5x); wrk's own p50/p99: "
                  f"{fmt(http_tput[1], ' ms')}/{fmt(http_tput[2], ' ms')} through volo, "
                  f"{fmt(direct_tput[1], ' ms')}/{fmt(direct_tput[2], ' ms')} directly. "
                  f"Cold start beyond the server's own start: "
                  f"{statistics.median(http_cold) - statistics.median(own_start):.1f} ms (p50).")
            print()
        print(f"Cold start: a new function each run ({len(cold)} runs), from no instance to the "
              f"first answer. Warm: {len(warm)} sequential calls, then {how} for {seconds} s "
              f"(4 instances of concurrency 4). The planner metered {usage['calls']} warm calls.")
    finally:
        stop_all(procs, tmp)


if __name__ == "__main__":
    main()
