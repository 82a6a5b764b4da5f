// The planner's HTTP layer on a real process: long-polls that outlive the tasks they wait on,
// strict request bodies, and error bodies that stay valid JSON.

#include <string>

#include "harness.h"

namespace volo::itest {
namespace {

class PlannerHttpTest : public VoloTest {};

// Pruning (--keep-results) frees a finished task while a wait still names it: the wait must
// answer with what it saw, and the planner must live on (it died with SIGSEGV).
TEST_F(PlannerHttpTest, WaitOutlivesPruningOfATaskItHolds) {
  PlannerProc planner = StartPlanner({"--keep-results", "1"});
  ASSERT_NE(planner.port, 0);
  const uint64_t first = Submit(planner, SeedTask("add", 1, 2));
  ASSERT_NE(first, 0u);
  ASSERT_EQ(Post(planner.Api("/tasks/" + std::to_string(first) + "/cancel"), "").status, 200);
  const uint64_t second = Submit(planner, SeedTask("add", 3, 4));  // no worker: stays queued
  ASSERT_NE(second, 0u);
  const std::string body =
      "{\"ids\":[" + std::to_string(first) + "," + std::to_string(second) + "],\"timeout\":4}";
  const Reply r = Post(planner.Api("/wait"), body, seconds(30));
  ASSERT_EQ(r.status, 200) << r.Describe();
  const auto& tasks = r.obj().at("tasks").as_array();
  ASSERT_EQ(tasks.size(), 2u) << r.Describe();
  EXPECT_EQ(Str(tasks[0].as_object(), "state"), "cancelled") << r.Describe();
  EXPECT_EQ(Str(tasks[1].as_object(), "state"), "queued") << r.Describe();
  EXPECT_FALSE(r.obj().at("complete").as_bool());
  // Pruned by now, and the planner still answers.
  EXPECT_TRUE(
      PollUntil([&] { return Get(planner.Api("/tasks/" + std::to_string(first))).status == 404; },
                seconds(20)));
  EXPECT_EQ(Get(planner.url + "/healthz").status, 200);
  EXPECT_EQ(Get(planner.Api("/tasks/" + std::to_string(second))).status, 200);
}

TEST_F(PlannerHttpTest, WaitRejectsIdsThatAreNotTaskIds) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  for (const char* body : {R"({"ids":["a"]})", R"({"ids":[0]})", R"({"ids":[-3]})",
                           R"({"ids":[1.5]})", R"({"ids":[null]})"}) {
    const Reply r = Post(planner.Api("/wait"), body);
    EXPECT_EQ(r.status, 400) << body << ": " << r.Describe();
    EXPECT_FALSE(Str(r.obj(), "error").empty()) << r.Describe();
  }
  const Reply unknown = Post(planner.Api("/wait"), R"({"ids":[12345]})");
  EXPECT_EQ(unknown.status, 404) << unknown.Describe();
}

TEST_F(PlannerHttpTest, DuplicateKeysAreRejectedByName) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  const Reply top = Post(planner.Api("/tasks"), R"({"op":"add","op":"mult","args":{"a":1,"b":2}})");
  EXPECT_EQ(top.status, 400) << top.Describe();
  EXPECT_NE(Str(top.obj(), "error").find("duplicate key \"op\""), std::string::npos)
      << top.Describe();
  const Reply nested = Post(planner.Api("/tasks"), R"({"op":"add","args":{"a":1,"b":2,"a":3}})");
  EXPECT_EQ(nested.status, 400) << nested.Describe();
  EXPECT_NE(Str(nested.obj(), "error").find("duplicate key \"a\""), std::string::npos)
      << nested.Describe();
  const Reply wait = Post(planner.Api("/wait"), R"({"ids":[],"ids":[1]})");
  EXPECT_EQ(wait.status, 400) << wait.Describe();
  // The same key in different objects is fine.
  EXPECT_EQ(Post(planner.Api("/tasks"), R"({"tasks":[{"op":"noop"},{"op":"noop"}]})").status, 201);
}

// Error bodies are JSON, so they must be UTF-8 even when they quote bytes that are not.
TEST_F(PlannerHttpTest, ErrorBodiesAreValidUtf8) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  const Reply r = Get(planner.url + "/api/v1/%ff%fe%c0");
  EXPECT_EQ(r.status, 404) << r.Describe();
  EXPECT_TRUE(r.json.is_object()) << "not valid JSON (UTF-8): " << r.body;
  EXPECT_NE(Str(r.obj(), "error").find("\uFFFD"), std::string::npos) << r.body;
  const Reply task = Get(planner.Api("/tasks/%ff"));
  EXPECT_EQ(task.status, 400) << task.Describe();
  EXPECT_TRUE(task.json.is_object()) << "not valid JSON (UTF-8): " << task.body;
}

TEST_F(PlannerHttpTest, RangeMessagesReadAsWritten) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  const Reply r =
      Post(planner.Api("/tasks"), R"({"op":"add","args":{"a":1,"b":2,"duration":99999}})");
  EXPECT_EQ(r.status, 400) << r.Describe();
  EXPECT_NE(Str(r.obj(), "error").find("must be from 0 to 3600"), std::string::npos)
      << r.Describe();
  const Reply big = Post(planner.Api("/tasks"), R"({"op":"add","args":{"a":1e301,"b":2}})");
  EXPECT_EQ(big.status, 400) << big.Describe();
  EXPECT_NE(Str(big.obj(), "error").find("from -1e300 to 1e300"), std::string::npos)
      << big.Describe();
}

}  // namespace
}  // namespace volo::itest
