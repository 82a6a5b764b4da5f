// How Core treats seed-style HTTP workers: one task per operation at a time, busy answers
// backed off exponentially per operation, 404s learned once.
#include <gtest/gtest.h>

#include "planner/core.h"

namespace volo::planner {
namespace {

using namespace std::chrono_literals;

class RecordingLink : public WorkerLink {
 public:
  void Assign(const Task& t, std::string_view op) override {
    assigned.push_back(t.id.value());
    ops.emplace_back(op);
  }
  void Cancel(TaskId) override {}
  void Drop(std::string_view) override {}
  std::vector<uint64_t> assigned;
  std::vector<std::string> ops;
};

wire::TaskSpec Spec(std::string op) {
  wire::TaskSpec s;
  s.op = std::move(op);
  s.args = R"({"a":1,"b":2})";
  return s;
}

class CoreHttpWorkerTest : public ::testing::Test {
 protected:
  WorkerIndex HttpWorker(std::vector<std::string> ops) {
    auto r = core_.AddWorker(WorkerId("seed"), WorkerKind::kHttp, ops, static_cast<int>(ops.size()),
                             &link_);
    EXPECT_TRUE(r.ok());
    return *r;
  }
  void Busy(WorkerIndex w, uint64_t id) {
    std::vector<uint64_t> ids{id};
    core_.OnRefused(w, ids, /*busy_backoff=*/true);
  }
  FakeClock clock_;
  Core core_{clock_};
  RecordingLink link_;
};

TEST_F(CoreHttpWorkerTest, OneTaskPerOperationAtATime) {
  WorkerIndex w = HttpWorker({"add", "mult"});
  ASSERT_TRUE(core_.Submit({Spec("add"), Spec("add"), Spec("mult")}).ok());
  // An add and a mult at once, never two adds.
  EXPECT_EQ(link_.ops, (std::vector<std::string>{"mult", "add"}));
  wire::TaskResult r{link_.assigned[1], true, "3", 0, 0};
  core_.OnResults(w, std::span<const wire::TaskResult>(&r, 1));
  EXPECT_EQ(link_.ops.back(), "add");
  EXPECT_EQ(link_.assigned.size(), 3u);
}

TEST_F(CoreHttpWorkerTest, BusyAnswersBackOffExponentially) {
  WorkerIndex w = HttpWorker({"add"});
  ASSERT_TRUE(core_.Submit({Spec("add")}).ok());
  ASSERT_EQ(link_.assigned.size(), 1u);
  // Each busy answer rests the operation longer: count the ticks of 10 ms until the next try.
  std::vector<int> waits;
  for (int i = 0; i < 8; ++i) {
    size_t before = link_.assigned.size();
    Busy(w, 1);
    EXPECT_EQ(link_.assigned.size(), before) << "re-sent at once after a busy answer";
    int ticks = 0;
    while (link_.assigned.size() == before && ticks < 100000) {
      clock_.Advance(10ms);
      core_.Tick();
      ++ticks;
    }
    waits.push_back(ticks);
  }
  // 20 ms doubling, capped at 1 s, each scaled by 0.5-1.5.
  EXPECT_LE(waits[0], 3);
  EXPECT_GE(waits[5], 32);   // 640 ms * 0.5
  EXPECT_LE(waits[7], 151);  // the 1 s cap * 1.5
  EXPECT_GE(waits[7], 50);
  EXPECT_EQ(core_.Find(TaskId(1))->attempts, 1) << "a busy answer is not an attempt";

  // A result resets the backoff.
  wire::TaskResult r{1, true, "3", 0, 0};
  core_.OnResults(w, std::span<const wire::TaskResult>(&r, 1));
  ASSERT_TRUE(core_.Submit({Spec("add")}).ok());
  size_t before = link_.assigned.size();
  Busy(w, 2);
  int ticks = 0;
  while (link_.assigned.size() == before && ticks < 1000) {
    clock_.Advance(10ms);
    core_.Tick();
    ++ticks;
  }
  EXPECT_LE(ticks, 3);
}

TEST_F(CoreHttpWorkerTest, BusyWithOneOperationLeavesTheOtherFree) {
  WorkerIndex w = HttpWorker({"add", "mult"});
  ASSERT_TRUE(core_.Submit({Spec("mult")}).ok());
  Busy(w, 1);
  ASSERT_TRUE(core_.Submit({Spec("add")}).ok());
  EXPECT_EQ(link_.ops, (std::vector<std::string>{"mult", "add"}));
}

TEST_F(CoreHttpWorkerTest, UnsupportedOperationIsNewsOnce) {
  WorkerIndex w = HttpWorker({"add", "mult"});
  ASSERT_TRUE(core_.Submit({Spec("mult")}).ok());
  EXPECT_EQ(core_.OnUnsupported(w, TaskId(1)), "mult");
  EXPECT_EQ(core_.OnUnsupported(w, TaskId(1)), "");
}

}  // namespace
}  // namespace volo::planner
