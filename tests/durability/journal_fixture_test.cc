// A data directory written by an earlier release (tests/durability/fixtures/journal-v3, made by
// its make-journal-fixture and described in its README) opens in this one with nothing lost: a
// planner and a worker started on a copy finish the run it left half done without running its
// finished steps again, run its queued task, and keep its function, seed worker and schedule.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>

#include "harness.h"

namespace volo::itest {
namespace {

const std::string kFixture =
    std::string(VOLO_SOURCE_DIR) + "/tests/durability/fixtures/journal-v3/data";
// When make-journal-fixture applied the workflow file (the `at` of its define record).
constexpr double kApplied = 1796240507.970093;

class JournalFixtureTest : public VoloTest {
 protected:
  // Starts a planner on a copy of the fixture (the fixture itself stays as it is).
  PlannerProc StartOnCopy() {
    data_ = TempPath("data");
    std::filesystem::copy(kFixture, data_, std::filesystem::copy_options::recursive);
    return StartPlanner({"--data", data_});
  }
  // Path -> step of run `id`, its map elements listed.
  std::map<std::string, json::object> Steps(const PlannerProc& p, uint64_t id) {
    std::map<std::string, json::object> out;
    Reply r = Get(p.Api("/runs/" + std::to_string(id) + "?elements=1"));
    EXPECT_EQ(r.status, 200) << r.Describe();
    if (r.status != 200) return out;
    for (const auto& s : r.obj().at("steps").as_array()) {
      out[Str(s.as_object(), "path")] = s.as_object();
    }
    return out;
  }
  std::string data_;
};

TEST_F(JournalFixtureTest, TheHalfDoneRunFinishesWithoutRunningFinishedStepsAgain) {
  PlannerProc p = StartOnCopy();
  ASSERT_NE(p.port, 0);

  // Before any worker: the run is as the fixture left it.
  json::object run = Get(p.Api("/runs/1")).obj();
  EXPECT_EQ(Str(run, "workflow"), "fixture.HALF");
  EXPECT_EQ(Str(run, "state"), "running");
  EXPECT_EQ(Str(run, "trigger"), "api");
  auto before = Steps(p, 1);
  for (const char* path : {"FIRST", "BOTH", "BOTH/noop", "BOTH/FIRST", "EACH[0]", "EACH[1]"}) {
    EXPECT_EQ(Str(before[path], "state"), "succeeded") << path;
  }
  for (const char* path : {"EACH", "EACH[2]", "EACH[3]"}) {
    EXPECT_EQ(Str(before[path], "state"), "running") << path;
  }
  EXPECT_EQ(Str(before["LAST"], "state"), "pending");
  EXPECT_EQ(json::serialize(before["EACH[1]"].at("result")), "10");
  EXPECT_EQ(NumAt(before["FIRST"].at("result").as_object(), "rows"), 3);

  // The tasks outside the run, each as it was.
  json::object done = GetTask(p, 1);
  EXPECT_EQ(Str(done, "state"), "done");
  EXPECT_EQ(Num(done.at("result")), 3);
  EXPECT_EQ(NumAt(done, "priority"), 4);
  EXPECT_EQ(Str(done.at("labels").as_object(), "k"), "v");
  EXPECT_EQ(Str(GetTask(p, 2), "state"), "failed");
  Reply log = Get(p.Api("/tasks/2/logs"));
  EXPECT_EQ(log.status, 200) << log.Describe();
  EXPECT_EQ(log.body, "to-the-log\n");
  json::object queued = GetTask(p, 3);
  EXPECT_EQ(Str(queued, "state"), "queued");
  EXPECT_EQ(Str(queued, "op"), "mult");
  EXPECT_EQ(Str(GetTask(p, 4), "state"), "cancelled");
  std::optional<json::object> seed = FindWorker(p, "fixture-http");
  ASSERT_TRUE(seed.has_value());
  EXPECT_EQ(Str(*seed, "kind"), "http");
  Reply fn = Get(p.Api("/functions/fixture-upper"));
  ASSERT_EQ(fn.status, 200) << fn.Describe();
  EXPECT_EQ(json::serialize(fn.obj().at("spec").at("cmd")), R"(["tr","a-z","A-Z"])");

  json::object wf = Get(p.Api("/workflows/fixture.HOURLY")).obj();
  EXPECT_EQ(Str(wf, "schedule"), "every 3600 s");
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();

  Child* worker = StartWorker(p, {.id = "after",
                                  .args = {"--slots", "4", "--sandbox", "none", "--queue",
                                           "fixture", "--duration-scale", "0"}});
  ASSERT_NE(worker, nullptr);
  Reply end = Get(p.Api("/runs/1/wait?timeout=60"), seconds(70));
  ASSERT_EQ(end.status, 200) << end.Describe();
  ASSERT_EQ(Str(end.obj(), "state"), "succeeded") << end.Describe();
  auto after = Steps(p, 1);
  // Finished steps kept their tasks; the running elements ran again as their own tasks; the
  // step after the map got one task; the map handed on every element's result in order.
  for (const char* path :
       {"FIRST", "BOTH/noop", "BOTH/FIRST", "EACH[0]", "EACH[1]", "EACH[2]", "EACH[3]"}) {
    EXPECT_EQ(NumAt(after[path], "task"), NumAt(before[path], "task")) << path;
  }
  EXPECT_EQ(json::serialize(after["EACH"].at("result")), "[0,10,20,30]");
  EXPECT_EQ(json::serialize(after["LAST"].at("result").at("parents")), "[0,10,20,30]");
  json::value tasks = ParseJson(Get(p.Api("/tasks?limit=1000")).body);
  size_t of_run = 0;
  for (const auto& t : tasks.at("tasks").as_array()) {
    if (Str(t.at("labels").as_object(), "run") == "1") ++of_run;
  }
  EXPECT_EQ(of_run, 8u);  // FIRST, BOTH's two, four elements, LAST: none twice
  // The queued task ran once a worker could.
  std::vector<json::object> q = WaitFinished(p, {3}, seconds(30));
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(Str(q[0], "state"), "done");
  EXPECT_EQ(Num(q[0].at("result")), 42);

  // The schedule counts from when the fixture applied it, not from this start: more than an
  // hour later (always, but on the day a fixture is made) one missed run starts at once, not a
  // burst; within the hour, none before the hour is up.
  if (now > kApplied + 3600) {
    json::array runs;
    ASSERT_TRUE(PollUntil(
        [&] {
          runs = Get(p.Api("/runs?workflow=fixture.HOURLY")).obj().at("runs").as_array();
          return !runs.empty();
        },
        seconds(20)));
    EXPECT_EQ(runs.size(), 1u);
    EXPECT_EQ(Str(runs[0].as_object(), "trigger"), "schedule");
    EXPECT_GT(NumAt(Get(p.Api("/workflows/fixture.HOURLY")).obj(), "next_run"), now + 3500);
  } else {
    EXPECT_EQ(NumAt(wf, "next_run"), std::floor(kApplied) + 3600);
    EXPECT_TRUE(Get(p.Api("/runs?workflow=fixture.HOURLY")).obj().at("runs").as_array().empty());
  }
}

}  // namespace
}  // namespace volo::itest
