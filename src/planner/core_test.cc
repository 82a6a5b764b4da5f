#include "planner/core.h"

#include <gtest/gtest.h>

#include <map>
#include <type_traits>

namespace volo::planner {

// A worker slot, a client number and a task id are distinct types: none converts from a plain
// integer or into another.
static_assert(!std::is_convertible_v<uint32_t, WorkerIndex>);
static_assert(!std::is_convertible_v<uint64_t, ClientId>);
static_assert(!std::is_constructible_v<WorkerIndex, ClientId>);
static_assert(!std::is_constructible_v<TaskId, WorkerIndex>);

namespace {

using namespace std::chrono_literals;

class FakeLink : public WorkerLink {
 public:
  void Assign(const Task& t, std::string_view op) override {
    assigned.push_back(t.id.value());
    ops.emplace_back(op);
  }
  void Cancel(TaskId id) override { cancelled.push_back(id.value()); }
  void Drop(std::string_view reason) override { dropped = std::string(reason); }
  std::vector<uint64_t> assigned;
  std::vector<std::string> ops;
  std::vector<uint64_t> cancelled;
  std::string dropped;
};

class FakeClient : public ClientSink {
 public:
  void OnFinished(const Task& t, std::string_view worker) override {
    finished[t.id.value()] = std::string(worker);
  }
  void OnOutput(const Task& t, uint64_t offset, std::string_view text) override {
    output.push_back(std::to_string(t.id.value()) + "@" + std::to_string(offset) + ":" +
                     std::string(text));
  }
  std::map<uint64_t, std::string> finished;
  std::vector<std::string> output;
};

wire::TaskSpec Spec(std::string op, int priority = 0, int retries = 0, double timeout = 0) {
  wire::TaskSpec s;
  s.op = std::move(op);
  s.priority = priority;
  s.retries = retries;
  s.timeout = timeout;
  s.args = R"({"a":1,"b":2})";
  return s;
}

wire::TaskResult Ok(uint64_t id, std::string value = "3") {
  return {id, true, std::move(value), 0, 0};
}

class CoreTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  Core core_{clock_};
  WorkerIndex Worker(const std::string& id, std::vector<std::string> ops, FakeLink* link,
                     int slots = 1) {
    auto r = core_.AddWorker(WorkerId(id), WorkerKind::kNative, ops, slots, link);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return *r;
  }
  void Results(WorkerIndex w, std::vector<wire::TaskResult> rs) { core_.OnResults(w, rs); }
};

TEST_F(CoreTest, TaskWaitsForAWorkerThenRuns) {
  auto id = core_.Submit({Spec("add")});
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(core_.counts().queued, 1u);
  auto waiting = core_.Waiting();
  ASSERT_EQ(waiting.size(), 1u);
  EXPECT_NE(waiting[0].reason.find("no live worker runs 'add'"), std::string::npos);

  FakeLink link;
  WorkerIndex w = Worker("w1", {"add"}, &link);
  ASSERT_EQ(link.assigned, std::vector<uint64_t>{1});
  EXPECT_EQ(core_.Find(*id)->state, TaskState::kRunning);

  Results(w, {Ok(1)});
  const Task* t = core_.Find(*id);
  EXPECT_EQ(t->state, TaskState::kDone);
  EXPECT_EQ(t->result, "3");
  EXPECT_EQ(core_.counts().done, 1u);
  EXPECT_EQ(core_.counts().running, 0u);
  EXPECT_EQ(core_.worker(w).done, 1u);
}

TEST_F(CoreTest, UnknownOperationIsRejectedWhole) {
  auto r = core_.Submit({Spec("add"), Spec("paint")});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("tasks[1].op: unknown operation 'paint'"), std::string::npos);
  EXPECT_EQ(core_.task_count(), 0u);
}

TEST_F(CoreTest, OperationsOfferedByAWorkerBecomeKnown) {
  FakeLink link;
  Worker("w1", {"render"}, &link);
  EXPECT_TRUE(core_.Submit({Spec("render")}).ok());
  EXPECT_EQ(link.ops, std::vector<std::string>{"render"});
}

TEST_F(CoreTest, SpecialisedWorkersOnlyGetTheirOperations) {
  FakeLink adder, multiplier;
  Worker("a", {"add"}, &adder, 4);
  Worker("m", {"mult"}, &multiplier, 4);
  ASSERT_TRUE(core_.Submit({Spec("add"), Spec("mult"), Spec("add"), Spec("mult")}).ok());
  EXPECT_EQ(adder.ops, (std::vector<std::string>{"add", "add"}));
  EXPECT_EQ(multiplier.ops, (std::vector<std::string>{"mult", "mult"}));
}

TEST_F(CoreTest, SlotsLimitWhatAWorkerHolds) {
  FakeLink link;
  WorkerIndex w = Worker("w1", {"add"}, &link, 2);
  ASSERT_TRUE(core_.Submit({Spec("add"), Spec("add"), Spec("add")}).ok());
  EXPECT_EQ(link.assigned.size(), 2u);  // add has no learned duration: no prefetch
  Results(w, {Ok(1)});
  EXPECT_EQ(link.assigned.size(), 3u);
}

TEST_F(CoreTest, ShortOperationsArePrefetched) {
  FakeLink link;
  Worker("w1", {"noop"}, &link, 2);
  std::vector<wire::TaskSpec> specs(10, Spec("noop"));
  ASSERT_TRUE(core_.Submit(specs).ok());
  EXPECT_EQ(link.assigned.size(), 4u);  // 2 slots + 2 prefetch
}

// How many tasks a worker holds follows what the operation was learned to take: about a
// millisecond of work per slot waits on the worker for tasks of microseconds, one more per
// slot near short_task (2 ms), none beyond the slots for longer tasks.
TEST_F(CoreTest, ThePrefetchWindowFollowsTheLearnedDuration) {
  auto held_after_learning = [&](const std::string& op, double seconds) -> size_t {
    Core core(clock_);
    FakeLink link;
    auto w = core.AddWorker(WorkerId("w1"), WorkerKind::kNative, {op}, 2, &link);
    EXPECT_TRUE(w.ok());
    EXPECT_TRUE(core.Submit({Spec(op)}).ok());
    std::vector<wire::TaskResult> learned{{1, true, "3", 100.0, 100.0 + seconds}};
    core.OnResults(*w, learned);
    std::vector<wire::TaskSpec> specs(1000, Spec(op));
    EXPECT_TRUE(core.Submit(specs).ok());
    return link.assigned.size() - 1;
  };
  EXPECT_EQ(held_after_learning("add", 0.000'010), 2u + 200u);  // 1 ms / 10 us per slot
  EXPECT_EQ(held_after_learning("add", 0.000'001), 2u + 256u);  // at most max_prefetch
  EXPECT_EQ(held_after_learning("add", 0.001'5), 2u + 2u);      // one more per slot
  EXPECT_EQ(held_after_learning("add", 0.5), 2u);               // a long task: slots only
}

TEST_F(CoreTest, PriorityFirstThenFifo) {
  ASSERT_TRUE(core_.Submit({Spec("add", 0), Spec("add", 5), Spec("add", 0), Spec("add", 5)}).ok());
  FakeLink link;
  WorkerIndex w = Worker("w1", {"add"}, &link, 1);
  for (int i = 0; i < 4; ++i) Results(w, {Ok(link.assigned.back())});
  EXPECT_EQ(link.assigned, (std::vector<uint64_t>{2, 4, 1, 3}));
}

TEST_F(CoreTest, LongerOperationsGoFirstOnceLearned) {
  FakeLink link;
  WorkerIndex w = Worker("w1", {"add", "mult"}, &link, 1);
  // Teach the core that mult takes 3x as long as add.
  ASSERT_TRUE(core_.Submit({Spec("add")}).ok());
  Results(w, {{1, true, "1", 10.0, 11.0}});
  ASSERT_TRUE(core_.Submit({Spec("mult")}).ok());
  Results(w, {{2, true, "1", 20.0, 23.0}});
  ASSERT_TRUE(core_.Submit({Spec("add")}).ok());  // occupies the slot
  ASSERT_TRUE(core_.Submit({Spec("add"), Spec("mult")}).ok());
  ASSERT_EQ(link.assigned.back(), 3u);
  Results(w, {Ok(3)});
  EXPECT_EQ(link.ops.back(), "mult");  // task 5 (mult) before task 4 (add)
  EXPECT_NEAR(*core_.ExpectedSeconds("mult"), 3.0, 1e-9);
}

TEST_F(CoreTest, LostWorkerGivesTasksBackWithoutCountingTheAttempt) {
  FakeLink l1, l2;
  WorkerIndex w1 = Worker("w1", {"add"}, &l1, 2);
  ASSERT_TRUE(core_.Submit({Spec("add"), Spec("add")}).ok());
  ASSERT_EQ(l1.assigned.size(), 2u);
  core_.RemoveWorker(w1, "connection closed");
  EXPECT_EQ(core_.counts().queued, 2u);
  WorkerIndex w2 = Worker("w2", {"add"}, &l2, 2);
  EXPECT_EQ(l2.assigned, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(core_.Find(TaskId(1))->attempts, 1);
  // A late result from the dead worker is ignored; the live one's counts.
  Results(w1, {Ok(1, "99")});
  EXPECT_EQ(core_.Find(TaskId(1))->state, TaskState::kRunning);
  Results(w2, {Ok(1, "3"), Ok(2, "3")});
  EXPECT_EQ(core_.Find(TaskId(1))->result, "3");
  EXPECT_EQ(core_.counts().done, 2u);
}

TEST_F(CoreTest, DuplicateResultIsRecordedOnce) {
  FakeLink link;
  WorkerIndex w = Worker("w1", {"add"}, &link);
  ASSERT_TRUE(core_.Submit({Spec("add")}).ok());
  Results(w, {Ok(1, "3"), Ok(1, "4")});
  EXPECT_EQ(core_.Find(TaskId(1))->result, "3");
  EXPECT_EQ(core_.counts().done, 1u);
  EXPECT_EQ(core_.worker(w).done, 1u);
}

TEST_F(CoreTest, MissedHeartbeatsDropTheWorker) {
  FakeLink link;
  Worker("w1", {"add"}, &link);
  ASSERT_TRUE(core_.Submit({Spec("add")}).ok());
  clock_.Advance(6s);
  core_.Tick();
  EXPECT_FALSE(link.dropped.empty());
  EXPECT_EQ(core_.live_workers(), 0u);
  EXPECT_EQ(core_.Find(TaskId(1))->state, TaskState::kQueued);
}

TEST_F(CoreTest, FailedAttemptsRetryWithBackoffThenFail) {
  FakeLink link;
  WorkerIndex w = Worker("w1", {"add"}, &link);
  ASSERT_TRUE(core_.Submit({Spec("add", 0, /*retries=*/2)}).ok());
  for (int attempt = 1; attempt <= 3; ++attempt) {
    ASSERT_EQ(link.assigned.size(), static_cast<size_t>(attempt));
    Results(w, {{1, false, "boom " + std::to_string(attempt), 0, 0}});
    if (attempt < 3) {
      EXPECT_EQ(core_.Find(TaskId(1))->state, TaskState::kQueued);
      core_.Tick();  // backoff not over yet
      EXPECT_EQ(link.assigned.size(), static_cast<size_t>(attempt));
      clock_.Advance(11s);
      core_.OnHeartbeat(w);
      core_.Tick();
    }
  }
  const Task* t = core_.Find(TaskId(1));
  EXPECT_EQ(t->state, TaskState::kFailed);
  EXPECT_EQ(t->result, "boom 3");
  EXPECT_EQ(t->attempts, 3);
  EXPECT_EQ(core_.counts().failed, 1u);
  EXPECT_EQ(core_.counts().queued, 0u);
  EXPECT_EQ(core_.counts().running, 0u);
}

TEST_F(CoreTest, TimeoutFailsTheAttemptAndCancelsIt) {
  FakeLink link;
  Worker("w1", {"sleep"}, &link);
  ASSERT_TRUE(core_.Submit({Spec("sleep", 0, 0, /*timeout=*/1.0)}).ok());
  clock_.Advance(500ms);
  core_.Tick();
  EXPECT_EQ(core_.Find(TaskId(1))->state, TaskState::kRunning);
  core_.OnHeartbeat(WorkerIndex(0));
  clock_.Advance(600ms);
  core_.Tick();
  EXPECT_EQ(core_.Find(TaskId(1))->state, TaskState::kFailed);
  EXPECT_EQ(core_.Find(TaskId(1))->result, "timed out after 1 s");
  EXPECT_EQ(link.cancelled, std::vector<uint64_t>{1});
}

TEST_F(CoreTest, CancelQueuedAndRunning) {
  FakeLink link;
  Worker("w1", {"add"}, &link);
  ASSERT_TRUE(core_.Submit({Spec("add"), Spec("add"), Spec("add")}).ok());
  EXPECT_TRUE(core_.Cancel(TaskId(2)).ok());  // queued
  EXPECT_TRUE(core_.Cancel(TaskId(1)).ok());  // running: the worker is told, task 3 starts
  EXPECT_EQ(link.cancelled, std::vector<uint64_t>{1});
  EXPECT_EQ(link.assigned, (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(core_.Cancel(TaskId(1)).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(core_.Cancel(TaskId(42)).code(), StatusCode::kNotFound);
  EXPECT_EQ(core_.counts().cancelled, 2u);
  EXPECT_EQ(core_.counts().queued, 0u);
}

TEST_F(CoreTest, RefusedTasksGoBackWithoutFailing) {
  FakeLink l1, l2;
  WorkerIndex w1 = Worker("w1", {"add"}, &l1);
  ASSERT_TRUE(core_.Submit({Spec("add")}).ok());
  std::vector<uint64_t> ids{1};
  core_.OnRefused(w1, ids, false);
  EXPECT_EQ(core_.Find(TaskId(1))->attempts, 1);  // re-sent to w1 at once
  EXPECT_EQ(l1.assigned, (std::vector<uint64_t>{1, 1}));
  EXPECT_EQ(core_.counts().failed, 0u);
}

TEST_F(CoreTest, WaitersAndClientsHearAboutFinishedTasks) {
  FakeClient client;
  core_.AddClient(ClientId(7), &client);
  FakeLink link;
  WorkerIndex w = Worker("w1", {"add"}, &link);
  ASSERT_TRUE(core_.Submit({Spec("add")}, ClientId(7)).ok());
  std::string seen;
  EXPECT_TRUE(core_.WhenFinished(TaskId(1), [&](const Task& t) { seen = t.result; }));
  EXPECT_FALSE(core_.WhenFinished(TaskId(9), [](const Task&) {}));
  Results(w, {Ok(1, "3")});
  EXPECT_EQ(seen, "3");
  EXPECT_EQ(client.finished.at(1), "w1");
}

TEST_F(CoreTest, LiveOutputReachesTheClientOnlyFromTheWorkerHoldingTheAttempt) {
  FakeClient client;
  core_.AddClient(ClientId(7), &client);
  FakeLink l1, l2;
  WorkerIndex w1 = Worker("w1", {"fly"}, &l1);
  ASSERT_TRUE(core_.Submit({Spec("fly")}, ClientId(7)).ok());
  ASSERT_TRUE(core_.Submit({Spec("fly")}).ok());  // no client: its output goes nowhere
  WorkerIndex w2 = Worker("w2", {"fly"}, &l2, 2);
  ASSERT_EQ(core_.Find(TaskId(1))->worker, w1);
  std::vector<wire::TaskOutput> out = {{1, 0, "a\n"}, {2, 0, "x\n"}, {1, 2, "b\n"}};
  core_.OnOutput(w1, out);
  core_.OnOutput(w2, out);  // w2 does not hold task 1
  EXPECT_EQ(client.output, (std::vector<std::string>{"1@0:a\n", "1@2:b\n"}));
  // The attempt is lost with its worker; its late lines are dropped, the next attempt's pass.
  core_.RemoveWorker(w1, "disconnected");
  clock_.Advance(1s);
  core_.Tick();
  ASSERT_EQ(core_.Find(TaskId(1))->worker, w2);
  core_.OnOutput(w1, std::vector<wire::TaskOutput>{{1, 4, "late\n"}});
  core_.OnOutput(w2, std::vector<wire::TaskOutput>{{1, 0, "a\n"}});
  Results(w2, {Ok(1, "3")});
  core_.OnOutput(w2, std::vector<wire::TaskOutput>{{1, 2, "after the end\n"}});
  EXPECT_EQ(client.output, (std::vector<std::string>{"1@0:a\n", "1@2:b\n", "1@0:a\n"}));
}

TEST_F(CoreTest, DuplicateLiveWorkerIdIsRefused) {
  FakeLink l1, l2;
  Worker("w1", {"add"}, &l1);
  auto r = core_.AddWorker(WorkerId("w1"), WorkerKind::kNative, {"add"}, 1, &l2);
  EXPECT_EQ(r.status().code(), StatusCode::kAlreadyExists);
}

TEST_F(CoreTest, UnsupportedOperationIsForgottenForThatWorker) {
  FakeLink l1, l2;
  WorkerIndex w1 =
      core_.AddWorker(WorkerId("h"), WorkerKind::kHttp, {"add", "mult"}, 1, &l1).value();
  ASSERT_TRUE(core_.Submit({Spec("mult")}).ok());
  core_.OnUnsupported(w1, TaskId(1));
  EXPECT_EQ(core_.worker(w1).ops.size(), 1u);
  Worker("m", {"mult"}, &l2);
  EXPECT_EQ(l2.assigned, std::vector<uint64_t>{1});
}

TEST_F(CoreTest, ListFiltersByStateAndOp) {
  FakeLink link;
  WorkerIndex w = Worker("w1", {"add", "mult"}, &link, 1);
  ASSERT_TRUE(core_.Submit({Spec("add"), Spec("mult"), Spec("add")}).ok());
  Results(w, {Ok(2)});  // mult runs first
  auto done = core_.List(TaskState::kDone, "", 0, 10);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0]->id.value(), 2u);
  EXPECT_EQ(core_.List(std::nullopt, "add", 0, 10).size(), 2u);
  EXPECT_EQ(core_.List(std::nullopt, "", 1, 1).front()->id.value(), 2u);
}

}  // namespace
}  // namespace volo::planner

namespace volo::planner {
namespace {
TEST_F(CoreTest, MultGoesBeforeAddEvenBeforeAnythingRan) {
  ASSERT_TRUE(core_.Submit({Spec("add"), Spec("add"), Spec("mult")}).ok());
  FakeLink link;
  Worker("w1", {"add", "mult"}, &link, 1);
  EXPECT_EQ(link.ops, std::vector<std::string>{"mult"});
}
}  // namespace
}  // namespace volo::planner

namespace volo::planner {
namespace {

// Keeps the records the server's journal would write, built by the same functions.
class RecordingJournal : public JournalSink {
 public:
  void OnSubmitted(const Task& t, std::string_view op, std::string_view key,
                   size_t count) override {
    records.push_back(SubmittedRecord(t, op, key, count));
  }
  void OnFinished(const Task& t, std::string_view worker) override {
    journal::FinishRecord f = FinishedRecord(t, worker);
    for (auto& r : records) {
      if (r.id != f.id) continue;
      r.state = f.state;
      r.result = f.result;
      r.worker = f.worker;
      r.attempts = f.attempts;
      r.started = f.started;
      r.finished = f.finished;
    }
  }
  std::vector<journal::TaskRecord> records;
};

TEST_F(CoreTest, IdempotencyKeyQueuesOnce) {
  auto a = core_.Submit({Spec("add"), Spec("add")}, ClientId(), "k1");
  auto b = core_.Submit({Spec("add"), Spec("add")}, ClientId(), "k1");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(core_.task_count(), 2u);
  EXPECT_EQ(core_.Submit({Spec("add")}, ClientId(), "k1").status().code(),
            StatusCode::kAlreadyExists);
}

TEST_F(CoreTest, RestoreRebuildsQueuedAndFinishedTasks) {
  RecordingJournal j;
  core_.SetJournal(&j);
  FakeLink link;
  WorkerIndex w = Worker("w1", {"add"}, &link, 1);
  wire::TaskSpec labelled = Spec("add", /*priority=*/0, /*retries=*/2, /*timeout=*/30);
  labelled.labels = {{"team", "physics"}, {"run", "a\"b"}};
  ASSERT_TRUE(core_.Submit({Spec("add"), Spec("add"), labelled}, ClientId(), "key").ok());
  Results(w, {Ok(1, "3")});  // task 2 is now running, task 3 queued
  ASSERT_EQ(j.records.size(), 3u);

  Core restarted(clock_);
  for (auto r : j.records) restarted.Restore(std::move(r));
  EXPECT_EQ(restarted.Find(TaskId(1))->state, TaskState::kDone);
  EXPECT_EQ(restarted.Find(TaskId(1))->result, "3");
  EXPECT_EQ(restarted.worker(restarted.Find(TaskId(1))->worker).id.value(), "w1");
  EXPECT_EQ(restarted.Find(TaskId(2))->state, TaskState::kQueued);  // was running: runs again
  const Task* t3 = restarted.Find(TaskId(3));
  EXPECT_EQ(t3->retries, 2);
  EXPECT_FLOAT_EQ(t3->timeout, 30);
  ASSERT_TRUE(t3->labels);
  EXPECT_EQ(*t3->labels, (std::vector<std::pair<std::string, std::string>>{{"team", "physics"},
                                                                           {"run", "a\"b"}}));
  EXPECT_EQ(restarted.counts().queued, 2u);
  EXPECT_EQ(restarted.counts().done, 1u);
  EXPECT_EQ(restarted.next_id(), 4u);
  // The key still answers with the old ids, and new ids continue after the old ones.
  EXPECT_EQ(restarted.Submit({Spec("add"), Spec("add"), Spec("add")}, ClientId(), "key")->value(),
            1u);
  EXPECT_EQ(restarted.Submit({Spec("add")})->value(), 4u);
  FakeLink l2;
  ASSERT_TRUE(restarted.AddWorker(WorkerId("w2"), WorkerKind::kNative, {"add"}, 4, &l2).ok());
  EXPECT_EQ(l2.assigned, (std::vector<uint64_t>{2, 3, 4}));
}

// Core::Finish hands the sinks a view of the worker's id. It once bound that view to the
// temporary std::string of `ran ? id.value() : ""`, so the journal and the clients read freed
// memory (AddressSanitizer: stack- or heap-use-after-scope). Both id lengths matter: a short id
// lives inside the temporary, a long one on the heap.
TEST_F(CoreTest, FinishedTaskNamesItsWorkerToJournalAndClient) {
  RecordingJournal j;
  core_.SetJournal(&j);
  FakeClient client;
  core_.AddClient(ClientId(7), &client);
  const std::string long_id = "worker-with-an-id-longer-than-any-small-string-buffer";
  FakeLink short_link, long_link;
  WorkerIndex s = Worker("w1", {"add"}, &short_link);
  ASSERT_TRUE(core_.Submit({Spec("add")}, ClientId(7)).ok());
  WorkerIndex l = Worker(long_id, {"add"}, &long_link);
  ASSERT_TRUE(
      core_.Submit({Spec("add"), Spec("mult")}, ClientId(7)).ok());  // mult: no worker runs it
  ASSERT_EQ(short_link.assigned, std::vector<uint64_t>{1});
  ASSERT_EQ(long_link.assigned, std::vector<uint64_t>{2});
  Results(s, {Ok(1)});
  Results(l, {{2, false, "boom", 0, 0}});
  ASSERT_TRUE(core_.Cancel(TaskId(3)).ok());  // never ran: no worker

  ASSERT_EQ(j.records.size(), 3u);
  EXPECT_EQ(j.records[0].worker, "w1");
  EXPECT_EQ(j.records[1].worker, long_id);
  EXPECT_EQ(j.records[2].worker, "");
  EXPECT_EQ(client.finished.at(1), "w1");
  EXPECT_EQ(client.finished.at(2), long_id);
  EXPECT_EQ(client.finished.at(3), "");
}

TEST_F(CoreTest, PruneDropsOldFinishedTasksOnly) {
  FakeLink link;
  WorkerIndex w = Worker("w1", {"add"}, &link, 1);
  ASSERT_TRUE(core_.Submit({Spec("add"), Spec("add")}, ClientId(), "k").ok());
  Results(w, {{1, true, "3", 10, 20}});
  EXPECT_EQ(core_.Prune(15), 0u);  // finished at 20, not before 15
  EXPECT_EQ(core_.Prune(25), 1u);
  EXPECT_EQ(core_.Find(TaskId(1)), nullptr);
  EXPECT_NE(core_.Find(TaskId(2)), nullptr);
  EXPECT_EQ(core_.counts().done, 0u);
  EXPECT_EQ(core_.Submit({Spec("add")})->value(), 3u);
}

namespace poison {

wire::TaskResult Crash(uint64_t id, std::string how) {
  wire::TaskResult r{id, false, std::move(how), 0, 0};
  r.crashed = true;
  return r;
}

class PoisonTest : public CoreTest {
 protected:
  // The worker that holds task `id` now.
  WorkerIndex Holder(uint64_t id) {
    const Task* t = core_.Find(TaskId(id));
    EXPECT_EQ(t->state, TaskState::kRunning);
    return t->worker;
  }
  // Lets a crashed task's backoff pass and the scheduler hand it out again.
  void PassBackoff() {
    clock_.Advance(11s);
    for (uint32_t w = 0; w < core_.workers().size(); ++w) {
      if (core_.workers()[w].alive) core_.OnHeartbeat(WorkerIndex(w));
    }
    core_.Tick();
  }
};

TEST_F(PoisonTest, ATaskThatCrashesTwiceFailsWithItsHistoryAndWorkersStay) {
  FakeLink l1, l2, l3;
  Worker("w1", {"fly"}, &l1);
  Worker("w2", {"fly"}, &l2);
  Worker("w3", {"fly"}, &l3);
  FakeClient client;
  core_.AddClient(ClientId(7), &client);
  // Plenty of retries: crashes have their own budget.
  auto spec = Spec("fly", 0, /*retries=*/5);
  ASSERT_TRUE(core_.Submit({spec}, ClientId(7)).ok());
  WorkerIndex first = Holder(1);
  Results(first, {Crash(1, "instance 3: killed by SIGFPE")});
  const Task* t = core_.Find(TaskId(1));
  EXPECT_EQ(t->state, TaskState::kQueued) << "one crash: it runs again";
  EXPECT_EQ(t->incidents, 1);
  EXPECT_EQ(t->attempts, 0) << "a crash does not use up a retry";
  core_.Tick();
  EXPECT_EQ(core_.counts().running, 0u) << "a crashed task waits out a backoff first";
  PassBackoff();
  WorkerIndex second = Holder(1);
  Results(second, {Crash(1, "instance 3: killed by SIGFPE")});
  t = core_.Find(TaskId(1));
  EXPECT_EQ(t->state, TaskState::kFailed);
  std::string w1 = core_.worker(first).id.value(), w2 = core_.worker(second).id.value();
  EXPECT_EQ(t->result, "crashed 2 times: instance 3: killed by SIGFPE on " + w1 +
                           "; instance 3: killed by SIGFPE on " + w2);
  EXPECT_EQ(t->history, nullptr);
  EXPECT_EQ(client.finished.count(1), 1u);
  EXPECT_EQ(core_.counts().failed, 1u);
  EXPECT_EQ(core_.counts().queued, 0u);
  EXPECT_EQ(core_.counts().running, 0u);
  EXPECT_EQ(core_.live_workers(), 3u);
  // The fleet goes on.
  ASSERT_TRUE(core_.Submit({Spec("fly")}).ok());
  Results(Holder(2), {Ok(2)});
  EXPECT_EQ(core_.Find(TaskId(2))->state, TaskState::kDone);
}

TEST_F(PoisonTest, ATaskThatLosesItsWorkerTwiceFailsInsteadOfTakingAThird) {
  FakeLink l1, l2, l3;
  WorkerIndex w1 = Worker("w1", {"fly"}, &l1);
  ASSERT_TRUE(core_.Submit({Spec("fly")}).ok());
  core_.RemoveWorker(w1, "disconnected");
  EXPECT_EQ(core_.Find(TaskId(1))->state, TaskState::kQueued);
  WorkerIndex w2 = Worker("w2", {"fly"}, &l2);
  EXPECT_EQ(l2.assigned, std::vector<uint64_t>{1}) << "a lost worker's task runs at once";
  core_.RemoveWorker(w2, "missed heartbeats");
  const Task* t = core_.Find(TaskId(1));
  EXPECT_EQ(t->state, TaskState::kFailed);
  EXPECT_EQ(t->result, "crashed 2 times: worker w1 lost; worker w2 lost");
  Worker("w3", {"fly"}, &l3);
  EXPECT_TRUE(l3.assigned.empty()) << "the poison task reached a third worker";
  EXPECT_EQ(core_.counts().failed, 1u);
  EXPECT_EQ(core_.counts().running, 0u);
  EXPECT_EQ(core_.counts().queued, 0u);
}

TEST_F(PoisonTest, ACrashAndALostWorkerAddUp) {
  FakeLink l1, l2;
  Worker("w1", {"fly"}, &l1);
  ASSERT_TRUE(core_.Submit({Spec("fly")}).ok());
  Results(WorkerIndex(0), {Crash(1, "killed by SIGSEGV")});
  WorkerIndex w2 = Worker("w2", {"fly"}, &l2);
  PassBackoff();
  WorkerIndex holder = Holder(1);
  core_.RemoveWorker(holder, "disconnected");
  std::string lost = holder == w2 ? "w2" : "w1";
  EXPECT_EQ(core_.Find(TaskId(1))->result,
            "crashed 2 times: killed by SIGSEGV on w1; worker " + lost + " lost");
}

TEST_F(PoisonTest, AnErrorAfterACrashTellsOfTheCrashAndSuccessForgetsIt) {
  FakeLink l1;
  WorkerIndex w = Worker("w1", {"fly"}, &l1, 2);
  ASSERT_TRUE(core_.Submit({Spec("fly"), Spec("fly")}).ok());
  Results(w, {Crash(1, "killed by SIGSEGV")});
  PassBackoff();
  Results(w, {{1, false, "boom", 0, 0}});
  EXPECT_EQ(core_.Find(TaskId(1))->state, TaskState::kFailed);
  EXPECT_EQ(core_.Find(TaskId(1))->result, "boom (earlier: killed by SIGSEGV on w1)");

  Results(w, {Crash(2, "killed by SIGKILL")});
  PassBackoff();
  Results(w, {Ok(2, "5")});
  EXPECT_EQ(core_.Find(TaskId(2))->state, TaskState::kDone);
  EXPECT_EQ(core_.Find(TaskId(2))->result, "5");
  EXPECT_EQ(core_.Find(TaskId(2))->history, nullptr);
}

TEST(PoisonOptions, TheLimitIsAnOptionAndZeroMeansNone) {
  for (int limit : {0, 3}) {
    FakeClock clock;
    CoreOptions o;
    o.max_crashes = limit;
    Core core(clock, o);
    std::vector<std::unique_ptr<FakeLink>> links;
    ASSERT_TRUE(core.Submit({Spec("add")}).ok());
    for (int k = 0; k < 5; ++k) {
      links.push_back(std::make_unique<FakeLink>());
      auto w = core.AddWorker(WorkerId("w" + std::to_string(k)), WorkerKind::kNative, {"add"}, 1,
                              links.back().get());
      ASSERT_TRUE(w.ok());
      if (core.Find(TaskId(1))->state != TaskState::kRunning) break;
      core.RemoveWorker(*w, "gone");
    }
    const Task* t = core.Find(TaskId(1));
    if (limit == 0) {
      EXPECT_EQ(t->state, TaskState::kQueued) << "no limit: it waits for the next worker";
      EXPECT_EQ(t->incidents, 5);
    } else {
      EXPECT_EQ(t->state, TaskState::kFailed);
      EXPECT_EQ(t->result, "crashed 3 times: worker w0 lost; worker w1 lost; worker w2 lost");
    }
  }
}

}  // namespace poison
}  // namespace
}  // namespace volo::planner
