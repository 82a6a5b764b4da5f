// A planner killed with SIGKILL at random moments and restarted on the same journal loses
// nothing and records each task once; so do workers killed during the same run.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "harness.h"
#include "net/client.h"

namespace volo::itest {
namespace {

// The planner restarts on the same port (its workers keep its URL), so the port must stay free
// while it is down. The kernel hands out ports of ip_local_port_range to every bind(0) and every
// outgoing connection of the tests running beside this one; a port below that range is never
// handed out, so only a process asking for that very number could take it. Returns a port below
// the range that is free now (0 if none is found).
uint16_t RestartablePort() {
  int low = 32768;
  {
    std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
    range >> low;
  }
  if (low <= 10001) return 0;
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pick(10000, low - 1);
  for (int attempt = 0; attempt < 200; ++attempt) {
    const auto port = static_cast<uint16_t>(pick(rng));
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    const bool free = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    if (free) return port;
  }
  return 0;
}

class DurabilityTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) h_.PrintLogs(std::cerr);
    h_.KillAll();
  }

  // Starts (or restarts) the planner on the fixed port and data directory.
  void StartPlanner() {
    ASSERT_NE(port_, 0) << "no free port below the ephemeral range";
    std::string port_file = h_.TempPath("planner-" + std::to_string(restarts_) + ".port");
    planner_ = h_.Spawn("planner-" + std::to_string(restarts_),
                        {"planner", "--port", std::to_string(port_), "--port-file", port_file,
                         "--data", data_, "--heartbeat-timeout", "2"});
    ASSERT_TRUE(h_.ReadPortFile(port_file, *planner_, seconds(30)).has_value());
    ++restarts_;
  }

  Child* StartWorker(int n) {
    return h_.Spawn("worker-" + std::to_string(n),
                    {"worker", "--planner", url_, "--id", "w" + std::to_string(n), "--slots", "64",
                     "--port", "-1", "--ops", "add", "--duration-scale", "0"});
  }

  // Submits one batch with an idempotency key, retrying through planner restarts.
  std::vector<uint64_t> SubmitBatch(int batch, int size) {
    std::string body = "{\"tasks\":[";
    for (int i = 0; i < size; ++i) {
      int a = batch * size + i;
      if (i) body += ',';
      body += "{\"op\":\"add\",\"args\":{\"a\":" + std::to_string(a) + ",\"b\":1}}";
    }
    body += "]}";
    std::vector<uint64_t> ids;
    bool ok = PollUntil(
        [&] {
          auto r = net::HttpFetch("POST", url_ + "/api/v1/tasks", body,
                                  {{"Content-Type", "application/json"},
                                   {"Idempotency-Key", "batch-" + std::to_string(batch)}},
                                  seconds(10));
          if (!r.ok() || r->status != 201) return false;
          json::value doc = ParseJson(r->body);
          for (const auto& v : doc.at("ids").as_array()) {
            ids.push_back(v.to_number<uint64_t>());
          }
          return true;
        },
        seconds(60), milliseconds(20));
    EXPECT_TRUE(ok) << "batch " << batch << " was never accepted";
    return ids;
  }

  Harness h_;
  std::string data_ = h_.TempPath("data");
  uint16_t port_ = RestartablePort();
  std::string url_ = "http://127.0.0.1:" + std::to_string(port_);
  Child* planner_ = nullptr;
  int restarts_ = 0;
};

TEST_F(DurabilityTest, PlannerAndWorkersKilledAtRandomLoseNothing) {
  constexpr int kBatches = 100, kSize = 1000;  // 100,000 tasks
  std::mt19937 rng(std::random_device{}());
  StartPlanner();
  std::vector<Child*> workers;
  for (int i = 0; i < 4; ++i) workers.push_back(StartWorker(i));

  std::set<int> planner_kills, worker_kills;
  while (planner_kills.size() < 3) planner_kills.insert(5 + static_cast<int>(rng() % 90));
  while (worker_kills.size() < 2) worker_kills.insert(static_cast<int>(rng() % kBatches));

  std::vector<uint64_t> all;
  for (int b = 0; b < kBatches; ++b) {
    auto ids = SubmitBatch(b, kSize);
    ASSERT_EQ(ids.size(), static_cast<size_t>(kSize));
    all.insert(all.end(), ids.begin(), ids.end());
    if (planner_kills.count(b)) {
      h_.Signal(*planner_, SIGKILL);
      ASSERT_TRUE(h_.WaitExit(*planner_, seconds(10)));
      StartPlanner();
    }
    if (worker_kills.count(b)) {
      size_t k = rng() % workers.size();
      h_.Signal(*workers[k], SIGKILL);
      ASSERT_TRUE(h_.WaitExit(*workers[k], seconds(10)));
      workers[k] = StartWorker(static_cast<int>(10 + b));
    }
  }
  // One more kill after everything was accepted, while work is still running.
  h_.Signal(*planner_, SIGKILL);
  ASSERT_TRUE(h_.WaitExit(*planner_, seconds(10)));
  StartPlanner();

  // Every id is distinct: no retried submission was queued twice.
  std::set<uint64_t> distinct(all.begin(), all.end());
  ASSERT_EQ(distinct.size(), all.size());

  json::object status;
  bool finished = PollUntil(
      [&] {
        Reply r = Get(url_ + "/api/v1/status");
        if (r.status != 200) return false;
        status = r.obj();
        return NumAt(status, "done") + NumAt(status, "failed") >= kBatches * kSize;
      },
      seconds(240), milliseconds(100));
  ASSERT_TRUE(finished) << "status: " << json::serialize(status);
  EXPECT_EQ(NumAt(status, "done"), kBatches * kSize);
  EXPECT_EQ(NumAt(status, "failed"), 0);
  EXPECT_EQ(NumAt(status, "queued"), 0);

  // Read every task back: each done once, with the right result.
  size_t seen = 0;
  uint64_t after = 0;
  while (true) {
    Reply r = Get(url_ + "/api/v1/tasks?limit=10000&after=" + std::to_string(after), seconds(30));
    ASSERT_EQ(r.status, 200) << r.Describe();
    const auto& tasks = r.obj().at("tasks").as_array();
    if (tasks.empty()) break;
    for (const auto& tv : tasks) {
      const json::object& t = tv.as_object();
      uint64_t id = static_cast<uint64_t>(NumAt(t, "id"));
      ASSERT_EQ(Str(t, "state"), "done") << "task " << id;
      double a = NumAt(t.at("args").as_object(), "a");
      ASSERT_EQ(NumAt(t, "result"), a + 1) << "task " << id;
      ASSERT_TRUE(distinct.count(id)) << "task " << id << " was never submitted";
      after = id;
      ++seen;
    }
  }
  EXPECT_EQ(seen, all.size());
}

TEST_F(DurabilityTest, FinishedResultsSurviveACleanRestart) {
  StartPlanner();
  Child* w = StartWorker(0);
  auto ids = SubmitBatch(0, 10);
  ASSERT_TRUE(PollUntil([&] { return NumAt(Get(url_ + "/api/v1/status").obj(), "done") == 10; },
                        seconds(30)));
  h_.Signal(*planner_, SIGTERM);
  ASSERT_TRUE(h_.WaitExit(*planner_, seconds(10)));
  EXPECT_EQ(planner_->ExitCode(), 0);
  StartPlanner();
  Reply r = Get(url_ + "/api/v1/tasks/" + std::to_string(ids[3]));
  ASSERT_EQ(r.status, 200) << r.Describe();
  EXPECT_EQ(Str(r.obj(), "state"), "done");
  EXPECT_EQ(NumAt(r.obj(), "result"), 4);  // a = 3, b = 1
  // A retried submission with the same key answers with the same ids and queues nothing.
  auto again = SubmitBatch(0, 10);
  EXPECT_EQ(again, ids);
  EXPECT_EQ(NumAt(Get(url_ + "/api/v1/status").obj(), "queued"), 0);
  (void)w;
}

// A workflow run (a chain, a group, a 1,000-element map) with its planner SIGKILLed three times
// in the middle: it finishes, and no step that had finished runs again (the run has exactly one
// task per step).
TEST_F(DurabilityTest, WorkflowRunsContinueAfterThePlannerIsKilled) {
  StartPlanner();
  h_.Spawn("worker", {"worker", "--planner", url_, "--id", "w1", "--slots", "64", "--port", "-1",
                      "--ops", "sleep,echo,noop"});
  const std::string file = R"(tasks:
  FIRST: {op: echo, args: {n: 1}}
  HOLD: {op: sleep, args: {seconds: 1}}
  STEP: {op: sleep, args: {seconds: 0.05}}
demo.LONG:
  tasks:
    - FIRST
    - G: {type: group, tasks: [HOLD, HOLD]}
    - EACH: {type: map, over: payload.items, task: STEP}
    - HOLD
    - LAST: {type: chain, tasks: [FIRST]}
)";
  json::object def{{"text", file}};
  ASSERT_EQ(Post(url_ + "/api/v1/workflows", json::serialize(def)).status, 200);
  json::array items;
  for (int i = 0; i < 1000; ++i) items.push_back(i);
  json::object payload{{"payload", json::object{{"items", items}}}};
  Reply started = Post(url_ + "/api/v1/workflows/demo.LONG/runs", json::serialize(payload));
  ASSERT_EQ(started.status, 201) << started.Describe();

  auto run = [&] { return Get(url_ + "/api/v1/runs/1").obj(); };
  auto step = [&](const json::object& r, const std::string& path) -> json::object {
    for (const auto& s : r.at("steps").as_array()) {
      if (Str(s.as_object(), "path") == path) return s.as_object();
    }
    return {};
  };
  auto kill_and_restart = [&] {
    h_.Kill(*planner_);
    StartPlanner();
  };
  // 1: while the group runs.
  json::object r;
  ASSERT_TRUE(PollUntil(
      [&] {
        r = run();
        return Str(step(r, "G"), "state") == "running";
      },
      seconds(30)));
  const double first_task = NumAt(step(r, "FIRST"), "task");
  kill_and_restart();
  // 2: in the middle of the map.
  ASSERT_TRUE(PollUntil(
      [&] {
        r = run();
        json::object each = step(r, "EACH");
        return NumAt(each, "succeeded") > 100 && NumAt(each, "succeeded") < 900;
      },
      seconds(60)));
  kill_and_restart();
  // 3: during the step after the map.
  ASSERT_TRUE(PollUntil(
      [&] {
        r = run();
        return Str(step(r, "HOLD"), "state") == "running";
      },
      seconds(60)));
  kill_and_restart();
  ASSERT_TRUE(PollUntil(
      [&] {
        r = run();
        return Str(r, "state") == "succeeded";
      },
      seconds(90)))
      << json::serialize(r);
  EXPECT_EQ(NumAt(step(r, "FIRST"), "task"), first_task);
  EXPECT_EQ(NumAt(step(r, "EACH"), "succeeded"), 1000);
  // One task per step: 1 + 2 + 1000 + 1 + 1, none run twice by the restarts.
  json::value tasks = ParseJson(Get(url_ + "/api/v1/tasks?limit=10000").body);
  size_t of_run = 0;
  for (const auto& t : tasks.at("tasks").as_array()) {
    for (const auto& l : t.at("labels").as_object()) {
      if (l.key() == "run" && l.value() == "1") ++of_run;
    }
  }
  EXPECT_EQ(of_run, 1005u);
}

// `volo workflow run --wait` follows its run across a planner restart: it waits for the planner
// to answer again rather than give up on a run that survives the restart.
TEST_F(DurabilityTest, RunWaitFollowsItsRunAcrossAPlannerRestart) {
  StartPlanner();
  h_.Spawn("worker", {"worker", "--planner", url_, "--id", "w1", "--slots", "2", "--port", "-1",
                      "--ops", "sleep,echo,noop"});
  const std::string file = R"(tasks:
  HOLD: {op: sleep, args: {seconds: 1}}
demo.W:
  tasks: [noop, HOLD, echo]
)";
  ASSERT_EQ(Post(url_ + "/api/v1/workflows", json::serialize(json::object{{"text", file}})).status,
            200);
  Child* watch = h_.Spawn("watch", {"workflow", "run", "demo.W", "--wait", "--planner", url_});
  ASSERT_NE(watch, nullptr);
  ASSERT_TRUE(PollUntil(
      [&] { return ReadFile(watch->log_path).find("HOLD  running") != std::string::npos; },
      seconds(30)))
      << ReadFile(watch->log_path);
  h_.Kill(*planner_);
  // It has seen the planner gone (or, before it waited, given up) before the planner is back.
  ASSERT_TRUE(PollUntil(
      [&] {
        return ReadFile(watch->log_path).find("cannot reach the planner") != std::string::npos;
      },
      seconds(30)))
      << ReadFile(watch->log_path);
  StartPlanner();
  ASSERT_TRUE(h_.WaitExit(*watch, seconds(60))) << ReadFile(watch->log_path);
  std::string out = ReadFile(watch->log_path);
  EXPECT_EQ(watch->ExitCode(), 0) << out;
  EXPECT_NE(out.find("volo: the planner is back"), std::string::npos) << out;
  EXPECT_NE(out.find("run 1 of demo.W: succeeded"), std::string::npos) << out;
}

}  // namespace
}  // namespace volo::itest
