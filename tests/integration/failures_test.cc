// Failure paths: workers killed, stopped, failing, lying or hanging; peers speaking garbage.
// In every case no task is lost, none is recorded twice, and the planner keeps serving.

#include <signal.h>

#include <map>

#include "fakes.h"
#include "harness.h"

namespace volo::itest {
namespace {

class FailureTest : public VoloTest {
 protected:
  // Ids of `ids` the planner shows running on `worker`.
  std::vector<uint64_t> RunningOn(const PlannerProc& planner, const std::vector<uint64_t>& ids,
                                  const std::string& worker) {
    std::vector<uint64_t> out;
    for (uint64_t id : ids) {
      const json::object t = GetTask(planner, id);
      if (Str(t, "state") == "running" && Str(t, "worker") == worker) out.push_back(id);
    }
    return out;
  }

  // Registers `broken` as the only add worker and a volo worker for mult only, then runs an add
  // task (with the fields of `extra`) and a mult task. Returns both, finished, in that order.
  std::vector<json::object> RunAddOnBrokenWorker(const FakeHttpWorker& broken,
                                                 const std::string& id, const json::object& extra) {
    PlannerProc planner = StartPlanner();
    if (planner.port == 0) return {{}, {}};
    const Reply reg = RegisterFake(planner, broken, id, R"(["add"])");
    EXPECT_EQ(reg.status, 200) << reg.Describe();
    StartWorker(planner, {.id = "honest", .args = {"--ops", "mult", "--duration-scale", "0.01"}});
    json::object add = SeedTask("add", 1, 2);
    for (const auto& [key, value] : extra) add[key] = value;
    const uint64_t first = Submit(planner, add);
    const uint64_t second = Submit(planner, SeedTask("mult", 3, 4));
    return WaitFinished(planner, {first, second});
  }

  // Each task done exactly once: the planner's counters add up to the tasks, and each worker's
  // "done" equals the tasks recorded as run by it.
  void ExpectEachDoneOnce(const PlannerProc& planner, const std::vector<json::object>& tasks) {
    std::map<std::string, double> by_worker;
    for (const auto& t : tasks) ++by_worker[Str(t, "worker")];
    const json::object status = Status(planner);
    EXPECT_EQ(NumAt(status, "done"), static_cast<double>(tasks.size())) << json::serialize(status);
    EXPECT_EQ(NumAt(status, "failed"), 0) << json::serialize(status);
    EXPECT_EQ(NumAt(status, "queued"), 0) << json::serialize(status);
    EXPECT_EQ(NumAt(status, "running"), 0) << json::serialize(status);
    for (const auto& w : Workers(planner)) {
      const auto& o = w.as_object();
      EXPECT_EQ(NumAt(o, "done"), by_worker[Str(o, "id")]) << json::serialize(o);
    }
  }
};

TEST_F(FailureTest, KilledWorkerTasksFinishElsewhereExactlyOnce) {
  PlannerProc planner = StartPlanner({"--heartbeat-timeout", "1"});
  ASSERT_NE(planner.port, 0);
  Child* doomed =
      StartWorker(planner, {.id = "doomed", .args = {"--slots", "4", "--duration-scale", "0.3"}});
  ASSERT_FALSE(HasFailure());

  // Tasks of a second or more: two sleeps, an add (0.9-2.1 s) and a mult (0.9-3.6 s).
  json::array tasks;
  tasks.push_back(json::object{{"op", "sleep"}, {"args", json::object{{"seconds", 1.5}}}});
  tasks.push_back(json::object{{"op", "sleep"}, {"args", json::object{{"seconds", 1.5}}}});
  tasks.push_back(SeedTask("add", 8, 9));
  tasks.push_back(SeedTask("mult", 8, 9));
  const auto ids = SubmitMany(planner, tasks);
  ASSERT_EQ(ids.size(), 4u);

  std::vector<uint64_t> held;
  ASSERT_TRUE(PollUntil(
      [&] {
        held = RunningOn(planner, ids, "doomed");
        return held.size() >= 2;
      },
      seconds(20)))
      << "the worker never ran two tasks at once";
  h_.Signal(*doomed, SIGKILL);
  ASSERT_TRUE(h_.WaitExit(*doomed, seconds(10)));

  // Its tasks go back to the queue (the connection closed), not to failed.
  EXPECT_TRUE(PollUntil(
      [&] {
        for (uint64_t id : held) {
          if (Str(GetTask(planner, id), "state") != "queued") return false;
        }
        return true;
      },
      seconds(15)))
      << "the killed worker's tasks were not queued again";

  StartWorker(planner, {.id = "rescuer", .args = {"--slots", "4", "--duration-scale", "0.3"}});
  const auto finished = WaitFinished(planner, ids);
  for (size_t i = 0; i < finished.size(); ++i) {
    const auto& t = finished[i];
    EXPECT_EQ(Str(t, "state"), "done") << json::serialize(t);
    if (i >= 2) ExpectDoneWithRightResult(t);
  }
  for (uint64_t id : held) {
    EXPECT_EQ(Str(GetTask(planner, id), "worker"), "rescuer") << "task " << id;
  }
  ExpectEachDoneOnce(planner, finished);
}

// A worker that stops answering without closing its connection (SIGSTOP) is declared dead
// after --heartbeat-timeout; its task runs elsewhere, and its late result (after SIGCONT) is
// ignored, so the task is recorded once.
TEST_F(FailureTest, FrozenWorkerIsDeclaredDeadAndItsLateResultIgnored) {
  PlannerProc planner = StartPlanner({"--heartbeat-timeout", "1"});
  ASSERT_NE(planner.port, 0);
  Child* frozen = StartWorker(planner, {.id = "frozen", .args = {"--duration-scale", "0.3"}});
  ASSERT_FALSE(HasFailure());
  const uint64_t id = Submit(planner, SeedTask("mult", 11, 13));
  ASSERT_TRUE(PollUntil([&] { return !RunningOn(planner, {id}, "frozen").empty(); }, seconds(20)));
  h_.Signal(*frozen, SIGSTOP);

  EXPECT_TRUE(PollUntil(
      [&] {
        const auto w = FindWorker(planner, "frozen");
        return !w || Str(*w, "state") != "live";
      },
      seconds(20)))
      << "a worker silent past --heartbeat-timeout is still live";
  StartWorker(planner, {.id = "thawed-out", .args = {"--duration-scale", "0.01"}});
  const auto tasks = WaitFinished(planner, {id});
  ExpectDoneWithRightResult(tasks[0]);
  EXPECT_EQ(Str(tasks[0], "worker"), "thawed-out");

  // Wake the frozen worker: it finishes its copy and reports it (or reconnects first).
  h_.Signal(*frozen, SIGCONT);
  const bool back = PollUntil(
      [&] {
        const auto w = FindWorker(planner, "frozen");
        return w && Str(*w, "state") == "live";
      },
      seconds(15));
  if (back) {
    // Its messages before re-registering are handled; give it work to prove it is usable.
    const auto more = SubmitMany(planner, MixedTasks(2));
    for (const auto& t : WaitFinished(planner, more)) ExpectDoneWithRightResult(t);
  }
  const json::object again = GetTask(planner, id);
  EXPECT_EQ(Str(again, "worker"), "thawed-out") << json::serialize(again);
  EXPECT_DOUBLE_EQ(NumAt(again, "result"), 143);
  EXPECT_EQ(NumAt(Status(planner), "done"), back ? 3 : 1);
}

// A planner with --data that crashes (SIGKILL) mid-run and restarts on the same journal and
// port loses nothing: finished tasks keep their results, queued and running ones run, the
// worker reconnects by itself, and new ids do not reuse old ones.
TEST_F(FailureTest, PlannerRestartedOnItsJournalLosesNothing) {
  const std::string data = TempPath("data");
  PlannerProc planner = StartPlanner({"--data", data});
  ASSERT_NE(planner.port, 0);
  StartWorker(planner, {.id = "loyal", .args = {"--duration-scale", "0.1"}});
  ASSERT_FALSE(HasFailure());
  const auto ids = SubmitMany(planner, MixedTasks(6));
  ASSERT_EQ(ids.size(), 6u);
  json::object status;
  ASSERT_TRUE(PollUntil(
      [&] {
        status = Status(planner);
        return NumAt(status, "done") >= 2 && NumAt(status, "running") >= 1;
      },
      seconds(30)))
      << json::serialize(status);
  std::map<uint64_t, double> done_before;
  for (uint64_t id : ids) {
    const json::object t = GetTask(planner, id);
    if (Str(t, "state") == "done") done_before[id] = NumAt(t, "result");
  }
  h_.Kill(*planner.child);

  PlannerProc again = StartPlanner({"--data", data}, {}, planner.port);
  ASSERT_NE(again.port, 0) << "the planner did not restart on its journal";
  for (const auto& [id, result] : done_before) {
    const json::object t = GetTask(again, id);
    EXPECT_EQ(Str(t, "state"), "done")
        << "the API showed task " << id << " done before the crash, but the journal did not "
        << "hold it: " << json::serialize(t);
    EXPECT_DOUBLE_EQ(NumAt(t, "result"), result) << json::serialize(t);
  }
  EXPECT_TRUE(PollUntil([&] { return FindWorker(again, "loyal").has_value(); }, seconds(30)))
      << "the worker did not reconnect to the restarted planner";
  const auto finished = WaitFinished(again, ids);
  for (const auto& t : finished) ExpectDoneWithRightResult(t);
  EXPECT_EQ(NumAt(Status(again), "done"), 6);

  const uint64_t fresh = Submit(again, SeedTask("add", 1, 1));
  EXPECT_GT(fresh, ids.back()) << "a new task reused an id from before the restart";
}

TEST_F(FailureTest, TerminatedWorkerDrainsAndNothingIsLost) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  Child* leaving =
      StartWorker(planner, {.id = "leaving", .args = {"--slots", "2", "--duration-scale", "0.2"}});
  ASSERT_FALSE(HasFailure());
  const auto ids = SubmitMany(planner, MixedTasks(6));
  ASSERT_EQ(ids.size(), 6u);
  ASSERT_TRUE(PollUntil([&] { return !RunningOn(planner, ids, "leaving").empty(); }, seconds(20)));

  h_.Signal(*leaving, SIGTERM);
  ASSERT_TRUE(h_.WaitExit(*leaving, seconds(30))) << "SIGTERM did not stop the worker";
  EXPECT_EQ(leaving->ExitCode(), 0) << "a drained worker should exit cleanly";

  // Nothing it held is stuck on it.
  EXPECT_TRUE(PollUntil([&] { return RunningOn(planner, ids, "leaving").empty(); }, seconds(15)));

  StartWorker(planner, {.id = "stayer", .args = {"--slots", "2", "--duration-scale", "0.02"}});
  const auto finished = WaitFinished(planner, ids);
  for (const auto& t : finished) ExpectDoneWithRightResult(t);
  ExpectEachDoneOnce(planner, finished);
}

TEST_F(FailureTest, FailingTaskIsRetriedThenFailedWithErrorText) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  FakeHttpWorker broken({.mode = FakeMode::kStatus500});
  const Reply reg = RegisterFake(planner, broken, "broken", R"(["add"])");
  ASSERT_EQ(reg.status, 200) << reg.Describe();

  json::object retried = SeedTask("add", 1, 2);
  retried["retries"] = 2;
  const uint64_t id = Submit(planner, retried);
  const uint64_t once = Submit(planner, SeedTask("add", 3, 4));
  ASSERT_NE(id, 0u);
  ASSERT_NE(once, 0u);

  const auto tasks = WaitFinished(planner, {id, once});
  EXPECT_EQ(Str(tasks[0], "state"), "failed") << json::serialize(tasks[0]);
  EXPECT_EQ(NumAt(tasks[0], "attempts"), 3) << json::serialize(tasks[0]);
  EXPECT_FALSE(Str(tasks[0], "error").empty()) << json::serialize(tasks[0]);
  EXPECT_EQ(Str(tasks[1], "state"), "failed") << json::serialize(tasks[1]);
  EXPECT_EQ(NumAt(tasks[1], "attempts"), 1) << json::serialize(tasks[1]);
  EXPECT_EQ(broken.requests(), 4) << "3 attempts + 1 attempt";
  const std::string error = Str(tasks[0], "error");
  EXPECT_TRUE(error.find("500") != std::string::npos ||
              error.find("fake worker exploded") != std::string::npos)
      << "the error does not say what went wrong: " << error;
}

TEST_F(FailureTest, HttpWorkerAnsweringGarbageFailsOnlyItsTasks) {
  FakeHttpWorker liar({.mode = FakeMode::kGarbage});
  const auto tasks = RunAddOnBrokenWorker(liar, "liar", {{"retries", 1}});
  EXPECT_EQ(Str(tasks[0], "state"), "failed") << json::serialize(tasks[0]);
  EXPECT_EQ(NumAt(tasks[0], "attempts"), 2) << json::serialize(tasks[0]);
  // A clear error names the worker that misbehaved.
  EXPECT_NE(Str(tasks[0], "error").find("liar"), std::string::npos) << json::serialize(tasks[0]);
  ExpectDoneWithRightResult(tasks[1]);
  EXPECT_EQ(Str(tasks[1], "worker"), "honest");
}

TEST_F(FailureTest, HangingHttpWorkerTimesOutOthersUnaffected) {
  FakeHttpWorker hangs({.mode = FakeMode::kHang});
  const auto tasks = RunAddOnBrokenWorker(hangs, "hangs", {{"timeout", 1}});
  EXPECT_EQ(Str(tasks[0], "state"), "failed") << json::serialize(tasks[0]);
  EXPECT_NE(Str(tasks[0], "error").find("timed out"), std::string::npos)
      << json::serialize(tasks[0]);
  ExpectDoneWithRightResult(tasks[1]);
  EXPECT_EQ(Str(tasks[1], "worker"), "honest");
}

TEST_F(FailureTest, NativeTaskTimeoutFailsWithClearError) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  StartWorker(planner, {.id = "w", .args = {"--slots", "2", "--duration-scale", "0.01"}});
  json::object slow{{"op", "sleep"}, {"args", json::object{{"seconds", 30}}}, {"timeout", 0.5}};
  const uint64_t id = Submit(planner, slow);
  const uint64_t after = Submit(planner, SeedTask("add", 1, 1));
  const auto tasks = WaitFinished(planner, {id}, seconds(20));
  EXPECT_EQ(Str(tasks[0], "state"), "failed") << json::serialize(tasks[0]);
  EXPECT_NE(Str(tasks[0], "error").find("timed out"), std::string::npos)
      << json::serialize(tasks[0]);
  ExpectDoneWithRightResult(WaitFinished(planner, {after})[0]);
}

}  // namespace
}  // namespace volo::itest
