// The planner's REST API on a real process: health, status, bad input, cancel, long-poll wait.

#include <future>
#include <string>

#include "harness.h"

namespace volo::itest {
namespace {

class PlannerApiTest : public VoloTest {
 protected:
  // `r` is a 4xx of exactly `status` with a JSON {"error": "<non-empty text>"}.
  static void ExpectJsonError(const Reply& r, int status, const std::string& what) {
    EXPECT_EQ(r.status, status) << what << ": " << r.Describe();
    EXPECT_FALSE(Str(r.obj(), "error").empty())
        << what << ": no JSON {\"error\": ...} in " << r.Describe();
  }

  // The planner still runs work: a fresh worker completes a fresh task.
  void ExpectStillWorks(const PlannerProc& planner, const std::string& worker_id) {
    EXPECT_EQ(Get(planner.url + "/healthz").status, 200);
    StartWorker(planner, {.id = worker_id, .args = {"--duration-scale", "0.01"}});
    const uint64_t id = Submit(planner, SeedTask("add", 20, 22));
    ASSERT_NE(id, 0u);
    const auto tasks = WaitFinished(planner, {id});
    ExpectDoneWithRightResult(tasks[0]);
  }

  double CountTasks(const PlannerProc& planner) {
    const Reply r = Get(planner.Api("/tasks?limit=10000"));
    const auto* arr = r.obj().if_contains("tasks");
    return arr && arr->is_array() ? static_cast<double>(arr->as_array().size()) : -1;
  }
};

TEST_F(PlannerApiTest, StartsOnEphemeralPortAndAnswersHealthz) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  const Reply health = Get(planner.url + "/healthz");
  ASSERT_EQ(health.status, 200) << health.Describe();
  const auto* ok = health.obj().if_contains("ok");
  EXPECT_TRUE(ok && ok->is_bool() && ok->as_bool()) << health.Describe();

  const json::object status = Status(planner);
  EXPECT_EQ(NumAt(status, "workers"), 0) << json::serialize(status);
  EXPECT_EQ(NumAt(status, "queued"), 0) << json::serialize(status);
  EXPECT_EQ(NumAt(status, "done"), 0) << json::serialize(status);
}

TEST_F(PlannerApiTest, CliStatusJsonReportsThePlanner) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  // Two tasks and no worker: both stay queued, and `waiting` says why.
  ASSERT_NE(Submit(planner, SeedTask("add", 1, 2)), 0u);
  ASSERT_NE(Submit(planner, SeedTask("mult", 3, 4)), 0u);

  const CommandResult by_flag = h_.RunVolo({"status", "--planner", planner.url, "--json"});
  ASSERT_TRUE(by_flag.finished);
  EXPECT_EQ(by_flag.exit_code, 0) << by_flag.err;
  const json::value doc = ParseJson(by_flag.out);
  ASSERT_TRUE(doc.is_object()) << "not JSON: " << by_flag.out;
  EXPECT_EQ(NumAt(doc.as_object(), "queued"), 2) << by_flag.out;
  EXPECT_EQ(NumAt(doc.as_object(), "workers"), 0) << by_flag.out;
  const auto* waiting = doc.as_object().if_contains("waiting");
  EXPECT_TRUE(waiting && waiting->is_array() && !waiting->as_array().empty()) << by_flag.out;

  // The planner URL from VOLO_PLANNER.
  const CommandResult by_env = h_.RunVolo({"status", "--json"}, {{"VOLO_PLANNER", planner.url}});
  ASSERT_TRUE(by_env.finished);
  EXPECT_EQ(by_env.exit_code, 0) << by_env.err;
  const json::value env_doc = ParseJson(by_env.out);
  ASSERT_TRUE(env_doc.is_object()) << "not JSON: " << by_env.out;
  EXPECT_EQ(NumAt(env_doc.as_object(), "queued"), 2) << by_env.out;
}

TEST_F(PlannerApiTest, CliStatusAgainstNoPlannerFailsClearly) {
  // A port nobody listens on: a planner started and stopped gives us one.
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  h_.Kill(*planner.child);
  const CommandResult r = h_.RunVolo({"status", "--planner", planner.url, "--json"});
  ASSERT_TRUE(r.finished);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(r.err.empty()) << "no message on stderr";
}

TEST_F(PlannerApiTest, MalformedRequestsGetClearJsonErrors) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  const std::string tasks = planner.Api("/tasks");

  ExpectJsonError(Post(tasks, "{\"op\": \"add\", \"args\": "), 400, "truncated JSON");
  ExpectJsonError(Post(tasks, "not json at all"), 400, "not JSON");
  ExpectJsonError(Post(tasks, "[1, 2, 3]"), 400, "JSON that is not an object");
  ExpectJsonError(Post(tasks, R"({"args": {"a": 1, "b": 2}})"), 400, "missing op");
  ExpectJsonError(Post(tasks, R"({"op": "frobnicate", "args": {}})"), 400, "unknown operation");
  ExpectJsonError(Post(tasks, R"({"op": "add", "args": {"a": "x", "b": 2}})"), 400,
                  "add with a string argument");
  ExpectJsonError(Post(tasks, R"({"op": "mult", "args": {"a": 2}})"), 400,
                  "mult with a missing argument");
  ExpectJsonError(Post(tasks, R"({"op": "add", "args": {"a": 1, "b": 2}, "retries": 101})"), 400,
                  "retries out of range");
  ExpectJsonError(Post(tasks, R"({"op": "add", "args": {"a": 1, "b": 2}, "retries": "two"})"), 400,
                  "retries not an integer");

  // A batch is accepted whole or not at all.
  ExpectJsonError(
      Post(
          tasks,
          R"({"tasks": [{"op": "add", "args": {"a": 1, "b": 2}}, {"op": "add", "args": {"a": "x"}}]})"),
      400, "batch with one bad task");
  EXPECT_EQ(CountTasks(planner), 0) << "a rejected batch left tasks behind";

  // Bodies over the limit (8 MiB) are refused before parsing.
  std::string huge = R"({"op": "echo", "args": {"blob": ")";
  huge.append(9 << 20, 'x');
  huge += "\"}}";
  ExpectJsonError(Post(tasks, huge, seconds(30)), 413, "oversized body");

  ExpectJsonError(Post(planner.url + "/register", R"({"id": "no-url"})"), 400,
                  "register without url");
  ExpectJsonError(Post(planner.url + "/register", R"({"url": "not a url", "id": "w"})"), 400,
                  "register with a bad url");
  ExpectJsonError(Post(planner.Api("/wait"), R"({"ids": "seven"})"), 400, "wait with bad ids");

  ExpectStillWorks(planner, "after-bad-input");
  // A seed worker may not take the id of a live native worker.
  ExpectJsonError(
      Post(planner.url + "/register", R"({"url": "http://127.0.0.1:9", "id": "after-bad-input"})"),
      409, "register over a live native worker");
}

TEST_F(PlannerApiTest, UnknownIdsGet404) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  ExpectJsonError(Get(planner.Api("/tasks/987654")), 404, "unknown task");
  ExpectJsonError(Get(planner.Api("/tasks/987654/wait?timeout=1")), 404, "wait on unknown task");
  ExpectJsonError(Post(planner.Api("/tasks/987654/cancel"), ""), 404, "cancel unknown task");
  ExpectJsonError(Get(planner.Api("/workers/no-such-worker")), 404, "unknown worker");
  ExpectJsonError(Get(planner.Api("/no/such/endpoint")), 404, "unknown path");
  const Reply bad_id = Get(planner.Api("/tasks/not-a-number"));
  EXPECT_TRUE(bad_id.status == 400 || bad_id.status == 404) << bad_id.Describe();
  EXPECT_FALSE(Str(bad_id.obj(), "error").empty()) << bad_id.Describe();

  ExpectStillWorks(planner, "after-404s");
}

TEST_F(PlannerApiTest, CancelQueuedTaskThenCancelAgainIsConflict) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  // No worker: the task stays queued until cancelled.
  const uint64_t id = Submit(planner, SeedTask("add", 1, 1));
  ASSERT_NE(id, 0u);
  EXPECT_EQ(Str(GetTask(planner, id), "state"), "queued");

  const Reply cancel = Post(planner.Api("/tasks/" + std::to_string(id) + "/cancel"), "");
  ASSERT_EQ(cancel.status, 200) << cancel.Describe();
  EXPECT_EQ(Str(cancel.obj(), "state"), "cancelled") << cancel.Describe();
  EXPECT_EQ(Str(GetTask(planner, id), "state"), "cancelled");

  ExpectJsonError(Post(planner.Api("/tasks/" + std::to_string(id) + "/cancel"), ""), 409,
                  "cancel of a cancelled task");

  // A worker arriving later runs new work but never the cancelled task.
  StartWorker(planner, {.id = "w", .args = {"--duration-scale", "0.01"}});
  const uint64_t next = Submit(planner, SeedTask("mult", 6, 7));
  ASSERT_NE(next, 0u);
  ExpectDoneWithRightResult(WaitFinished(planner, {next})[0]);
  const json::object cancelled = GetTask(planner, id);
  EXPECT_EQ(Str(cancelled, "state"), "cancelled") << json::serialize(cancelled);
  EXPECT_TRUE(cancelled.if_contains("result") == nullptr || cancelled.at("result").is_null())
      << json::serialize(cancelled);
}

TEST_F(PlannerApiTest, CancelOfFinishedTaskIsConflict) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  StartWorker(planner, {.id = "w", .args = {"--duration-scale", "0.01"}});
  const uint64_t id = Submit(planner, SeedTask("add", 2, 2));
  ASSERT_NE(id, 0u);
  ExpectDoneWithRightResult(WaitFinished(planner, {id})[0]);
  ExpectJsonError(Post(planner.Api("/tasks/" + std::to_string(id) + "/cancel"), ""), 409,
                  "cancel of a done task");
  const json::object task = GetTask(planner, id);
  EXPECT_EQ(Str(task, "state"), "done") << "a refused cancel changed the task";
  EXPECT_DOUBLE_EQ(NumAt(task, "result"), 4);
}

TEST_F(PlannerApiTest, CancelRunningTaskFreesTheWorker) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  StartWorker(planner, {.id = "w", .args = {"--slots", "1", "--duration-scale", "0.01"}});
  const uint64_t id =
      Submit(planner, json::object{{"op", "sleep"}, {"args", json::object{{"seconds", 600}}}});
  ASSERT_NE(id, 0u);
  ASSERT_TRUE(
      PollUntil([&] { return Str(GetTask(planner, id), "state") == "running"; }, seconds(20)));
  const Reply cancel = Post(planner.Api("/tasks/" + std::to_string(id) + "/cancel"), "");
  ASSERT_EQ(cancel.status, 200) << cancel.Describe();
  EXPECT_EQ(Str(cancel.obj(), "state"), "cancelled");

  // The worker's only slot is free again: the next task runs on it.
  const uint64_t next = Submit(planner, SeedTask("add", 5, 6));
  const auto tasks = WaitFinished(planner, {next}, seconds(30));
  ExpectDoneWithRightResult(tasks[0]);
  EXPECT_EQ(Str(GetTask(planner, id), "state"), "cancelled");
}

TEST_F(PlannerApiTest, HigherPriorityRunsFirst) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  // Queued before any worker exists, so the order is the planner's choice alone.
  std::vector<uint64_t> low;
  for (int i = 0; i < 3; ++i) low.push_back(Submit(planner, SeedTask("add", i, i)));
  json::object urgent = SeedTask("add", 100, 100);
  urgent["priority"] = 10;
  const uint64_t high = Submit(planner, urgent);
  StartWorker(planner, {.id = "w", .args = {"--slots", "1", "--duration-scale", "0.01"}});

  std::vector<uint64_t> all = low;
  all.push_back(high);
  const auto tasks = WaitFinished(planner, all);
  for (const auto& t : tasks) ExpectDoneWithRightResult(t);
  const double high_started = NumAt(tasks[3], "started");
  for (int i = 0; i < 3; ++i) {
    EXPECT_LE(high_started, NumAt(tasks[i], "started"))
        << "priority 10 started after " << json::serialize(tasks[i]);
  }
  // FIFO within a priority.
  EXPECT_LE(NumAt(tasks[0], "started"), NumAt(tasks[1], "started"));
  EXPECT_LE(NumAt(tasks[1], "started"), NumAt(tasks[2], "started"));
}

TEST_F(PlannerApiTest, LongPollWaitReturnsWhenTaskIsDone) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  const uint64_t id = Submit(planner, SeedTask("mult", 3, 5));
  ASSERT_NE(id, 0u);

  // With a short timeout the long-poll answers with the task as it is: still queued.
  const Reply early = Get(planner.Api("/tasks/" + std::to_string(id) + "/wait?timeout=0.2"));
  ASSERT_EQ(early.status, 200) << early.Describe();
  EXPECT_EQ(Str(early.obj(), "state"), "queued") << early.Describe();

  // A long wait started before any worker exists answers with the finished task.
  auto waiter = std::async(std::launch::async, [&] {
    return Get(planner.Api("/tasks/" + std::to_string(id) + "/wait?timeout=60"), seconds(90));
  });
  auto list_waiter = std::async(std::launch::async, [&] {
    return Post(planner.Api("/wait"),
                json::serialize(json::object{{"ids", json::array{id}}, {"timeout", 60}}),
                seconds(90));
  });
  StartWorker(planner, {.id = "w", .args = {"--duration-scale", "0.01"}});

  const Reply done = waiter.get();
  ASSERT_EQ(done.status, 200) << done.Describe();
  ExpectDoneWithRightResult(done.obj());
  EXPECT_DOUBLE_EQ(NumAt(done.obj(), "result"), 15);

  const Reply all = list_waiter.get();
  ASSERT_EQ(all.status, 200) << all.Describe();
  const auto* complete = all.obj().if_contains("complete");
  EXPECT_TRUE(complete && complete->is_bool() && complete->as_bool()) << all.Describe();
  const auto* tasks = all.obj().if_contains("tasks");
  ASSERT_TRUE(tasks && tasks->is_array() && tasks->as_array().size() == 1) << all.Describe();
  EXPECT_EQ(Str(tasks->as_array()[0].as_object(), "state"), "done") << all.Describe();
}

TEST_F(PlannerApiTest, ListFiltersByStateAndOp) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  const auto ids = SubmitMany(planner, MixedTasks(6));
  ASSERT_EQ(ids.size(), 6u);
  const Reply adds = Get(planner.Api("/tasks?op=add&state=queued"));
  ASSERT_EQ(adds.status, 200) << adds.Describe();
  const auto& arr = adds.obj().at("tasks").as_array();
  EXPECT_EQ(arr.size(), 3u) << adds.Describe();
  for (const auto& t : arr) EXPECT_EQ(Str(t.as_object(), "op"), "add");

  const Reply page = Get(planner.Api("/tasks?limit=2&after=" + std::to_string(ids[1])));
  ASSERT_EQ(page.status, 200) << page.Describe();
  const auto& page_arr = page.obj().at("tasks").as_array();
  ASSERT_EQ(page_arr.size(), 2u) << page.Describe();
  EXPECT_EQ(NumAt(page_arr[0].as_object(), "id"), ids[2]);
  EXPECT_EQ(NumAt(page_arr[1].as_object(), "id"), ids[3]);
}

}  // namespace
}  // namespace volo::itest
