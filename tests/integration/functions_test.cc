// Functions as a service on real processes (docs/functions.md): `volo fn deploy` stores a
// function, `POST /fn/NAME` through the planner runs it on a worker in the sandbox, cold then
// warm; instances stop when idle and start again; --min keeps one warm; the hold queue's 429;
// crashes and failures are 502s and the worker lives on; a deploy during a stream of calls
// fails none; rollback; metering sums equal the calls made; tokens and bad input.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "functions_fixture.h"

namespace volo::itest {
namespace {

// A shell script as the function: `handler.sh` in the bundle, run by `sh`.
class FunctionsTest : public FunctionsFixture {
 protected:
  // A planner (with `tokens`, asking for the API token) and the worker, which also serves on
  // a port of its own.
  void Start(bool tokens = false, const std::vector<std::string>& worker_args = {}) {
    std::vector<std::string> wargs = {"--port", "0", "--port-file", TempPath("worker.port")};
    wargs.insert(wargs.end(), worker_args.begin(), worker_args.end());
    StartPlannerAndWorker(tokens, wargs);
  }
  Reply CallFn(const std::string& name, const std::string& body, bool token = true) {
    return Fetch("POST", planner_.url + "/fn/" + name, body, token);
  }
  void Deploy(const std::string& name, const std::string& script,
              const std::vector<std::string>& flags = {}) {
    DeployBundle(name, "handler.sh", script, flags, {"sh", "handler.sh"});
  }
  double Instances(const std::string& name, const char* which = "total") {
    return NumAt(Function(name).at("instances").as_object(), which);
  }
};

TEST_F(FunctionsTest, ColdThenWarmThroughTheCliAndHttp) {
  Start();
  Deploy("upper", "tr a-z A-Z\n");
  CommandResult first = Volo({"fn", "invoke", "upper", "--data", "hello"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out, "HELLO");
  const std::string input_file = TempPath("input");
  std::ofstream(input_file) << "from a file\n";
  CommandResult second = Volo({"fn", "invoke", "upper", "--data", "@" + input_file});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.out, "FROM A FILE\n");
  // The first call was cold (held while the instance started), the second warm.
  json::object f = Function("upper");
  EXPECT_EQ(NumAt(f, "cold_starts"), 1) << json::serialize(f);
  EXPECT_EQ(NumAt(f, "calls"), 2);
  Reply usage = Api("GET", "/functions/upper/usage");
  ASSERT_EQ(usage.status, 200) << usage.Describe();
  EXPECT_EQ(NumAt(usage.obj(), "cold"), 1) << usage.body;

  // Binary bodies cross intact both ways.
  Deploy("same", "cat\n");
  std::string binary;
  for (int i = 0; i < 256; ++i) binary += static_cast<char>(i);
  Reply echo = CallFn("same", binary);
  ASSERT_EQ(echo.status, 200) << echo.Describe();
  EXPECT_EQ(echo.body, binary);

  CommandResult ls = Volo({"fn", "ls"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_NE(ls.out.find("upper"), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("sh handler.sh"), std::string::npos) << ls.out;

  CommandResult rm = Volo({"fn", "rm", "same"});
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_EQ(CallFn("same", "x").status, 404);
}

TEST_F(FunctionsTest, FailuresAndCrashesAre502AndTheWorkerLivesOn) {
  Start();
  Deploy("fails", "echo 'bad input: no digits' >&2\nexit 3\n");
  Reply r = CallFn("fails", "x");
  EXPECT_EQ(r.status, 502) << r.Describe();
  EXPECT_NE(Str(r.obj(), "error").find("exited with status 3"), std::string::npos) << r.body;
  EXPECT_NE(Str(r.obj(), "error").find("bad input: no digits"), std::string::npos) << r.body;

  Deploy("crashes", "read line\nif [ \"$line\" = crash ]; then kill -SEGV $$; fi\necho fine\n");
  Reply crash = CallFn("crashes", "crash\n");
  EXPECT_EQ(crash.status, 502) << crash.Describe();
  EXPECT_NE(Str(crash.obj(), "error").find("SIGSEGV"), std::string::npos) << crash.body;
  Reply fine = CallFn("crashes", "ok\n");
  EXPECT_EQ(fine.status, 200) << fine.Describe();
  EXPECT_EQ(fine.body, "fine\n");
  EXPECT_FALSE(h_.Reap(*worker_));

  Deploy("slow", "sleep 30\n", {"--timeout", "1"});
  Reply slow = CallFn("slow", "");
  EXPECT_EQ(slow.status, 502) << slow.Describe();
  EXPECT_NE(Str(slow.obj(), "error").find("timed out"), std::string::npos) << slow.body;

  // A program that is not there: the call says so.
  CommandResult missing = Volo({"fn", "deploy", "missing", "--cmd", "--", "/no/such/program"});
  ASSERT_EQ(missing.exit_code, 0) << missing.err;
  Reply m = CallFn("missing", "");
  EXPECT_EQ(m.status, 502) << m.Describe();
  EXPECT_NE(m.body.find("/no/such/program"), std::string::npos) << m.body;
}

TEST_F(FunctionsTest, IdleInstancesStopAndTheNextCallStartsOneAgain) {
  Start();
  Deploy("idle", "cat\n", {"--idle", "0.3"});
  ASSERT_EQ(CallFn("idle", "1").status, 200);
  ASSERT_TRUE(PollUntil([&] { return Instances("idle") == 0; }, seconds(20)))
      << json::serialize(Function("idle"));
  Reply again = CallFn("idle", "2");
  EXPECT_EQ(again.status, 200) << again.Describe();
  EXPECT_EQ(again.body, "2");
  json::object f = Function("idle");
  EXPECT_EQ(NumAt(f, "cold_starts"), 2) << json::serialize(f);
  EXPECT_GE(NumAt(f, "instances_stopped"), 1) << json::serialize(f);
}

TEST_F(FunctionsTest, MinKeepsOneWarm) {
  Start();
  Deploy("warm", "cat\n", {"--min", "1", "--idle", "0.1"});
  ASSERT_TRUE(PollUntil([&] { return Instances("warm", "ready") == 1; }, seconds(20)))
      << json::serialize(Function("warm"));
  Reply r = CallFn("warm", "x");
  EXPECT_EQ(r.status, 200) << r.Describe();
  // A witness with the same --idle and no --min: once its instance has stopped, the idle time
  // has passed for both.
  Deploy("witness", "cat\n", {"--idle", "0.1"});
  ASSERT_EQ(CallFn("witness", "x").status, 200);
  ASSERT_TRUE(PollUntil([&] { return Instances("witness") == 0; }, seconds(20)));
  json::object f = Function("warm");
  EXPECT_EQ(NumAt(f.at("instances").as_object(), "ready"), 1) << json::serialize(f);
  EXPECT_EQ(NumAt(f, "instances_started"), 1) << json::serialize(f);
  EXPECT_EQ(NumAt(f, "instances_stopped"), 0) << json::serialize(f);
  Reply usage = Api("GET", "/functions/warm/usage");
  EXPECT_EQ(NumAt(usage.obj(), "cold"), 0) << usage.body;
  EXPECT_EQ(NumAt(usage.obj(), "calls"), 1) << usage.body;
}

TEST_F(FunctionsTest, AFullQueueAnswers429WithRetryAfter) {
  Start();
  Deploy("busy", "sleep 2\necho done\n", {"--max", "1", "--concurrency", "1", "--queue", "1"});
  Reply first, second;
  std::thread t1([&] { first = CallFn("busy", "1"); });
  ASSERT_TRUE(PollUntil([&] { return NumAt(Function("busy"), "inflight") == 1; }, seconds(20)));
  std::thread t2([&] { second = CallFn("busy", "2"); });
  ASSERT_TRUE(PollUntil([&] { return NumAt(Function("busy"), "queued") == 1; }, seconds(20)));
  auto r = net::HttpFetch("POST", planner_.url + "/fn/busy", "3");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 429) << r->body;
  EXPECT_NE(r->body.find("busy"), std::string::npos) << r->body;
  t1.join();
  t2.join();
  EXPECT_EQ(first.status, 200) << first.Describe();
  EXPECT_EQ(second.status, 200) << second.Describe();
  EXPECT_EQ(NumAt(Function("busy"), "rejected"), 1);
}

TEST_F(FunctionsTest, TheSandboxAppliesToFunctions) {
  Start();
  Deploy("peek", "cat " + join_file_ + " 2>/dev/null && echo token-read || echo token-hidden\n" +
                     "env | grep -c -e join-secret -e VOLO_TOKEN || true\n");
  Reply r = CallFn("peek", "");
  ASSERT_EQ(r.status, 200) << r.Describe();
  EXPECT_EQ(r.body, "token-hidden\n0\n");
}

TEST_F(FunctionsTest, TokensAndBadInput) {
  Start(/*tokens=*/true);
  Deploy("private", "cat\n");
  Deploy("open", "cat\n", {"--public"});
  EXPECT_EQ(CallFn("private", "x", /*token=*/false).status, 401);
  EXPECT_EQ(CallFn("private", "x").status, 200);
  Reply pub = CallFn("open", "hi", /*token=*/false);
  EXPECT_EQ(pub.status, 200) << pub.Describe();
  EXPECT_EQ(pub.body, "hi");
  EXPECT_EQ(Api("GET", "/functions", "", /*token=*/false).status, 401);
  Reply usage = Api("GET", "/functions/open/usage");
  ASSERT_TRUE(usage.obj().contains("callers")) << usage.body;
  EXPECT_EQ(NumAt(usage.obj().at("callers").as_object().at("public").as_object(), "calls"), 1)
      << usage.body;

  Reply unknown = CallFn("nothing-here", "");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(Str(unknown.obj(), "error").find("no function nothing-here"), std::string::npos);
  EXPECT_EQ(CallFn("Bad_Name", "").status, 400);
  Reply bad = Api("PUT", "/functions/f", R"({"cmd":["x"],"max":0})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(Str(bad.obj(), "error").find("max"), std::string::npos) << bad.body;
  Reply nobundle =
      Api("PUT", "/functions/f", R"({"cmd":["x"],"bundle":")" + std::string(64, 'a') + "\"}");
  EXPECT_EQ(nobundle.status, 400);
  EXPECT_NE(nobundle.body.find("no bundle"), std::string::npos) << nobundle.body;
  CommandResult nocmd = Volo({"fn", "deploy", "f"});
  EXPECT_EQ(nocmd.exit_code, 2);
  EXPECT_NE(nocmd.err.find("--cmd"), std::string::npos) << nocmd.err;
  CommandResult badname = Volo({"fn", "deploy", "No_Good", "--cmd", "--", "cat"});
  EXPECT_EQ(badname.exit_code, 1);
  EXPECT_NE(badname.err.find("function name"), std::string::npos) << badname.err;
  CommandResult failing = Volo({"fn", "invoke", "nothing-here"});
  EXPECT_EQ(failing.exit_code, 1);
  EXPECT_NE(failing.err.find("404"), std::string::npos) << failing.err;
}

TEST_F(FunctionsTest, ADeployDuringAStreamOfCallsFailsNoneAndRollbackReturns) {
  Start();
  Deploy("ver", "echo v1\n", {"--max", "2"});
  ASSERT_EQ(CallFn("ver", "").body, "v1\n");
  ASSERT_NO_FATAL_FAILURE(
      ExpectDeployDuringCallsFailsNone([&] { return CallFn("ver", ""); }, "v1\n", "v2\n",
                                       [&] {
                                         Deploy("ver", "echo v2\n", {"--max", "2"});
                                       },
                                       3));

  CommandResult rb = Volo({"fn", "rollback", "ver"});
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  EXPECT_EQ(CallFn("ver", "").body, "v1\n");
  EXPECT_EQ(NumAt(Function("ver"), "errors"), 0);
}

TEST_F(FunctionsTest, FunctionsSurviveAPlannerRestart) {
  const std::string data = TempPath("data");
  planner_ = StartPlanner({"--join-token-file", join_file_, "--data", data});
  ASSERT_NE(planner_.port, 0);
  worker_ = StartWorker(planner_, {.id = "fw1",
                                   .args = {"--ops", "exec", "--work-dir", TempPath("work"),
                                            "--join-token-file", join_file_}});
  ASSERT_NE(worker_, nullptr);
  Deploy("keep", "echo one\n");
  Deploy("keep", "echo two\n");
  ASSERT_EQ(CallFn("keep", "").body, "two\n");
  h_.Kill(*planner_.child);
  const uint16_t port = planner_.port;
  planner_ = StartPlanner({"--join-token-file", join_file_, "--data", data}, {}, port);
  ASSERT_NE(planner_.port, 0);
  // The worker joins the new planner by itself; the function answers as before.
  Reply r;
  ASSERT_TRUE(PollUntil(
      [&] {
        r = CallFn("keep", "");
        return r.status == 200;
      },
      seconds(30)))
      << r.Describe();
  EXPECT_EQ(r.body, "two\n");
  json::object f = Function("keep");
  EXPECT_EQ(f.at("revisions").as_array().size(), 2u) << json::serialize(f);
  CommandResult rb = Volo({"fn", "rollback", "keep"});
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  EXPECT_EQ(CallFn("keep", "").body, "one\n");
}

TEST_F(FunctionsTest, ADrainingWorkerFinishesItsCallsAndTheNextGoElsewhere) {
  // fw1 runs its instances outside the sandbox, so that a call with the body "hold" can wait on
  // a FIFO of this test: it stays in flight until the test releases it.
  Start(false, {"--sandbox", "none"});
  const std::string gate = TempPath("gate");
  ASSERT_EQ(::mkfifo(gate.c_str(), 0600), 0) << std::strerror(errno);
  Deploy("gated",
         "read -r body\n"
         "if [ \"$body\" = hold ]; then read -r go < \"$GATE\"; fi\n"
         "echo finished\n",
         {"--max", "1", "--env", "GATE=" + gate});
  ASSERT_EQ(CallFn("gated", "").body, "finished\n");  // its instance is on fw1
  Child* fw2 = StartWorker(planner_, {.id = "fw2",
                                      .args = {"--ops", "exec", "--work-dir", TempPath("work2"),
                                               "--join-token-file", join_file_}});
  ASSERT_NE(fw2, nullptr);
  Reply held;
  std::thread caller([&] { held = CallFn("gated", "hold"); });
  // The held call runs on fw1 once its shell has opened the gate to read: a writer can open the
  // FIFO only then. The test keeps the gate open and writes only after the drain and the next
  // call (so a call that reached fw1 after the SIGTERM, and went elsewhere, cannot be mistaken
  // for the held one).
  int fd = -1;
  if (!PollUntil([&] { return (fd = ::open(gate.c_str(), O_WRONLY | O_NONBLOCK)) >= 0; },
                 seconds(30))) {
    ADD_FAILURE() << "the held call never opened the gate: " << json::serialize(Function("gated"));
    h_.KillAll();  // ends the held call, so its caller returns
    caller.join();
    return;
  }
  EXPECT_EQ(NumAt(Function("gated"), "inflight"), 1);
  // fw1 drains with the call held: a new call goes to an instance started on fw2 meanwhile.
  h_.Signal(*worker_, SIGTERM);
  Reply after = CallFn("gated", "");
  EXPECT_EQ(after.status, 200) << after.Describe();
  EXPECT_EQ(after.body, "finished\n");
  // Released now, the held call is answered, not lost with its draining worker.
  EXPECT_EQ(::write(fd, "go\n", 3), 3);
  ::close(fd);
  caller.join();
  EXPECT_EQ(held.status, 200) << held.Describe();
  EXPECT_EQ(held.body, "finished\n");
  ASSERT_TRUE(h_.WaitExit(*worker_, seconds(30))) << "SIGTERM did not stop fw1";
  EXPECT_EQ(worker_->ExitCode(), 0);
  json::object f = Function("gated");
  EXPECT_EQ(NumAt(f, "errors"), 0) << json::serialize(f);
  EXPECT_EQ(NumAt(f, "crashes"), 0) << json::serialize(f);
}

TEST_F(FunctionsTest, MeteringSumsEqualTheCallsMade) {
  Start();
  Deploy("count", "cat\n", {"--concurrency", "2"});
  const int n = 12;
  int errors = 0;
  for (int i = 0; i < n; ++i) {
    Reply r = CallFn("count", i % 4 == 3 ? "" : "x");
    if (r.status != 200) ++errors;
  }
  EXPECT_EQ(errors, 0);
  Reply usage = Api("GET", "/functions/count/usage?from=0");
  ASSERT_EQ(usage.status, 200) << usage.Describe();
  EXPECT_EQ(NumAt(usage.obj(), "calls"), n) << usage.body;
  EXPECT_EQ(NumAt(usage.obj(), "errors"), 0) << usage.body;
  EXPECT_EQ(NumAt(usage.obj(), "cold"), 1) << usage.body;
  EXPECT_GT(NumAt(usage.obj(), "run_seconds"), 0) << usage.body;
  EXPECT_GT(NumAt(usage.obj(), "peak_memory"), 0) << usage.body;
  EXPECT_EQ(NumAt(usage.obj().at("callers").as_object().at("api").as_object(), "calls"), n);
  // A period before the calls holds none of them.
  Reply before = Api("GET", "/functions/count/usage?from=0&to=1");
  EXPECT_EQ(NumAt(before.obj(), "calls"), 0) << before.body;
  Reply metrics = Fetch("GET", planner_.url + "/metrics", "", true);
  EXPECT_NE(metrics.body.find("volo_function_calls_total{function=\"count\"} " + std::to_string(n)),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(
      metrics.body.find("volo_function_duration_seconds_count{function=\"count\",cold=\"false\"} " +
                        std::to_string(n - 1)),
      std::string::npos)
      << metrics.body;
  CommandResult cli = Volo({"fn", "usage", "count"});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_NE(cli.out.find("(all)"), std::string::npos) << cli.out;
}

// `POST /fn/NAME?async=1` answers 202 with an id at once; the call runs as usual and
// `GET /api/v1/functions/NAME/calls/ID` gives its answer once done (202 while it runs).
TEST_F(FunctionsTest, AsyncCallsAnswer202AndTheirResultLater) {
  Start(/*tokens=*/true);
  Deploy("upper", "tr a-z A-Z\n");
  CommandResult inv = Volo({"fn", "invoke", "upper", "--async", "--data", "hello"});
  ASSERT_EQ(inv.exit_code, 0) << inv.err;
  ASSERT_EQ(inv.out.size(), 33u) << inv.out;  // 32 hex digits and a newline
  const std::string id = inv.out.substr(0, 32);
  CommandResult res = Volo({"fn", "result", "upper", id, "--wait", "60"});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  EXPECT_EQ(res.out, "HELLO");
  Reply got = Api("GET", "/functions/upper/calls/" + id);
  EXPECT_EQ(got.status, 200) << got.Describe();
  EXPECT_EQ(got.body, "HELLO");
  // The id belongs to its function; unknown ids, other functions and no token are refused.
  EXPECT_EQ(Api("GET", "/functions/other/calls/" + id).status, 404);
  EXPECT_EQ(Api("GET", "/functions/upper/calls/" + std::string(32, '0')).status, 404);
  EXPECT_EQ(Api("GET", "/functions/upper/calls/" + id, "", /*token=*/false).status, 401);
  EXPECT_EQ(Fetch("POST", planner_.url + "/fn/upper?async=1", "x", /*token=*/false).status, 401);
  // Calls that cannot run are answered at once, not with an id.
  EXPECT_EQ(Fetch("POST", planner_.url + "/fn/nothing-here?async=1", "", true).status, 404);
  EXPECT_EQ(Fetch("POST", planner_.url + "/fn/upper?async=maybe", "", true).status, 400);

  // A call that runs long: 202 until it is done (here: its function removed, 503).
  Deploy("sleeper", "sleep 120\n", {"--timeout", "300"});
  Reply accepted = Fetch("POST", planner_.url + "/fn/sleeper?async=1", "", true);
  ASSERT_EQ(accepted.status, 202) << accepted.Describe();
  const std::string sid = Str(accepted.obj(), "id");
  EXPECT_EQ(Str(accepted.obj(), "result"), "/api/v1/functions/sleeper/calls/" + sid);
  ASSERT_TRUE(PollUntil([&] { return NumAt(Function("sleeper"), "inflight") == 1; }, seconds(20)));
  Reply running = Api("GET", "/functions/sleeper/calls/" + sid);
  EXPECT_EQ(running.status, 202) << running.Describe();
  EXPECT_EQ(running.obj().at("done"), json::value(false)) << running.body;
  CommandResult pending = Volo({"fn", "result", "sleeper", sid});
  EXPECT_EQ(pending.exit_code, 3) << pending.out << pending.err;
  ASSERT_EQ(Volo({"fn", "rm", "sleeper"}).exit_code, 0);
  Reply removed = Api("GET", "/functions/sleeper/calls/" + sid);
  EXPECT_EQ(removed.status, 503) << removed.Describe();
  EXPECT_NE(Str(removed.obj(), "error").find("removed"), std::string::npos) << removed.body;

  // A public function's async answer needs no token either.
  Deploy("open", "cat\n", {"--public"});
  Reply pub = Fetch("POST", planner_.url + "/fn/open?async=1", "hi", /*token=*/false);
  ASSERT_EQ(pub.status, 202) << pub.Describe();
  Reply pubres;
  ASSERT_TRUE(PollUntil(
      [&] {
        pubres = Api("GET", "/functions/open/calls/" + Str(pub.obj(), "id"), "", false);
        return pubres.status != 202;
      },
      seconds(30)));
  EXPECT_EQ(pubres.status, 200) << pubres.Describe();
  EXPECT_EQ(pubres.body, "hi");
}

// The HTTP request reaches a `cmd` program CGI-like: REQUEST_METHOD, PATH_INFO (the path after
// /fn/NAME), QUERY_STRING, CONTENT_TYPE, CONTENT_LENGTH and HTTP_* headers; never the token.
TEST_F(FunctionsTest, PathQueryAndHeadersReachACmdFunction) {
  Start(/*tokens=*/true);
  Deploy("req",
         "printf '%s|%s|%s|%s|%s|%s|%s|%s' \"$REQUEST_METHOD\" \"$PATH_INFO\" \"$QUERY_STRING\" "
         "\"$HTTP_X_COLOR\" \"$CONTENT_TYPE\" \"$CONTENT_LENGTH\" \"${HTTP_AUTHORIZATION-none}\" "
         "\"$(cat)\"\n");
  net::Headers h = {{"Authorization", std::string("Bearer ") + kApiToken},
                    {"X-Color", "blue"},
                    {"Content-Type", "text/plain"}};
  auto r = net::HttpFetch("PUT", planner_.url + "/fn/req/a/b%20c?x=1&y=two", "abc", h, seconds(60));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->body, "PUT|/a/b c|x=1&y=two|blue|text/plain|3|none|abc");
  Reply bare = Fetch("GET", planner_.url + "/fn/req", "", true);
  EXPECT_EQ(bare.status, 200) << bare.Describe();
  EXPECT_EQ(bare.body, "GET|||||0|none|");
}

}  // namespace
}  // namespace volo::itest

namespace volo::itest {
namespace {

// A cmd function's stderr, each call's, reaches `volo fn logs`; unknown functions are 404 and
// bad offsets 400.
TEST_F(FunctionsTest, FnLogsShowEachCallsStderr) {
  Start();
  Deploy("noisy", "echo \"noise for $(cat)\" >&2\necho done\n");
  ASSERT_EQ(CallFn("noisy", "first").status, 200);
  ASSERT_EQ(CallFn("noisy", "second").status, 200);
  CommandResult logs;
  ASSERT_TRUE(PollUntil(
      [&] {
        logs = Volo({"fn", "logs", "noisy"});
        return logs.out.find("noise for second") != std::string::npos;
      },
      seconds(20)))
      << logs.out << logs.err;
  EXPECT_NE(logs.out.find("noise for first"), std::string::npos) << logs.out;
  EXPECT_LT(logs.out.find("noise for first"), logs.out.find("noise for second")) << logs.out;
  EXPECT_EQ(logs.out.find("done"), std::string::npos) << logs.out;  // stdout is the answer
  const std::string rev = Str(Function("noisy"), "revision").substr(0, 12);
  EXPECT_NE(logs.out.find(" " + rev + " i"), std::string::npos) << logs.out;

  EXPECT_EQ(Api("GET", "/functions/nothere/logs").status, 404);
  CommandResult missing = Volo({"fn", "logs", "nothere"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("no function nothere"), std::string::npos) << missing.err;
  EXPECT_EQ(Api("GET", "/functions/noisy/logs?offset=x").status, 400);
  EXPECT_EQ(Api("GET", "/functions/noisy/logs?offset=-1").status, 400);
  EXPECT_EQ(Api("GET", "/functions/noisy/logs?offset=99999999").status, 400);
  EXPECT_EQ(Api("GET", "/functions/noisy/logs?follow=maybe").status, 400);
  Reply all = Api("GET", "/functions/noisy/logs?offset=0");
  ASSERT_EQ(all.status, 200) << all.Describe();
  EXPECT_EQ(NumAt(all.obj(), "start"), 0);
  EXPECT_EQ(NumAt(all.obj(), "next"), NumAt(all.obj(), "size"));
}

}  // namespace
}  // namespace volo::itest
