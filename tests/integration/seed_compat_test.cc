// Seed compatibility both ways: volo's planner drives a seed-style HTTP worker (written here on
// net::Server), and volo's worker answers a plain HTTP client the way the seed's planner expects.

#include <cmath>
#include <future>
#include <set>

#include "fakes.h"
#include "harness.h"

namespace volo::itest {
namespace {

class SeedCompatTest : public VoloTest {
 protected:
  void Register(const PlannerProc& planner, const FakeHttpWorker& worker, const std::string& id,
                const std::string& ops_json = "") {
    const Reply r = RegisterFake(planner, worker, id, ops_json);
    ASSERT_EQ(r.status, 200) << "register " << id << ": " << r.Describe();
    ASSERT_TRUE(FindWorker(planner, id).has_value()) << id << " not listed after register";
  }
};

TEST_F(SeedCompatTest, PlannerDrivesRegisteredHttpWorker) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  FakeHttpWorker fake({.delay = milliseconds(20)});
  ASSERT_TRUE(fake.listening());
  ASSERT_NO_FATAL_FAILURE(Register(planner, fake, "seed-1"));

  const auto ids = SubmitMany(planner, MixedTasks(6));
  ASSERT_EQ(ids.size(), 6u);
  for (const auto& t : WaitFinished(planner, ids)) {
    ExpectDoneWithRightResult(t);
    EXPECT_EQ(Str(t, "worker"), "seed-1");
  }
  EXPECT_EQ(fake.completed(), 6) << "each task should be pushed to the worker exactly once";
  const auto listed = FindWorker(planner, "seed-1");
  ASSERT_TRUE(listed.has_value());
  EXPECT_EQ(Str(*listed, "kind"), "http") << json::serialize(*listed);
  EXPECT_EQ(StrSet(*listed, "ops"), (std::set<std::string>{"add", "mult"}));
  EXPECT_EQ(NumAt(*listed, "done"), 6) << json::serialize(*listed);
}

TEST_F(SeedCompatTest, BusyAnswersRequeueAndAreNotFailures) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  FakeHttpWorker fake({.delay = milliseconds(10), .busy_first = 3});
  ASSERT_NO_FATAL_FAILURE(Register(planner, fake, "busy-one"));

  // retries 0: a 403 counted as a failed attempt would fail the task.
  const auto ids = SubmitMany(planner, MixedTasks(4));
  ASSERT_EQ(ids.size(), 4u);
  for (const auto& t : WaitFinished(planner, ids)) {
    ExpectDoneWithRightResult(t);
    EXPECT_EQ(NumAt(t, "attempts"), 1)
        << "a busy answer counted as an attempt: " << json::serialize(t);
  }
  EXPECT_GE(fake.busy_answers(), 3);
  EXPECT_EQ(fake.completed(), 4);
  EXPECT_EQ(NumAt(Status(planner), "failed"), 0);
}

TEST_F(SeedCompatTest, RefusedConnectionRequeuesToAnotherWorker) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  FakeHttpWorker gone({});
  ASSERT_NO_FATAL_FAILURE(Register(planner, gone, "gone"));
  const std::string state_when_live = Str(*FindWorker(planner, "gone"), "state");
  gone.Stop();  // its port now refuses connections

  const auto ids = SubmitMany(planner, MixedTasks(4));
  ASSERT_EQ(ids.size(), 4u);
  // The planner tries the only worker, is refused, and forgets it; the tasks wait, unfailed.
  EXPECT_TRUE(PollUntil(
      [&] {
        const auto w = FindWorker(planner, "gone");
        return !w || Str(*w, "state") != state_when_live;
      },
      seconds(15)))
      << "the planner still lists a worker whose connections are refused as " << state_when_live;
  for (uint64_t id : ids) {
    EXPECT_EQ(Str(GetTask(planner, id), "state"), "queued") << "task " << id;
  }

  FakeHttpWorker other({.delay = milliseconds(10)});
  ASSERT_NO_FATAL_FAILURE(Register(planner, other, "other"));
  for (const auto& t : WaitFinished(planner, ids)) {
    ExpectDoneWithRightResult(t);
    EXPECT_EQ(Str(t, "worker"), "other");
  }
  EXPECT_EQ(gone.requests(), 0);
  EXPECT_EQ(NumAt(Status(planner), "failed"), 0);
}

TEST_F(SeedCompatTest, RefusedMidRunMovesRemainingWorkToLiveWorker) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  FakeHttpWorker first({.delay = milliseconds(0)});
  FakeHttpWorker second({.delay = milliseconds(100)});
  ASSERT_NO_FATAL_FAILURE(Register(planner, first, "first"));
  ASSERT_NO_FATAL_FAILURE(Register(planner, second, "second"));

  const auto ids = SubmitMany(planner, MixedTasks(8));
  ASSERT_EQ(ids.size(), 8u);
  ASSERT_TRUE(PollUntil([&] { return first.completed() >= 1; }, seconds(20)));
  first.Stop();
  const int first_done = first.completed();

  int by_first = 0;
  for (const auto& t : WaitFinished(planner, ids)) {
    ExpectDoneWithRightResult(t);
    by_first += Str(t, "worker") == "first";
  }
  // Every task is recorded once, on the worker that answered it.
  EXPECT_EQ(by_first, first_done);
  EXPECT_EQ(first_done + second.completed(), 8);
  EXPECT_EQ(NumAt(Status(planner), "failed"), 0);
}

TEST_F(SeedCompatTest, NotFoundTakesOperationOffWorkersList) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  // Registers without "ops" (so both by default) but only serves add.
  FakeHttpWorker adder({.ops = {"add"}});
  ASSERT_NO_FATAL_FAILURE(Register(planner, adder, "adder"));

  const uint64_t mult = Submit(planner, SeedTask("mult", 6, 7));
  ASSERT_NE(mult, 0u);
  EXPECT_TRUE(PollUntil(
      [&] {
        const auto w = FindWorker(planner, "adder");
        return w && !StrSet(*w, "ops").contains("mult");
      },
      seconds(15)))
      << "a 404 on /mult did not take mult off the worker's list";
  EXPECT_EQ(Str(GetTask(planner, mult), "state"), "queued");

  const uint64_t add = Submit(planner, SeedTask("add", 6, 7));
  ExpectDoneWithRightResult(WaitFinished(planner, {add})[0]);

  FakeHttpWorker multiplier({.ops = {"mult"}});
  ASSERT_NO_FATAL_FAILURE(Register(planner, multiplier, "multiplier", R"(["mult"])"));
  const auto tasks = WaitFinished(planner, {mult});
  ExpectDoneWithRightResult(tasks[0]);
  EXPECT_EQ(Str(tasks[0], "worker"), "multiplier");
}

// volo's worker, as the seed's planner sees it.
TEST_F(SeedCompatTest, VoloWorkerAnswersSeedPlannerRequests) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  const std::string port_file = TempPath("worker.port");
  Child* worker = StartWorker(
      planner, {.id = "seedish",
                .args = {"--port", "0", "--port-file", port_file, "--duration-scale", "0.2"}});
  ASSERT_NE(worker, nullptr);
  const auto port = h_.ReadPortFile(port_file, *worker);
  ASSERT_TRUE(port.has_value()) << "worker wrote no port file";
  const std::string url = "http://127.0.0.1:" + std::to_string(*port);

  // GET / as the seed's worker answers it: plain text when idle.
  const Reply root = Get(url + "/");
  EXPECT_EQ(root.status, 200) << root.Describe();
  EXPECT_EQ(root.body, "ready to work");
  // volo's own view moved to GET /status.
  const Reply status = Get(url + "/status");
  EXPECT_EQ(Str(status.obj(), "id"), "seedish") << status.Describe();
  EXPECT_EQ(Str(status.obj(), "planner"), "volo") << status.Describe();

  // One add runs (0.6 s or more at this scale); meanwhile GET / shows it and a second add is
  // turned away as busy, in plain text that no seed planner can take for a result.
  auto a = std::async(std::launch::async, [&] { return Post(url + "/add", R"({"a":2,"b":3})"); });
  Reply working;
  ASSERT_TRUE(PollUntil(
      [&] {
        working = Get(url + "/");
        return working.body != "ready to work";
      },
      seconds(10)));
  EXPECT_EQ(Str(working.obj(), "type"), "add") << working.Describe();
  EXPECT_EQ(json::serialize(working.obj().contains("task") ? working.obj().at("task") : nullptr),
            R"({"a":2,"b":3})")
      << working.Describe();
  const Reply busy = Post(url + "/add", R"({"a":2,"b":3})");
  const Reply ok = a.get();
  ASSERT_EQ(ok.status, 200) << ok.Describe();
  EXPECT_DOUBLE_EQ(NumAt(ok.obj(), "res"), 5) << ok.Describe();
  ASSERT_TRUE(ok.obj().contains("duration") && ok.obj().at("duration").is_int64())
      << "duration must be whole milliseconds: " << ok.Describe();
  EXPECT_GE(ok.obj().at("duration").as_int64(), 600) << ok.Describe();
  EXPECT_LE(ok.obj().at("duration").as_int64(), 1400) << ok.Describe();
  EXPECT_EQ(Str(ok.obj(), "id"), "seedish") << ok.Describe();
  EXPECT_EQ(busy.status, 403) << busy.Describe();
  EXPECT_EQ(busy.body, "Already working") << busy.Describe();
  EXPECT_TRUE(busy.json.is_null()) << "a busy answer parses as JSON: " << busy.Describe();

  // An operation it does not serve: 404, not JSON.
  const Reply fly = Post(url + "/fly", "{}");
  EXPECT_EQ(fly.status, 404) << fly.Describe();
  EXPECT_TRUE(fly.json.is_null()) << fly.Describe();

  // Free again once the first is answered.
  const Reply mult = Post(url + "/mult", R"({"a":4,"b":5})", seconds(30));
  ASSERT_EQ(mult.status, 200) << mult.Describe();
  EXPECT_DOUBLE_EQ(NumAt(mult.obj(), "res"), 20) << mult.Describe();
}

}  // namespace
}  // namespace volo::itest
