// Placement by resource requests: a task goes only where its request fits in what is free, and
// what its worker has in use is counted until it ends (docs/architecture.md, "Placement").
#include <gtest/gtest.h>

#include "planner/core.h"

namespace volo::planner {
namespace {

using namespace std::chrono_literals;

class FakeLink : public WorkerLink {
 public:
  void Assign(const Task& t, std::string_view) override { assigned.push_back(t.id.value()); }
  void Cancel(TaskId id) override { cancelled.push_back(id.value()); }
  void Drop(std::string_view) override {}
  std::vector<uint64_t> assigned;
  std::vector<uint64_t> cancelled;
};

class RecordingJournal : public JournalSink {
 public:
  void OnSubmitted(const Task& t, std::string_view op, std::string_view key,
                   size_t count) override {
    records.push_back(SubmittedRecord(t, op, key, count));
  }
  void OnFinished(const Task&, std::string_view) override {}
  std::vector<journal::TaskRecord> records;
};

wire::Resources Res(double cpus, int64_t memory_mib,
                    std::vector<std::pair<std::string, int64_t>> named = {}) {
  wire::Resources r;
  r.millicpus = static_cast<int64_t>(cpus * 1000);
  r.memory_mib = memory_mib;
  r.named = std::move(named);
  return r;
}

wire::TaskSpec Task(wire::Resources r, std::string op = "sleep") {
  wire::TaskSpec s;
  s.op = std::move(op);
  s.args = R"({"seconds":1})";
  s.resources = std::move(r);
  return s;
}

wire::TaskResult Ok(uint64_t id) { return {id, true, "null", 0, 0}; }

class PlacementTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  Core core_{clock_};
  uint32_t Worker(const std::string& id, FakeLink* link, wire::Resources r, int slots = 8,
                  std::vector<std::string> ops = {"sleep"}) {
    auto w = core_.AddWorker(WorkerId(id), WorkerKind::kNative, ops, slots, link, r);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? w->value() : 0;
  }
  std::string Reason(std::string_view op = "sleep") {
    for (const auto& w : core_.Waiting()) {
      if (w.op == op) return w.reason;
    }
    return "";
  }
};

TEST_F(PlacementTest, ATaskRunsOnlyWhereItsRequestFitsAndCountsAreReleasedOnFinish) {
  FakeLink link;
  uint32_t w = Worker("w1", &link, Res(2, 1024));
  ASSERT_TRUE(core_.Submit({Task(Res(1, 512)), Task(Res(1, 256)), Task(Res(1, 100))}).ok());
  // Slots are free (8) but CPUs are not: the third waits for one of the first two.
  EXPECT_EQ(link.assigned, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(core_.workers()[w].used.millicpus, 2000);
  EXPECT_EQ(core_.workers()[w].used.memory_mib, 768);
  EXPECT_NE(Reason().find("1 task wait for resources in use (task 3 needs 1 cpu"),
            std::string::npos)
      << Reason();
  EXPECT_NE(core_.WhyWaiting(*core_.Find(TaskId(3))).find("waiting for resources in use"),
            std::string::npos);

  core_.OnResults(WorkerIndex(w), std::vector<wire::TaskResult>{Ok(1)});
  EXPECT_EQ(link.assigned, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(core_.workers()[w].used.memory_mib, 356);
  core_.OnResults(WorkerIndex(w), std::vector<wire::TaskResult>{Ok(2), Ok(3)});
  EXPECT_EQ(core_.workers()[w].used.millicpus, 0);
  EXPECT_EQ(core_.workers()[w].used.memory_mib, 0);
}

TEST_F(PlacementTest, FractionalCpusPackTogether) {
  FakeLink link;
  Worker("w1", &link, Res(1, 1024));
  std::vector<wire::TaskSpec> specs(3, Task(Res(0.5, 0)));
  ASSERT_TRUE(core_.Submit(specs).ok());
  EXPECT_EQ(link.assigned.size(), 2u);
}

TEST_F(PlacementTest, ARequestNoWorkerCanEverFitIsAcceptedAndExplained) {
  FakeLink small_link;
  Worker("small", &small_link, Res(4, 16 * 1024));
  auto id = core_.Submit({Task(Res(1, 64 * 1024))});
  ASSERT_TRUE(id.ok());  // the fleet may grow: accepted, and said why it waits
  EXPECT_TRUE(small_link.assigned.empty());
  std::string why = core_.WhyWaiting(*core_.Find(*id));
  EXPECT_EQ(why, "needs 64 GiB memory; the largest worker that runs 'sleep' has 16 GiB memory");
  EXPECT_NE(Reason().find("1 task can never fit a live worker (task 1 needs 64 GiB memory"),
            std::string::npos)
      << Reason();

  FakeLink big_link;
  Worker("big", &big_link, Res(4, 128 * 1024));
  EXPECT_EQ(big_link.assigned, std::vector<uint64_t>{1});
  EXPECT_EQ(core_.WhyWaiting(*core_.Find(*id)), "");
}

TEST_F(PlacementTest, NoSingleWorkerWithEverythingIsExplained) {
  FakeLink a, b;
  Worker("cpu-rich", &a, Res(16, 1024));
  Worker("mem-rich", &b, Res(1, 64 * 1024));
  auto id = core_.Submit({Task(Res(8, 32 * 1024))});
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(core_.WhyWaiting(*core_.Find(*id)),
            "needs 8 cpus, 32 GiB memory on one worker; no worker that runs 'sleep' has all "
            "of it");
}

TEST_F(PlacementTest, NamedResourcesGoOnlyToWorkersThatHaveThem) {
  FakeLink plain, gpu;
  Worker("plain", &plain, Res(8, 8192), /*slots=*/8);
  uint32_t g = Worker("gpu", &gpu, Res(8, 8192, {{"gpus", 2}}), /*slots=*/8);
  std::vector<wire::TaskSpec> specs(3, Task(Res(0, 0, {{"gpus", 1}})));
  ASSERT_TRUE(core_.Submit(specs).ok());
  EXPECT_TRUE(plain.assigned.empty());
  EXPECT_EQ(gpu.assigned, (std::vector<uint64_t>{1, 2}));
  EXPECT_NE(Reason().find("task 3 needs gpus=1; the most free on a worker that runs 'sleep' is "
                          "gpus=0"),
            std::string::npos)
      << Reason();
  // Tasks without a request still use any free slot.
  ASSERT_TRUE(core_.Submit({Task({})}).ok());
  EXPECT_EQ(plain.assigned, std::vector<uint64_t>{4});
  core_.OnResults(WorkerIndex(g), std::vector<wire::TaskResult>{Ok(1)});
  EXPECT_EQ(gpu.assigned, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(core_.workers()[g].used.Named(*core_.ResourceIndex("gpus")), 2);
}

TEST_F(PlacementTest, ALostWorkersResourcesAreFreedAndItsTasksRunElsewhere) {
  FakeLink l1;
  uint32_t w1 = Worker("w1", &l1, Res(1, 1024));
  ASSERT_TRUE(core_.Submit({Task(Res(1, 1024))}).ok());
  EXPECT_EQ(l1.assigned, std::vector<uint64_t>{1});
  core_.RemoveWorker(WorkerIndex(w1), "test");
  EXPECT_EQ(core_.workers()[w1].used.millicpus, 0);
  EXPECT_EQ(core_.Find(TaskId(1))->state, TaskState::kQueued);
  FakeLink l2;
  uint32_t w2 = Worker("w2", &l2, Res(1, 1024));
  EXPECT_EQ(l2.assigned, std::vector<uint64_t>{1});
  EXPECT_EQ(core_.workers()[w2].used.memory_mib, 1024);
}

TEST_F(PlacementTest, CancelTimeoutAndRefusalReleaseWhatTheTaskHeld) {
  FakeLink link;
  uint32_t w = Worker("w1", &link, Res(1, 100));
  wire::TaskSpec timed = Task(Res(1, 100));
  timed.timeout = 1;
  ASSERT_TRUE(core_.Submit({Task(Res(1, 100)), timed, Task(Res(1, 100))}).ok());
  ASSERT_EQ(link.assigned, std::vector<uint64_t>{1});
  ASSERT_TRUE(core_.Cancel(TaskId(1)).ok());  // frees the CPU for task 2
  ASSERT_EQ(link.assigned, (std::vector<uint64_t>{1, 2}));
  clock_.Advance(2s);
  core_.Tick();  // task 2 times out (no retries): task 3 takes its place
  EXPECT_EQ(core_.Find(TaskId(2))->state, TaskState::kFailed);
  ASSERT_EQ(link.assigned, (std::vector<uint64_t>{1, 2, 3}));
  uint64_t three = 3;
  core_.OnRefused(WorkerIndex(w), std::span<const uint64_t>(&three, 1), false);
  // Refused and back in the queue: the resources it held are free, and it is sent again.
  EXPECT_EQ(link.assigned, (std::vector<uint64_t>{1, 2, 3, 3}));
  EXPECT_EQ(core_.workers()[w].used.millicpus, 1000);
}

TEST_F(PlacementTest, SmallerTasksBehindOneThatDoesNotFitStillRun) {
  FakeLink link;
  Worker("w1", &link, Res(2, 2048));
  ASSERT_TRUE(core_.Submit({Task(Res(4, 0)), Task(Res(1, 0)), Task({})}).ok());
  EXPECT_EQ(link.assigned, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(core_.Find(TaskId(1))->state, TaskState::kQueued);
}

TEST_F(PlacementTest, AWorkerThatAdvertisesNothingRunsOnlyTasksWithoutARequest) {
  FakeLink link;
  Worker("bare", &link, {});
  ASSERT_TRUE(core_.Submit({Task(Res(1, 0)), Task({})}).ok());
  EXPECT_EQ(link.assigned, std::vector<uint64_t>{2});
}

TEST_F(PlacementTest, TheRequestSurvivesARestart) {
  RecordingJournal j;
  core_.SetJournal(&j);
  ASSERT_TRUE(core_.Submit({Task(Res(1.5, 300, {{"licence", 2}}))}).ok());
  ASSERT_EQ(j.records.size(), 1u);
  Core restarted(clock_);
  restarted.Restore(std::move(j.records[0]));
  const planner::Task* t = restarted.Find(TaskId(1));
  ASSERT_TRUE(t && t->request);
  EXPECT_EQ(t->request->spec, Res(1.5, 300, {{"licence", 2}}));
  FakeLink small, big;
  ASSERT_TRUE(restarted
                  .AddWorker(WorkerId("small"), WorkerKind::kNative, {"sleep"}, 4, &small,
                             Res(1, 1000, {{"licence", 5}}))
                  .ok());
  ASSERT_TRUE(restarted
                  .AddWorker(WorkerId("big"), WorkerKind::kNative, {"sleep"}, 4, &big,
                             Res(2, 1000, {{"licence", 5}}))
                  .ok());
  EXPECT_TRUE(small.assigned.empty());
  EXPECT_EQ(big.assigned, std::vector<uint64_t>{1});
}

}  // namespace
}  // namespace volo::planner
