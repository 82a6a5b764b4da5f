// The five exercises of the seed (workers-exercise.txt), run on real volo processes.

#include <signal.h>

#include <cerrno>
#include <map>
#include <set>

#include "harness.h"

namespace volo::itest {
namespace {

class ExerciseTest : public VoloTest {};

// Workers that ran at least one of `tasks`, with how many each ran.
std::map<std::string, int> TasksPerWorker(const std::vector<json::object>& tasks) {
  std::map<std::string, int> out;
  for (const auto& t : tasks) ++out[Str(t, "worker")];
  return out;
}

// Exercise 1: one planner, one worker, four tasks.
TEST_F(ExerciseTest, OnePlannerOneWorkerRunsFourTasks) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  StartWorker(planner, {.id = "w1", .args = {"--duration-scale", "0.01"}});
  ASSERT_FALSE(HasFailure());

  std::vector<uint64_t> ids;
  ids.push_back(Submit(planner, SeedTask("add", 2, 3)));
  ids.push_back(Submit(planner, SeedTask("mult", 4, 5)));
  ids.push_back(Submit(planner, SeedTask("add", -1.5, 0.25)));
  ids.push_back(Submit(planner, SeedTask("mult", 7, 0)));
  ASSERT_FALSE(HasFailure());

  const auto tasks = WaitFinished(planner, ids);
  ASSERT_EQ(tasks.size(), 4u);
  for (const auto& t : tasks) {
    ExpectDoneWithRightResult(t);
    EXPECT_EQ(Str(t, "worker"), "w1") << json::serialize(t);
  }
  EXPECT_DOUBLE_EQ(NumAt(tasks[0], "result"), 5);
  EXPECT_DOUBLE_EQ(NumAt(tasks[1], "result"), 20);
  EXPECT_DOUBLE_EQ(NumAt(tasks[2], "result"), -1.25);
  EXPECT_DOUBLE_EQ(NumAt(tasks[3], "result"), 0);

  const json::object status = Status(planner);
  EXPECT_EQ(NumAt(status, "done"), 4) << json::serialize(status);
  EXPECT_EQ(NumAt(status, "failed"), 0) << json::serialize(status);
  EXPECT_EQ(NumAt(status, "workers"), 1) << json::serialize(status);

  const auto w1 = FindWorker(planner, "w1");
  ASSERT_TRUE(w1.has_value());
  EXPECT_EQ(Str(*w1, "kind"), "native") << json::serialize(*w1);
  EXPECT_EQ(Str(*w1, "state"), "live") << json::serialize(*w1);
  EXPECT_EQ(NumAt(*w1, "slots"), 1) << json::serialize(*w1);
  EXPECT_EQ(NumAt(*w1, "running"), 0) << json::serialize(*w1);
  EXPECT_EQ(NumAt(*w1, "done"), 4) << json::serialize(*w1);
  EXPECT_GT(NumAt(*w1, "busy_seconds"), 0) << json::serialize(*w1);
}

// Exercise 2: several general workers share the work.
TEST_F(ExerciseTest, SeveralWorkersShareTheWork) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  const std::vector<std::string> ids_of_workers = {"g1", "g2", "g3"};
  for (const auto& id : ids_of_workers) {
    StartWorker(planner, {.id = id, .args = {"--duration-scale", "0.05"}});
  }
  ASSERT_FALSE(HasFailure());

  const auto ids = SubmitMany(planner, MixedTasks(9));
  ASSERT_EQ(ids.size(), 9u);
  const auto tasks = WaitFinished(planner, ids);
  for (const auto& t : tasks) ExpectDoneWithRightResult(t);

  const auto per_worker = TasksPerWorker(tasks);
  EXPECT_GE(per_worker.size(), 2u) << "all tasks ran on one worker";
  for (const auto& [worker, n] : per_worker) {
    EXPECT_TRUE(worker == "g1" || worker == "g2" || worker == "g3") << worker;
  }
  // The planner's own accounting agrees: each task counted once, on the worker that ran it.
  double done_sum = 0;
  for (const auto& w : Workers(planner)) {
    const auto& o = w.as_object();
    done_sum += NumAt(o, "done");
    const auto it = per_worker.find(Str(o, "id"));
    EXPECT_EQ(NumAt(o, "done"), it == per_worker.end() ? 0 : it->second) << json::serialize(o);
  }
  EXPECT_EQ(done_sum, 9);
}

// Exercise 3: specialised workers, by flag (--ops) and by the seed's variables (ADD / MULT),
// only ever get their operations.
TEST_F(ExerciseTest, SpecialisedWorkersOnlyGetTheirOperations) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  const std::vector<std::string> scale = {"--duration-scale", "0.02"};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.end(), scale.begin(), scale.end());
    return more;
  };
  StartWorker(planner, {.id = "flag-add", .args = with({"--ops", "add"})});
  StartWorker(planner, {.id = "flag-mult", .args = with({"--ops", "mult"})});
  // As in the seed, both default to true: MULT=false alone is add-only (1/0 work too).
  StartWorker(planner, {.id = "env-add", .args = scale, .env = {{"MULT", "false"}}});
  StartWorker(planner, {.id = "env-mult", .args = scale, .env = {{"ADD", "0"}, {"MULT", "1"}}});
  ASSERT_FALSE(HasFailure());

  std::map<std::string, std::set<std::string>> ops;
  for (const auto& w : Workers(planner))
    ops[Str(w.as_object(), "id")] = StrSet(w.as_object(), "ops");
  EXPECT_EQ(ops["flag-add"], std::set<std::string>{"add"});
  EXPECT_EQ(ops["env-add"], std::set<std::string>{"add"});
  EXPECT_EQ(ops["flag-mult"], std::set<std::string>{"mult"});
  EXPECT_EQ(ops["env-mult"], std::set<std::string>{"mult"});

  const auto ids = SubmitMany(planner, MixedTasks(16));
  ASSERT_EQ(ids.size(), 16u);
  const auto tasks = WaitFinished(planner, ids);
  std::set<std::string> ran_add, ran_mult;
  for (const auto& t : tasks) {
    ExpectDoneWithRightResult(t);
    const std::string worker = Str(t, "worker");
    const std::string op = Str(t, "op");
    EXPECT_TRUE(ops[worker].contains(op))
        << "worker " << worker << " ran " << op << ": " << json::serialize(t);
    (op == "add" ? ran_add : ran_mult).insert(worker);
  }
  EXPECT_FALSE(ran_add.empty());
  EXPECT_FALSE(ran_mult.empty());
}

// Exercise 4: a worker that joins while tasks are queued and running gets work.
TEST_F(ExerciseTest, WorkerJoiningMidRunGetsWork) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  StartWorker(planner, {.id = "early", .args = {"--duration-scale", "0.1"}});
  ASSERT_FALSE(HasFailure());

  const auto ids = SubmitMany(planner, MixedTasks(10));
  ASSERT_EQ(ids.size(), 10u);
  // Join only once the run is under way: something running and something still queued.
  json::object status;
  ASSERT_TRUE(PollUntil(
      [&] {
        status = Status(planner);
        return NumAt(status, "running") >= 1 && NumAt(status, "queued") >= 1;
      },
      seconds(20)))
      << json::serialize(status);
  StartWorker(planner, {.id = "late", .args = {"--duration-scale", "0.1"}});

  const auto tasks = WaitFinished(planner, ids);
  for (const auto& t : tasks) ExpectDoneWithRightResult(t);
  const auto per_worker = TasksPerWorker(tasks);
  EXPECT_GE(per_worker.count("late") ? per_worker.at("late") : 0, 1)
      << "the worker that joined mid-run got no task";
}

// Exercise 5 in one command: 10 general + 10 mult + 10 add workers, 100 tasks.
TEST_F(ExerciseTest, UpRunsHundredTasksOnMixedFleet) {
  const CommandResult r = h_.RunVolo({"up", "--workers", "10", "--mult", "10", "--add", "10",
                                      "--tasks", "100", "--duration-scale", "0.01", "--json"},
                                     {}, seconds(150));
  ASSERT_TRUE(r.finished) << "volo up did not finish";
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // "stops everything": nothing it started is left in its process group.
  EXPECT_TRUE(PollUntil([&] { return kill(-r.pid, 0) != 0 && errno == ESRCH; }, seconds(10)))
      << "volo up left processes behind";
  const json::value doc = ParseJson(r.out);
  ASSERT_TRUE(doc.is_object()) << "stdout is not one JSON document:\n" << r.out.substr(0, 2000);
  const json::object& o = doc.as_object();

  // Worker id -> ops, from the summary.
  std::map<std::string, std::set<std::string>> ops;
  const auto* workers = o.if_contains("workers");
  ASSERT_TRUE(workers && workers->is_array()) << r.out.substr(0, 2000);
  int only_add = 0, only_mult = 0, both = 0;
  for (const auto& w : workers->as_array()) {
    ASSERT_TRUE(w.is_object()) << "workers[] entries should be objects with id and ops";
    const auto worker_ops = StrSet(w.as_object(), "ops");
    ops[Str(w.as_object(), "id")] = worker_ops;
    if (worker_ops == std::set<std::string>{"add"}) ++only_add;
    if (worker_ops == std::set<std::string>{"mult"}) ++only_mult;
    if (worker_ops.contains("add") && worker_ops.contains("mult")) ++both;
  }
  EXPECT_EQ(ops.size(), 30u);
  EXPECT_EQ(only_add, 10);
  EXPECT_EQ(only_mult, 10);
  EXPECT_EQ(both, 10);

  const auto* tasks = o.if_contains("tasks");
  ASSERT_TRUE(tasks && tasks->is_array());
  EXPECT_EQ(tasks->as_array().size(), 100u);
  std::set<double> ids;
  for (const auto& tv : tasks->as_array()) {
    ASSERT_TRUE(tv.is_object());
    const auto& t = tv.as_object();
    const std::string op = Str(t, "op");
    ids.insert(NumAt(t, "id"));
    EXPECT_TRUE(op == "add" || op == "mult") << json::serialize(t);
    const auto* args = t.if_contains("args");
    const auto* result = t.if_contains("result");
    ASSERT_TRUE(args && args->is_object() && result) << json::serialize(t);
    EXPECT_DOUBLE_EQ(Num(*result), ExpectedResult(op, args->as_object())) << json::serialize(t);
    const std::string worker = Str(t, "worker");
    EXPECT_TRUE(ops[worker].contains(op)) << "worker " << worker << " ran " << op;
    EXPECT_LE(NumAt(t, "started"), NumAt(t, "finished")) << json::serialize(t);
  }
  EXPECT_EQ(ids.size(), 100u) << "task ids are not distinct";
  EXPECT_GT(NumAt(o, "makespan"), 0);
}

// The seed's planner generates TASKS random tasks at start; so does volo's (env and flag).
TEST_F(ExerciseTest, PlannerGeneratesSeedTasksFromEnvironment) {
  PlannerProc planner = StartPlanner({}, {{"TASKS", "4"}});
  ASSERT_NE(planner.port, 0);
  StartWorker(planner, {.id = "w", .args = {"--duration-scale", "0.01"}});
  ASSERT_FALSE(HasFailure());

  const Reply list = Get(planner.Api("/tasks"));
  ASSERT_EQ(list.status, 200) << list.Describe();
  const auto* arr = list.obj().if_contains("tasks");
  ASSERT_TRUE(arr && arr->is_array()) << list.Describe();
  std::vector<uint64_t> ids;
  for (const auto& t : arr->as_array())
    ids.push_back(static_cast<uint64_t>(NumAt(t.as_object(), "id")));
  ASSERT_EQ(ids.size(), 4u) << list.Describe();
  for (const auto& t : WaitFinished(planner, ids)) {
    EXPECT_TRUE(Str(t, "op") == "add" || Str(t, "op") == "mult") << json::serialize(t);
    ExpectDoneWithRightResult(t);
  }
}

// The seed configures its processes with PORT, PLANNER, ADD and MULT; so does volo.
TEST_F(ExerciseTest, SeedEnvironmentVariablesConfigureProcesses) {
  const std::string port_file = TempPath("env-planner.port");
  Child* planner_child =
      h_.Spawn("planner", {"planner", "--port-file", port_file}, {{"PORT", "0"}});
  ASSERT_NE(planner_child, nullptr);
  const auto port = h_.ReadPortFile(port_file, *planner_child);
  ASSERT_TRUE(port.has_value()) << "PORT=0 did not give an ephemeral port";
  PlannerProc planner{planner_child, *port, "http://127.0.0.1:" + std::to_string(*port)};
  ASSERT_TRUE(PollUntil([&] { return Get(planner.url + "/healthz").status == 200; }, seconds(20)));

  Child* worker = h_.Spawn(
      "worker-env", {"worker", "--id", "from-env"},
      {{"PLANNER", planner.url}, {"ADD", "false"}, {"PORT", "0"}, {"VOLO_DURATION_SCALE", "0.01"}});
  ASSERT_NE(worker, nullptr);
  ASSERT_TRUE(PollUntil([&] { return FindWorker(planner, "from-env").has_value(); }, seconds(20)))
      << "a worker configured by PLANNER did not register";
  EXPECT_EQ(StrSet(*FindWorker(planner, "from-env"), "ops"), std::set<std::string>{"mult"});
  const uint64_t id = Submit(planner, SeedTask("mult", 9, 9));
  const auto tasks = WaitFinished(planner, {id});
  ExpectDoneWithRightResult(tasks[0]);
  EXPECT_EQ(Str(tasks[0], "worker"), "from-env");
}

TEST_F(ExerciseTest, PlannerGeneratesSeedTasksFromFlag) {
  PlannerProc planner = StartPlanner({"--tasks", "3"});
  ASSERT_NE(planner.port, 0);
  const json::object status = Status(planner);
  EXPECT_EQ(NumAt(status, "queued"), 3) << json::serialize(status);
}

}  // namespace
}  // namespace volo::itest
