// The `http` function runner on real processes (docs/functions.md, "Runners"): an instance is a
// long-lived server on $PORT in the sandbox, ready once it answers its readiness check; calls
// are proxied to it (method, path, query, headers and body through; status, headers and body
// back), up to --concurrency at once; a slow answer, a crash mid-call, a server that never
// becomes ready and a deploy during a stream of calls; under bwrap (warm and cold sandboxes)
// and without a sandbox.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "functions_fixture.h"

namespace volo::itest {
namespace {

namespace fs = std::filesystem;

// The function's server: Python's http.server on $PORT (threads: one per connection).
//   GET /            200 "ready" (the readiness check)
//   ANY /echo...     200 JSON of the request as the server saw it, with X-Served-By and 201
//                    when asked by X-Want-Status
//   GET /slow?S      sleeps S seconds, then "slept"
//   GET /together?N  waits until N requests are inside at once ("together"), or 20 s ("alone")
//   POST /crash      crashes the server (SIGSEGV: it reads address 0)
//   GET /version     $VERSION
//   GET /peek?FILE   "read" when the server can read FILE, else "hidden"
constexpr const char* kServer = R"PY(
import ctypes, http.server, json, os, sys, threading, time
inside = 0
cond = threading.Condition()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self, status, body, ctype="text/plain", extra=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
    def any(self):
        global inside
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        path, _, query = self.path.partition("?")
        if path == "/":
            return self.answer(200, "ready")
        if path == "/crash":
            sys.stderr.write("about to crash\n"); sys.stderr.flush()
            ctypes.string_at(0)  # a real segmentation fault
        if path == "/slow":
            time.sleep(float(query or "1"))
            return self.answer(200, "slept")
        if path == "/peek":
            try:
                open(query).read()
                return self.answer(200, "read")
            except OSError:
                return self.answer(200, "hidden")
        if path == "/version":
            return self.answer(200, os.environ.get("VERSION", "?"))
        if path == "/together":
            want = int(query)
            with cond:
                inside += 1
                cond.notify_all()
                ok = cond.wait_for(lambda: inside >= want, timeout=20)
            return self.answer(200, "together" if ok else "alone")
        if path.startswith("/echo"):
            seen = {"method": self.command, "path": path, "query": query,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.hex()}
            status = int(self.headers.get("X-Want-Status") or 200)
            return self.answer(status, json.dumps(seen), "application/json",
                               [("X-Served-By", "pyserver"), ("Set-Cookie", "a=1")])
        return self.answer(404, "no route " + path)
    do_GET = do_POST = do_PUT = do_DELETE = any
    def log_message(self, fmt, *args):
        sys.stderr.write("request " + (fmt % args) + "\n")
sys.stderr.write("serving on port " + os.environ["PORT"] + "\n")
if os.environ.get("PIDDIR"):
    open(os.path.join(os.environ["PIDDIR"], str(os.getpid())), "w").close()
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
)PY";

// The server, but answering 503 where it would answer 404.
std::string NotFoundAs503() {
  std::string s = kServer;
  const std::string from = "self.answer(404";
  return s.replace(s.find(from), from.size(), "self.answer(503");
}

// Python's http.server as the function: `server.py` in the bundle, deployed with --http.
class FunctionsHttpTest : public FunctionsFixture {
 protected:
  void SetUp() override {
    FunctionsFixture::SetUp();
    if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "needs /usr/bin/python3";
  }

  void Start(const std::vector<std::string>& worker_args = {}) {
    StartPlannerAndWorker(/*tokens=*/true, worker_args);
  }
  Reply Get(const std::string& name, const std::string& rest) {
    return Fetch("GET", planner_.url + "/fn/" + name + rest, "");
  }
  // The planner's whole answer, status line and headers included (net::HttpFetch keeps only
  // the body and content type).
  std::string RawRequest(const std::string& request) {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(planner_.port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string out;
    if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::write(s, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buf[4096];
      for (ssize_t n; (n = ::read(s, buf, sizeof buf)) > 0;)
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(s);
    return out;
  }
  void Deploy(const std::string& name, std::vector<std::string> flags = {},
              const std::string& server = kServer) {
    flags.insert(flags.begin(), "--http");
    DeployBundle(name, "server.py", server, flags, {"python3", "server.py"});
  }

  // The round trip of one request through the planner and the worker to the server and back.
  void ExpectRoundTrip(std::vector<std::string> flags = {}) {
    Deploy("echo", flags);
    std::string body;
    for (int i = 0; i < 256; ++i) body += static_cast<char>(i);
    Reply r = Fetch("PUT", planner_.url + "/fn/echo/echo/a%20b/c?x=1&y=%2Fz", body, true,
                    {{"X-Color", "red"}, {"Content-Type", "application/x-thing"}});
    ASSERT_EQ(r.status, 200) << r.Describe();
    json::object seen = r.obj();
    EXPECT_EQ(Str(seen, "method"), "PUT");
    EXPECT_EQ(Str(seen, "path"), "/echo/a%20b/c");
    EXPECT_EQ(Str(seen, "query"), "x=1&y=%2Fz");
    std::string hex;
    for (unsigned char c : body) {
      char b[3];
      std::snprintf(b, sizeof b, "%02x", c);
      hex += b;
    }
    EXPECT_EQ(Str(seen, "body"), hex);
    json::object headers = seen.at("headers").as_object();
    EXPECT_EQ(Str(headers, "x-color"), "red");
    EXPECT_EQ(Str(headers, "content-type"), "application/x-thing");
    EXPECT_EQ(Str(headers, "content-length"), "256");
    EXPECT_FALSE(headers.contains("authorization")) << json::serialize(headers);

    // The answer's status and headers come back.
    std::string raw =
        RawRequest("POST /fn/echo/echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                   std::string(kApiToken) +
                   "\r\nX-Want-Status: 201\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi");
    EXPECT_EQ(raw.rfind("HTTP/1.1 201", 0), 0u) << raw;
    EXPECT_NE(raw.find("X-Served-By: pyserver"), std::string::npos) << raw;
    EXPECT_NE(raw.find("Set-Cookie: a=1"), std::string::npos) << raw;
    EXPECT_NE(raw.find("Content-Type: application/json"), std::string::npos) << raw;
    EXPECT_NE(raw.find("\"body\": \"6869\""), std::string::npos) << raw;
  }

  // A crash mid-call is a 502 naming it; the instance is replaced, the worker lives.
  void ExpectCrashReplaced(std::vector<std::string> flags = {}) {
    flags.insert(flags.end(), {"--max", "1"});
    Deploy("crashy", flags);
    ASSERT_EQ(Get("crashy", "/version").status, 200);
    Reply crash = Fetch("POST", planner_.url + "/fn/crashy/crash", "");
    EXPECT_EQ(crash.status, 502) << crash.Describe();
    EXPECT_NE(crash.body.find("SIGSEGV"), std::string::npos) << crash.body;
    EXPECT_NE(crash.body.find("about to crash"), std::string::npos) << crash.body;
    Reply after = Get("crashy", "/version");
    EXPECT_EQ(after.status, 200) << after.Describe();
    EXPECT_FALSE(h_.Reap(*worker_));
    EXPECT_GE(NumAt(Function("crashy"), "cold_starts"), 2);
  }
};

TEST_F(FunctionsHttpTest, PathQueryHeadersAndBodyRoundTrip) {
  Start();
  ExpectRoundTrip();
  // The instance stays: the next calls are warm.
  EXPECT_EQ(NumAt(Function("echo"), "cold_starts"), 1);
  // The sandbox applies: the worker's token file is not there for the server.
  Reply peek = Get("echo", "/peek?" + join_file_);
  EXPECT_EQ(peek.status, 200) << peek.Describe();
  EXPECT_EQ(peek.body, "hidden");
}

TEST_F(FunctionsHttpTest, WithoutASandbox) {
  Start({"--sandbox", "none"});
  // Without a sandbox nothing ends the servers with their worker but the worker itself: each
  // writes its pid here, and the worker's exit must leave none running.
  const std::string pids = TempPath("pids");
  fs::create_directories(pids);
  ExpectRoundTrip({"--env", "PIDDIR=" + pids});
  ExpectCrashReplaced({"--env", "PIDDIR=" + pids});
  h_.Signal(*worker_, SIGTERM);
  ASSERT_TRUE(h_.WaitExit(*worker_, seconds(60)));
  int servers = 0;
  for (const auto& e : fs::directory_iterator(pids)) {
    ++servers;
    const int pid = std::stoi(e.path().filename().string());
    EXPECT_TRUE(PollUntil([&] { return ::kill(pid, 0) != 0; }, seconds(30)))
        << "server " << pid << " outlived its worker";
  }
  EXPECT_GE(servers, 3);  // echo, crashy and crashy's replacement
}

TEST_F(FunctionsHttpTest, InAColdSandbox) {
  Start({"--sandbox-zygote=false"});
  ExpectRoundTrip();
}

TEST_F(FunctionsHttpTest, ACrashMidCallIs502AndTheInstanceIsReplaced) {
  Start();
  ExpectCrashReplaced();
}

TEST_F(FunctionsHttpTest, SlowAnswersAndTheTimeout) {
  Start();
  Deploy("slow", {"--timeout", "30"});
  Reply slow = Get("slow", "/slow?1");
  EXPECT_EQ(slow.status, 200) << slow.Describe();
  EXPECT_EQ(slow.body, "slept");
  Deploy("late", {"--timeout", "1"});
  Reply late = Get("late", "/slow?20");
  EXPECT_EQ(late.status, 502) << late.Describe();
  EXPECT_NE(late.body.find("timed out after 1 s"), std::string::npos) << late.body;
  // The instance lives on and answers the next call.
  EXPECT_EQ(Get("late", "/version").status, 200);
}

TEST_F(FunctionsHttpTest, AnInstanceThatNeverBecomesReadyIsStoppedAndReported) {
  Start();
  // Listens, but its readiness path fails.
  Deploy("unready", {"--ready", "/nothing-here", "--ready-timeout", "5"}, NotFoundAs503());
  Reply r = Get("unready", "/version");
  EXPECT_EQ(r.status, 502) << r.Describe();
  EXPECT_NE(r.body.find("did not answer GET /nothing-here within 5 s"), std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("GET /nothing-here answered 503"), std::string::npos) << r.body;
  // Never listens at all.
  CommandResult d = Volo({"fn", "deploy", "sleeper", "--bundle", Bundle("x", ""), "--http",
                          "--ready-timeout", "1", "--cmd", "--", "sleep", "600"});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  Reply s = Get("sleeper", "");
  EXPECT_EQ(s.status, 502) << s.Describe();
  EXPECT_NE(s.body.find("did not answer GET / within 1 s"), std::string::npos) << s.body;
  // A server that exits at once: its own words are in the answer.
  CommandResult e = Volo({"fn", "deploy", "quits", "--http", "--cmd", "--", "sh", "-c",
                          "echo no config found >&2; exit 4"});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  Reply q = Get("quits", "");
  EXPECT_EQ(q.status, 502) << q.Describe();
  EXPECT_NE(q.body.find("exited with status 4"), std::string::npos) << q.body;
  EXPECT_NE(q.body.find("no config found"), std::string::npos) << q.body;
  EXPECT_FALSE(h_.Reap(*worker_));
}

TEST_F(FunctionsHttpTest, OneInstanceTakesConcurrencyCallsAtOnce) {
  Start();
  Deploy("conc", {"--max", "1", "--concurrency", "4"});
  ASSERT_EQ(Get("conc", "/version").status, 200);
  std::vector<std::thread> callers;
  std::atomic<int> together{0};
  std::vector<std::string> answers(4);
  for (int i = 0; i < 4; ++i) {
    callers.emplace_back([&, i] {
      Reply r = Get("conc", "/together?4");
      answers[i] = r.Describe();
      if (r.status == 200 && r.body == "together") ++together;
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(together.load(), 4) << answers[0] << answers[1] << answers[2] << answers[3];
  EXPECT_EQ(NumAt(Function("conc").at("instances").as_object(), "total"), 1);
}

TEST_F(FunctionsHttpTest, ADeployDuringAStreamOfCallsFailsNone) {
  Start();
  Deploy("ver", {"--max", "2", "--env", "VERSION=v1"});
  ASSERT_EQ(Get("ver", "/version").body, "v1");
  ASSERT_NO_FATAL_FAILURE(
      ExpectDeployDuringCallsFailsNone([&] { return Get("ver", "/version"); }, "v1", "v2",
                                       [&] {
                                         Deploy("ver", {"--max", "2", "--env", "VERSION=v2"});
                                       },
                                       20));
  EXPECT_EQ(NumAt(Function("ver"), "errors"), 0);
}

TEST_F(FunctionsHttpTest, BadSpecsAreRefused) {
  Start();
  CommandResult r = Volo({"fn", "deploy", "bad", "--http", "--ready", "no-slash", "--cmd", "--",
                          "python3", "server.py"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("ready: must be a path starting with '/'"), std::string::npos) << r.err;
  CommandResult c = Volo({"fn", "deploy", "bad", "--ready", "/x", "--cmd", "--", "cat"});
  EXPECT_EQ(c.exit_code, 2);
  EXPECT_NE(c.err.find("--http"), std::string::npos) << c.err;
}

}  // namespace
}  // namespace volo::itest

namespace volo::itest {
namespace {

// The server's stderr reaches the planner as it runs (fn_log): `volo fn logs` shows its start
// line and a line per request, each tagged with the revision and the instance; a follow (REST
// and `volo fn logs --follow`) receives a line written after it started.
TEST_F(FunctionsHttpTest, FnLogsShowTheServersStderr) {
  Start();
  Deploy("talky");
  ASSERT_EQ(Get("talky", "/version").status, 200);
  const std::string rev = Str(Function("talky"), "revision").substr(0, 12);
  CommandResult logs;
  ASSERT_TRUE(PollUntil(
      [&] {
        logs = Volo({"fn", "logs", "talky"});
        return logs.out.find("\"GET /version") != std::string::npos;
      },
      seconds(20)))
      << logs.out << logs.err;
  EXPECT_EQ(logs.exit_code, 0);
  EXPECT_NE(logs.out.find("serving on port"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find(" " + rev + " i"), std::string::npos) << logs.out;

  // `volo fn logs --follow` keeps printing: a request made after it started shows.
  Child* follow = h_.Spawn("follow", {"fn", "logs", "--planner", planner_.url, "--token-file",
                                      api_file_, "talky", "--follow"});
  ASSERT_NE(follow, nullptr);
  ASSERT_TRUE(PollUntil(
      [&] { return ReadFile(follow->log_path).find("serving on port") != std::string::npos; },
      seconds(20)))
      << ReadFile(follow->log_path);
  // The REST follow from the log's end waits for the next line.
  Reply now = Api("GET", "/functions/talky/logs");
  ASSERT_EQ(now.status, 200) << now.Describe();
  auto end = static_cast<uint64_t>(NumAt(now.obj(), "size"));
  std::thread later([&] { Get("talky", "/echo/after-the-follow"); });
  std::string seen;
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (seen.find("/echo/after-the-follow") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    Reply r = Api("GET", "/functions/talky/logs?follow=1&offset=" + std::to_string(end));
    ASSERT_EQ(r.status, 200) << r.Describe();
    seen += Str(r.obj(), "text");
    end = static_cast<uint64_t>(NumAt(r.obj(), "next"));
  }
  later.join();
  EXPECT_NE(seen.find("/echo/after-the-follow"), std::string::npos) << seen;
  EXPECT_TRUE(PollUntil(
      [&] {
        return ReadFile(follow->log_path).find("/echo/after-the-follow") != std::string::npos;
      },
      seconds(20)))
      << ReadFile(follow->log_path);
  EXPECT_FALSE(h_.Reap(*follow));  // still following
  h_.Kill(*follow);
}

}  // namespace
}  // namespace volo::itest
