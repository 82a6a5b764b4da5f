// The `fly` function runner on real processes (docs/functions.md, "Runners"): an instance is a
// `volo __fn-fly` child of the worker that compiled the function's FLY program once; each call
// calls F(body) or F(body, request) in a warm VM and its return value is the answer. Cold then
// warm; String, map and other answers; the request's fields; a runtime error (500 with
// file:line:col); a compile error or a missing function refused at deploy; FLY's memory limit,
// the timeout and a killed instance (502, then the next call works on a new instance, the worker
// lives); concurrency; a deploy during a stream of calls; metering; `volo fn logs`.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "functions_fixture.h"

namespace volo::itest {
namespace {

namespace fs = std::filesystem;

// The function: routes on the request's path.
constexpr const char* kProgram = R"FLY(const greeting = "hello"
println("loaded")

func spin(ms) {
  var t = time()
  var n = 0
  while (time(t) < ms) {
    n++
  }
  return n
}

func handle(body, req) {
  var p = req.path
  if (p == "/map") {
    var h = {}
    h["X-Fly"] = "yes"
    h["Content-Type"] = "text/x-fly"
    return {status = 201, headers = h, body = "made " + body}
  }
  if (p == "/req") {
    return {method = req.method, path = req.path, query = req.query,
            color = req.headers["x-color"], body = body}
  }
  if (p == "/fail") {
    var zero = 0
    return 1 / zero
  }
  if (p == "/hog") {
    var m = {}
    var i = 0
    while (true) {
      m[i] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" + i
      i++
    }
  }
  if (p == "/forever") {
    while (true) {
      spin(10)
    }
  }
  if (p == "/overlap") {
    var start = time()
    spin(3000)
    return {start = start, end = time()}
  }
  if (p == "/print") {
    println("printed " + body)
    return "ok"
  }
  return greeting + " " + body
}
)FLY";

class FunctionsFlyTest : public FunctionsFixture {
 protected:
  void Start(const std::vector<std::string>& worker_args = {}) {
    StartPlannerAndWorker(/*tokens=*/true, worker_args);
  }
  Reply Call(const std::string& name, const std::string& rest, const std::string& body = "",
             net::Headers h = {}) {
    return Fetch("POST", planner_.url + "/fn/" + name + rest, body, true, std::move(h));
  }
  // A call to `rest` that ends its instance is a 502 naming `why`, and the next call (body
  // `next`) is answered by a new instance.
  void ExpectEndsWith502(const std::string& name, const std::string& rest, const std::string& why,
                         const std::string& next) {
    Reply ended = Call(name, rest);
    EXPECT_EQ(ended.status, 502) << ended.Describe();
    EXPECT_NE(ended.body.find(why), std::string::npos) << ended.body;
    Reply after = Call(name, "", next);
    EXPECT_EQ(after.status, 200) << after.Describe();
    EXPECT_EQ(after.body, "hello " + next);
  }
  // Deploys `program` (as handler.fly in a fresh bundle) with F = `func`.
  CommandResult TryDeploy(const std::string& name, const std::string& program,
                          std::vector<std::string> flags = {}, const std::string& func = "handle") {
    std::vector<std::string> args = {
        "fn",    "deploy",      name,     "--bundle", Bundle("handler.fly", program),
        "--fly", "handler.fly", "--func", func};
    args.insert(args.end(), flags.begin(), flags.end());
    return Volo(args);
  }
  void Deploy(const std::string& name, const std::string& program = kProgram,
              std::vector<std::string> flags = {}) {
    CommandResult r = TryDeploy(name, program, std::move(flags));
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    ASSERT_NE(r.out.find("deployed"), std::string::npos) << r.out;
  }
  // The pids of the worker's `volo __fn-fly` children (any depth).
  std::vector<pid_t> FlyInstances() {
    std::vector<pid_t> out;
    for (const auto& e : fs::directory_iterator("/proc")) {
      const std::string name = e.path().filename().string();
      if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
      std::string cmdline = ReadFile(e.path().string() + "/cmdline");
      if (cmdline.find("__fn-fly") == std::string::npos) continue;
      // Its ancestors must include the worker.
      pid_t p = std::stoi(name);
      for (int depth = 0; depth < 16 && p > 1; ++depth) {
        if (p == worker_->pid) {
          out.push_back(std::stoi(name));
          break;
        }
        std::string stat = ReadFile("/proc/" + std::to_string(p) + "/stat");
        size_t close = stat.rfind(')');
        if (close == std::string::npos) break;
        p = std::atoi(stat.c_str() + close + 4);  // ") S PPID"
      }
    }
    return out;
  }
};

TEST_F(FunctionsFlyTest, ColdThenWarmAndEachKindOfAnswer) {
  Start();
  Deploy("greet");
  Reply cold = Call("greet", "", "world");
  ASSERT_EQ(cold.status, 200) << cold.Describe();
  EXPECT_EQ(cold.body, "hello world");  // a const from the top level, a String answer
  for (int i = 0; i < 20; ++i) {
    Reply warm = Call("greet", "", "again" + std::to_string(i));
    ASSERT_EQ(warm.status, 200) << warm.Describe();
    EXPECT_EQ(warm.body, "hello again" + std::to_string(i));
  }
  // One instance served them all: the program was compiled once.
  EXPECT_EQ(NumAt(Function("greet"), "cold_starts"), 1);
  CommandResult ls = Volo({"fn", "ls"});
  EXPECT_NE(ls.out.find("fly handler.fly handle()"), std::string::npos) << ls.out << ls.err;
  Reply usage = Api("GET", "/functions/greet/usage");
  EXPECT_EQ(NumAt(usage.obj(), "cold"), 1) << usage.body;

  // A map {status, headers, body} is the whole answer.
  auto raw = net::HttpFetch("POST", planner_.url + "/fn/greet/map", "it",
                            {{"Authorization", std::string("Bearer ") + kApiToken}}, seconds(30));
  ASSERT_TRUE(raw.ok()) << raw.status().message();
  EXPECT_EQ(raw->status, 201);
  EXPECT_EQ(raw->body, "made it");
  EXPECT_EQ(raw->content_type, "text/x-fly");

  // The request's fields reach F; another map is answered as JSON.
  Reply req = Call("greet", "/req?x=1&y=%2F", "payload", {{"X-Color", "red"}});
  ASSERT_EQ(req.status, 200) << req.Describe();
  json::object seen = req.obj();
  EXPECT_EQ(Str(seen, "method"), "POST") << req.body;
  EXPECT_EQ(Str(seen, "path"), "/req") << req.body;
  EXPECT_EQ(Str(seen, "query"), "x=1&y=%2F") << req.body;
  EXPECT_EQ(Str(seen, "color"), "red") << req.body;
  EXPECT_EQ(Str(seen, "body"), "payload") << req.body;
}

TEST_F(FunctionsFlyTest, InAColdSandbox) {
  // A bwrap of its own per instance, the worker's binary bound into it.
  Start({"--sandbox-zygote=false"});
  Deploy("cold");
  Reply r = Call("cold", "", "sandbox");
  EXPECT_EQ(r.status, 200) << r.Describe();
  EXPECT_EQ(r.body, "hello sandbox");
}

// In the warm sandbox (the default) an instance starts in a fork of the sandbox's zygote, not
// by exec (sandbox.h, zygote.h): still a process of its own per instance, in PID namespaces of
// its own, with its own globals, its memory limit and timeout, and the next cold start after a
// crash works.
TEST_F(FunctionsFlyTest, InTheWarmSandboxEachInstanceIsAForkOfItsOwnWithItsOwnGlobalsAndLimits) {
  Start();
  const std::string counter =
      "const state = {n = 0}\nfunc handle(body) {\n  state[\"n\"] = state[\"n\"] + 1\n"
      "  return body + \" \" + state[\"n\"]\n}\n";
  Deploy("one", counter, {"--max", "1"});
  Deploy("two", counter, {"--max", "1"});
  Reply first = Call("one", "", "a");
  ASSERT_EQ(first.status, 200) << first.Describe();
  EXPECT_EQ(first.body, "a 1");
  EXPECT_EQ(Call("one", "", "a").body, "a 2");
  // The second function's instance has its own globals, not the first's.
  EXPECT_EQ(Call("two", "", "b").body, "b 1");
  EXPECT_EQ(Call("one", "", "a").body, "a 3");
  // Two processes, each shown as what it runs, each PID 2 of a PID namespace of its own (its
  // task init is 1).
  std::vector<pid_t> pids;
  ASSERT_TRUE(PollUntil([&] { return (pids = FlyInstances()).size() == 2; }, seconds(20)))
      << pids.size();
  for (pid_t pid : pids) {
    std::string status = ReadFile("/proc/" + std::to_string(pid) + "/status");
    size_t at = status.find("NSpid:");
    ASSERT_NE(at, std::string::npos) << status;
    std::string line = status.substr(at, status.find('\n', at) - at);
    EXPECT_EQ(line.substr(line.find_last_of(" \t") + 1), "2") << line;
  }

  Deploy("limited", kProgram, {"--memory", "256", "--timeout", "5", "--max", "1"});
  ASSERT_EQ(Call("limited", "", "a").body, "hello a");
#if !defined(__SANITIZE_ADDRESS__)  // the instance's own memory would exceed the limit
  ExpectEndsWith502("limited", "/hog", "out of memory", "b");
#endif
  ExpectEndsWith502("limited", "/forever", "timed out after 5 s", "c");
  EXPECT_FALSE(h_.Reap(*worker_));
}

TEST_F(FunctionsFlyTest, WithoutASandbox) {
  Start({"--sandbox", "none"});
  Deploy("bare");
  Reply r = Call("bare", "", "host");
  EXPECT_EQ(r.status, 200) << r.Describe();
  EXPECT_EQ(r.body, "hello host");
}

TEST_F(FunctionsFlyTest, ARuntimeErrorIs500WithFileLineAndColumn) {
  Start();
  Deploy("errs");
  Reply r = Call("errs", "/fail");
  EXPECT_EQ(r.status, 500) << r.Describe();
  EXPECT_EQ(r.body.rfind("handler.fly:27:", 0), 0u) << r.body;
  EXPECT_NE(r.body.find("division by zero"), std::string::npos) << r.body;
  // The VM lives on: the next call is answered by the same instance.
  EXPECT_EQ(Call("errs", "", "x").body, "hello x");
  EXPECT_EQ(NumAt(Function("errs"), "cold_starts"), 1);
}

TEST_F(FunctionsFlyTest, AProgramThatDoesNotCompileOrLacksFIsRefusedAtDeploy) {
  Start();
  CommandResult bad = TryDeploy("bad", "func handle(body {\n}\n");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("handler.fly:1:18: expected ')'"), std::string::npos) << bad.err;
  CommandResult none = TryDeploy("none", kProgram, {}, "nope");
  EXPECT_NE(none.exit_code, 0);
  EXPECT_NE(none.err.find("handler.fly has no function 'nope'"), std::string::npos) << none.err;
  CommandResult many = TryDeploy("many", "func handle(a, b, c) {\n  return a\n}\n");
  EXPECT_NE(many.exit_code, 0);
  EXPECT_NE(many.err.find("takes 3 parameters"), std::string::npos) << many.err;
  EXPECT_EQ(Api("GET", "/functions/bad").status, 404);
  // The REST API checks the same (the CLI is not the only client).
  Reply put = Fetch("PUT", planner_.Api("/functions/raw"),
                    R"({"runner": "fly", "fly": {"file": "x.fly", "source": "var = 1", )"
                    R"("function": "f"}})");
  EXPECT_EQ(put.status, 400) << put.Describe();
  EXPECT_NE(put.body.find("x.fly:1:5:"), std::string::npos) << put.body;
  // A top level that fails: the instance cannot start, and the call says why.
  Deploy("top",
         "func f(n) { return 1 / n }\nconst x = f(0)\nfunc handle(body) {\n  return body\n}\n");
  Reply top = Call("top", "", "x");
  EXPECT_EQ(top.status, 502) << top.Describe();
  EXPECT_NE(top.body.find("handler.fly:1:"), std::string::npos) << top.body;
  EXPECT_FALSE(h_.Reap(*worker_));
}

TEST_F(FunctionsFlyTest, MemoryLimitTimeoutAndAKilledInstanceAre502ThenTheNextCallWorks) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "under AddressSanitizer the instance's own memory exceeds the 256 MiB limit";
#endif
  Start({"--sandbox", "none"});
  Deploy("crashy", kProgram, {"--memory", "256", "--timeout", "5", "--max", "1"});
  ASSERT_EQ(Call("crashy", "", "a").status, 200);

  ExpectEndsWith502("crashy", "/hog", "out of memory", "b");
  ExpectEndsWith502("crashy", "/forever", "timed out after 5 s", "c");

  // An instance killed mid-call (by pid): that call is a 502 naming the signal.
  std::atomic<bool> done{false};
  Reply killed;
  std::thread caller([&] {
    killed = Call("crashy", "/overlap");
    done = true;
  });
  std::vector<pid_t> pids;
  ASSERT_TRUE(PollUntil([&] { return (pids = FlyInstances()).size() == 1; }, seconds(20)));
  // The call is running once the instance has it; the planner says so.
  ASSERT_TRUE(PollUntil([&] { return NumAt(Function("crashy"), "inflight") >= 1; }, seconds(20)));
  ::kill(pids[0], SIGSEGV);
  caller.join();
  EXPECT_EQ(killed.status, 502) << killed.Describe();
  EXPECT_NE(killed.body.find("SIGSEGV"), std::string::npos) << killed.body;
  EXPECT_EQ(Call("crashy", "", "d").body, "hello d");
  EXPECT_FALSE(h_.Reap(*worker_));
  EXPECT_GE(NumAt(Function("crashy"), "cold_starts"), 4);
}

TEST_F(FunctionsFlyTest, OneInstanceRunsConcurrencyCallsAtOnce) {
  Start();
  Deploy("conc", kProgram, {"--max", "1", "--concurrency", "3"});
  ASSERT_EQ(Call("conc", "", "warm").status, 200);
  std::vector<std::thread> callers;
  std::vector<Reply> answers(3);
  for (int i = 0; i < 3; ++i) {
    callers.emplace_back([&, i] { answers[i] = Call("conc", "/overlap"); });
  }
  for (auto& t : callers) t.join();
  double last_start = 0, first_end = 1e18;
  for (const Reply& r : answers) {
    ASSERT_EQ(r.status, 200) << r.Describe();
    last_start = std::max(last_start, NumAt(r.obj(), "start"));
    first_end = std::min(first_end, NumAt(r.obj(), "end"));
  }
  // Every call had started before any ended: they ran at once, in one instance.
  EXPECT_LT(last_start, first_end) << answers[0].body << answers[1].body << answers[2].body;
  EXPECT_EQ(NumAt(Function("conc").at("instances").as_object(), "total"), 1);
}

// Many callers at once: the planner sends the calls of one turn to the worker as one fn_batch and
// the worker its answers likewise (docs/protocol.md, "Functions"); each caller still gets the
// answer to its own call, with its own request, and none fails.
TEST_F(FunctionsFlyTest, ManyConcurrentCallsEachGetTheirOwnAnswer) {
  Start();
  Deploy("many", kProgram, {"--max", "1", "--concurrency", "2", "--queue", "10000"});
  ASSERT_EQ(Call("many", "", "warm").status, 200);
  constexpr int kCallers = 16, kEach = 40;
  std::vector<std::string> wrong(kCallers);
  std::vector<std::thread> callers;
  for (int i = 0; i < kCallers; ++i) {
    callers.emplace_back([&, i] {
      for (int k = 0; k < kEach && wrong[i].empty(); ++k) {
        const std::string body = "caller " + std::to_string(i) + " call " + std::to_string(k);
        if (k % 2 == 0) {
          Reply r = Call("many", "", body);
          if (r.status != 200 || r.body != "hello " + body) wrong[i] = body + ": " + r.Describe();
        } else {
          // The request's parts travel with their call too.
          const std::string q = "n=" + std::to_string(i * 1000 + k);
          Reply r = Call("many", "/req?" + q, body, {{"X-Color", std::to_string(i)}});
          if (r.status != 200 || !r.json.is_object() || Str(r.obj(), "body") != body ||
              Str(r.obj(), "query") != q || Str(r.obj(), "color") != std::to_string(i)) {
            wrong[i] = body + ": " + r.Describe();
          }
        }
      }
    });
  }
  for (auto& t : callers) t.join();
  for (int i = 0; i < kCallers; ++i) EXPECT_EQ(wrong[i], "") << "caller " << i;
  Reply usage = Api("GET", "/functions/many/usage");
  ASSERT_EQ(usage.status, 200) << usage.Describe();
  EXPECT_EQ(NumAt(usage.obj(), "calls"), kCallers * kEach + 1) << usage.body;
  EXPECT_EQ(NumAt(usage.obj(), "errors"), 0) << usage.body;
}

TEST_F(FunctionsFlyTest, ADeployDuringAStreamOfCallsFailsNone) {
  Start();
  auto version = [](const std::string& v) {
    return "func handle(body) {\n  return \"" + v + "\"\n}\n";
  };
  Deploy("ver", version("v1"), {"--max", "2"});
  ASSERT_EQ(Call("ver", "").body, "v1");
  ASSERT_NO_FATAL_FAILURE(
      ExpectDeployDuringCallsFailsNone([&] { return Call("ver", ""); }, "v1", "v2",
                                       [&] {
                                         Deploy("ver", version("v2"), {"--max", "2"});
                                       },
                                       20));
  EXPECT_EQ(NumAt(Function("ver"), "errors"), 0);
}

TEST_F(FunctionsFlyTest, MeteringSumsAndLogs) {
  Start();
  Deploy("meter");
  const int kCalls = 12;
  for (int i = 0; i < kCalls; ++i)
    ASSERT_EQ(Call("meter", "/print", std::to_string(i)).status, 200);
  ASSERT_EQ(Call("meter", "/fail").status, 500);
  Reply usage = Api("GET", "/functions/meter/usage");
  ASSERT_EQ(usage.status, 200) << usage.Describe();
  EXPECT_EQ(NumAt(usage.obj(), "calls"), kCalls + 1) << usage.body;
  EXPECT_EQ(NumAt(usage.obj(), "errors"), 1) << usage.body;
  EXPECT_GT(NumAt(usage.obj(), "cpu_seconds"), 0) << usage.body;
  EXPECT_GT(NumAt(usage.obj(), "peak_memory"), 0) << usage.body;
  EXPECT_EQ(NumAt(usage.obj().at("callers").as_object().at("api").as_object(), "calls"), kCalls + 1)
      << usage.body;
  // What F prints (and the top level, and a runtime error's trace) is the function's log.
  CommandResult logs;
  ASSERT_TRUE(PollUntil(
      [&] {
        logs = Volo({"fn", "logs", "meter"});
        return logs.out.find("printed 11") != std::string::npos &&
               logs.out.find("at handle") != std::string::npos;
      },
      seconds(20)))
      << logs.out << logs.err;
  EXPECT_NE(logs.out.find("loaded"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("printed 0"), std::string::npos) << logs.out;
}

}  // namespace
}  // namespace volo::itest
