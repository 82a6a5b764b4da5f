// The fleet commands of the CLI against a real planner: submit, wait, cancel.

#include <regex>

#include "harness.h"

namespace volo::itest {
namespace {

class CliTest : public VoloTest {};

// The first integer in `text` (a task id printed by `volo submit`), or 0.
uint64_t FirstNumber(const std::string& text) {
  std::smatch m;
  return std::regex_search(text, m, std::regex("[0-9]+")) ? std::stoull(m.str()) : 0;
}

TEST_F(CliTest, SubmitWithWaitPrintsTheResult) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  StartWorker(planner, {.id = "w", .args = {"--duration-scale", "0.01"}});
  const CommandResult r = h_.RunVolo(
      {"submit", "mult", "--args", R"({"a": 123, "b": 1000})", "--planner", planner.url, "--wait"});
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("123000"), std::string::npos) << "result not printed: " << r.out;
}

TEST_F(CliTest, SubmitCancelAndWaitById) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  const EnvOverrides env = {{"VOLO_PLANNER", planner.url}};

  // No worker yet: both tasks stay queued.
  const CommandResult first = h_.RunVolo({"submit", "add", "--args", R"({"a": 1, "b": 2})"}, env);
  const CommandResult second =
      h_.RunVolo({"submit", "add", "--args", R"({"a": 3, "b": 4})", "--retries", "2", "--priority",
                  "5", "--label", "team=itest"},
                 env);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(second.exit_code, 0) << second.err;
  const uint64_t cancel_me = FirstNumber(first.out);
  const uint64_t keep = FirstNumber(second.out);
  ASSERT_NE(cancel_me, 0u) << first.out;
  ASSERT_NE(keep, 0u) << second.out;
  ASSERT_NE(cancel_me, keep);

  const json::object kept = GetTask(planner, keep);
  EXPECT_EQ(NumAt(kept, "priority"), 5) << json::serialize(kept);
  EXPECT_EQ(Str(kept.at("labels").as_object(), "team"), "itest") << json::serialize(kept);

  const CommandResult cancel = h_.RunVolo({"cancel", std::to_string(cancel_me)}, env);
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_EQ(Str(GetTask(planner, cancel_me), "state"), "cancelled");

  StartWorker(planner, {.id = "w", .args = {"--duration-scale", "0.01"}});
  const CommandResult wait =
      h_.RunVolo({"wait", std::to_string(keep), "--timeout", "60"}, env, seconds(90));
  ASSERT_TRUE(wait.finished);
  EXPECT_EQ(wait.exit_code, 0) << wait.err;
  ExpectDoneWithRightResult(GetTask(planner, keep));
  EXPECT_EQ(Str(GetTask(planner, cancel_me), "state"), "cancelled");
}

TEST_F(CliTest, SubmitOfBadArgumentsFailsWithMessage) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  const CommandResult r =
      h_.RunVolo({"submit", "add", "--args", R"({"a": "x", "b": 1})", "--planner", planner.url});
  ASSERT_TRUE(r.finished);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(r.err.empty()) << "no message on stderr";
  const CommandResult not_json =
      h_.RunVolo({"submit", "add", "--args", "{not json", "--planner", planner.url});
  EXPECT_NE(not_json.exit_code, 0);
  EXPECT_EQ(NumAt(Status(planner), "queued"), 0) << "a refused submit queued a task";
}

}  // namespace
}  // namespace volo::itest
