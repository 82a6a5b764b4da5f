// volo's planner with workers written to the seed exercise (seed_peers.h): they register
// themselves as the seed's workers do (POST /register {"url","id"}, no operation list), answer
// JSON labelled text/html, 404 in HTML for an operation they lack, and 403 while busy.

#include "seed_peers.h"

namespace volo::itest {
namespace {

class SeedPlannerTest : public VoloTest {};

TEST_F(SeedPlannerTest, SeedWorkersJoinByThemselvesAndRunEveryTaskRight) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  SeedWorker general({.duration = milliseconds(40), .register_with = planner.url, .id = "general"});
  SeedWorker adder(
      {.mult = false, .duration = milliseconds(20), .register_with = planner.url, .id = "adder"});
  SeedWorker multiplier(
      {.add = false, .duration = milliseconds(20), .register_with = planner.url, .id = "multi"});
  for (const SeedWorker* w : {&general, &adder, &multiplier}) {
    ASSERT_EQ(w->registration().status, 200) << w->registration().Describe();
  }

  const auto ids = SubmitMany(planner, MixedTasks(16));
  ASSERT_EQ(ids.size(), 16u);
  for (const auto& t : WaitFinished(planner, ids)) {
    ExpectDoneWithRightResult(t);
    const std::string w = Str(t, "worker");
    if (Str(t, "op") == "add") {
      EXPECT_NE(w, "multi") << json::serialize(t);
    } else {
      EXPECT_NE(w, "adder") << json::serialize(t);
    }
  }
  EXPECT_EQ(NumAt(Status(planner), "failed"), 0);
  EXPECT_EQ(general.completed("add") + general.completed("mult") + adder.completed("add") +
                multiplier.completed("mult"),
            16)
      << "a task ran twice";
  EXPECT_EQ(adder.completed("mult"), 0);
  EXPECT_EQ(multiplier.completed("add"), 0);
  // What the planner learnt from the HTML 404s (when it tried): the specialised workers' lists.
  if (adder.not_found_answers() > 0) {
    EXPECT_FALSE(StrSet(*FindWorker(planner, "adder"), "ops").contains("mult"));
  }
}

TEST_F(SeedPlannerTest, ABusySeedWorkerIsNotAFailure) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  SeedWorker worker({.duration = milliseconds(1500), .register_with = planner.url, .id = "one"});
  ASSERT_EQ(worker.registration().status, 200) << worker.registration().Describe();
  // Someone else's task keeps the worker's add busy while the planner's add arrives.
  std::thread other([&] { Post(worker.url() + "/add", R"({"a":1,"b":1})", seconds(10)); });
  ASSERT_TRUE(
      PollUntil([&] { return Get(worker.url() + "/").body != "ready to work"; }, seconds(10)));
  const uint64_t id = Submit(planner, SeedTask("add", 20, 22));
  other.join();
  const auto tasks = WaitFinished(planner, {id});
  ExpectDoneWithRightResult(tasks[0]);
  EXPECT_EQ(NumAt(tasks[0], "attempts"), 1) << json::serialize(tasks[0]);
  EXPECT_EQ(NumAt(Status(planner), "failed"), 0);
  EXPECT_GE(worker.busy_answers(), 1) << "the planner never found the worker busy";
}

}  // namespace
}  // namespace volo::itest
