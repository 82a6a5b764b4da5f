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

}  // namespace
}  // namespace volo::itest
