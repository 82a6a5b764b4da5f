// The fixture the function tests share (functions_test.cc, functions_http_test.cc, ...): a
// planner that takes a join token (and, when asked, the API token), one exec worker `fw1`, and
// the calls the tests make through them: the REST API, `/fn/NAME`, `volo fn ...` and deploys of
// a fresh one-file bundle. A test file derives its own fixture from it and adds what only its
// tests need (a runner's deploy, a raw socket, ...).
#pragma once

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "harness.h"
#include "net/client.h"

namespace volo::itest {

class FunctionsFixture : public VoloTest {
 protected:
  static constexpr const char* kApiToken = "api-secret-7171";
  static constexpr const char* kJoinToken = "join-secret-7272";
  static constexpr const char* kWorkerId = "fw1";

  void SetUp() override {
    join_file_ = TempPath("join-token");
    std::ofstream(join_file_) << kJoinToken << "\n";
    api_file_ = TempPath("api-token");
    std::ofstream(api_file_) << kApiToken << "\n";
  }

  // The planner and the worker (exec ops, its own work dir, `worker_args` added). With `tokens`
  // the planner also asks for the API token; the harness then cannot watch the fleet without
  // one, so the worker is waited for here.
  void StartPlannerAndWorker(bool tokens, const std::vector<std::string>& worker_args = {}) {
    std::vector<std::string> args = {"--join-token-file", join_file_};
    if (tokens) args.insert(args.end(), {"--token-file", api_file_});
    planner_ = StartPlanner(args);
    ASSERT_NE(planner_.port, 0);
    std::vector<std::string> wargs = {
        "--ops", "exec", "--work-dir", TempPath("work"), "--join-token-file", join_file_};
    wargs.insert(wargs.end(), worker_args.begin(), worker_args.end());
    worker_ = StartWorker(planner_, {.id = kWorkerId, .args = wargs, .wait_registered = !tokens});
    ASSERT_NE(worker_, nullptr);
    if (tokens) {
      ASSERT_TRUE(PollUntil(
          [&] { return Api("GET", "/workers").body.find(kWorkerId) != std::string::npos; },
          seconds(20)));
    }
  }

  // `method url` with `body` and `headers`, plus the API token unless `token` is false.
  static Reply Fetch(const std::string& method, const std::string& url, const std::string& body,
                     bool token = true, net::Headers headers = {}) {
    if (token) headers.emplace_back("Authorization", std::string("Bearer ") + kApiToken);
    auto r = net::HttpFetch(method, url, body, headers, seconds(90));
    Reply reply;
    if (!r.ok()) {
      reply.transport_error = std::string(r.status().message());
      return reply;
    }
    reply.status = r->status;
    reply.body = r->body;
    reply.json = ParseJson(reply.body);
    return reply;
  }
  // The planner's REST API: `path` below /api/v1.
  Reply Api(const std::string& method, const std::string& path, const std::string& body = "",
            bool token = true) {
    return Fetch(method, planner_.Api(path), body, token);
  }
  // `volo fn SUB ...` with the planner's flags right after SUB (before any `--`).
  CommandResult Volo(std::vector<std::string> args) {
    args.insert(args.begin() + 2, {"--planner", planner_.url, "--token-file", api_file_});
    return h_.RunVolo(args);
  }
  // A fresh bundle directory holding `file` with `content`.
  std::string Bundle(const std::string& file, const std::string& content) {
    const std::string dir = TempPath("project-" + std::to_string(bundles_++));
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/" + file) << content;
    return dir;
  }
  // `volo fn deploy NAME --bundle B flags... --cmd -- cmd...`, B a fresh bundle holding `file`
  // with `content`; fails the test unless it deployed.
  void DeployBundle(const std::string& name, const std::string& file, const std::string& content,
                    const std::vector<std::string>& flags, const std::vector<std::string>& cmd) {
    std::vector<std::string> args = {"fn", "deploy", name, "--bundle", Bundle(file, content)};
    args.insert(args.end(), flags.begin(), flags.end());
    args.insert(args.end(), {"--cmd", "--"});
    args.insert(args.end(), cmd.begin(), cmd.end());
    CommandResult r = Volo(args);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    ASSERT_NE(r.out.find("deployed"), std::string::npos) << r.out;
  }
  // A deploy during a stream of calls fails none: `call` runs over and over, answering
  // `before`, while `redeploy` deploys the revision that answers `after`; every answer is one
  // of the two, `after` comes, and `calls_after` more calls succeed after it. Callers wrap it
  // in ASSERT_NO_FATAL_FAILURE.
  void ExpectDeployDuringCallsFailsNone(const std::function<Reply()>& call,
                                        const std::string& before, const std::string& after,
                                        const std::function<void()>& redeploy, int calls_after) {
    std::atomic<bool> saw_after{false};
    CallStream calls(call, [&](const Reply& r) {
      if (r.status == 200 && r.body == after) saw_after = true;
      return r.status == 200 && (r.body == before || r.body == after);
    });
    ASSERT_TRUE(PollUntil([&] { return calls.ok() >= 3; }, seconds(30)));
    redeploy();
    bool switched = PollUntil([&] { return saw_after.load(); }, seconds(60));
    int at_switch = calls.ok();
    PollUntil([&] { return calls.ok() >= at_switch + calls_after; }, seconds(30));
    calls.Stop();
    EXPECT_TRUE(switched);
    EXPECT_EQ(calls.failed(), 0) << calls.last_failure();
    EXPECT_EQ(call().body, after);
  }
  // GET /functions/NAME (a failure unless 200).
  json::object Function(const std::string& name) {
    Reply r = Api("GET", "/functions/" + name);
    EXPECT_EQ(r.status, 200) << r.Describe();
    return r.obj();
  }

  std::string join_file_, api_file_;
  PlannerProc planner_;
  Child* worker_ = nullptr;
  int bundles_ = 0;
};

}  // namespace volo::itest
