// Resource requests on real processes: workers advertise what they have, the planner places
// tasks only where they fit, explains those that cannot, and refuses malformed requests.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

namespace volo::itest {
namespace {

class ResourcesTest : public VoloTest {};

TEST_F(ResourcesTest, TasksGoWhereTheirRequestFitsAndTheRestIsExplained) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  StartWorker(planner,
              {.id = "small",
               .args = {"--ops", "sleep", "--cpus", "1", "--memory", "1024", "--slots", "4"}});
  StartWorker(planner, {.id = "gpu",
                        .args = {"--ops", "sleep", "--cpus", "2", "--memory", "16384", "--resource",
                                 "gpus=1", "--slots", "4"}});

  // What each worker advertised is on its record.
  auto gpu = FindWorker(planner, "gpu");
  ASSERT_TRUE(gpu);
  const json::object& advertised = gpu->at("resources").as_object();
  EXPECT_EQ(Num(advertised.at("cpus")), 2);
  EXPECT_EQ(Num(advertised.at("memory")), 16384);
  EXPECT_EQ(Num(advertised.at("gpus")), 1);

  uint64_t needs_gpu = Submit(planner, {{"op", "sleep"},
                                        {"args", {{"seconds", 0.01}}},
                                        {"resources", {{"gpus", 1}, {"memory", 100}}}});
  uint64_t too_big = Submit(
      planner,
      {{"op", "sleep"}, {"args", {{"seconds", 0.01}}}, {"resources", {{"memory", 64 * 1024}}}});
  ASSERT_NE(needs_gpu, 0u);
  ASSERT_NE(too_big, 0u);
  auto done = WaitFinished(planner, {needs_gpu});
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(Str(done[0], "state"), "done");
  EXPECT_EQ(Str(done[0], "worker"), "gpu");

  // The one no worker can ever fit stays queued and says why, in its JSON and in `volo status`.
  json::object t = GetTask(planner, too_big);
  EXPECT_EQ(Str(t, "state"), "queued");
  EXPECT_EQ(Str(t, "waiting"),
            "needs 64 GiB memory; the largest worker that runs 'sleep' has 16 GiB memory");
  const CommandResult status = h_.RunVolo({"status", "--planner", planner.url});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("can never fit a live worker (task " + std::to_string(too_big) +
                            " needs 64 GiB memory; the largest worker that runs 'sleep' has 16 "
                            "GiB memory)"),
            std::string::npos)
      << status.out;

  // A worker that has it arrives: the task runs there.
  StartWorker(planner, {.id = "big", .args = {"--ops", "sleep", "--memory", "131072"}});
  done = WaitFinished(planner, {too_big});
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(Str(done[0], "state"), "done");
  EXPECT_EQ(Str(done[0], "worker"), "big");
}

TEST_F(ResourcesTest, TheCliSubmitsARequest) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  StartWorker(planner, {.id = "w",
                        .args = {"--ops", "sleep", "--cpus", "0.5", "--memory", "64", "--resource",
                                 "licence=2"}});
  const CommandResult r =
      h_.RunVolo({"submit", "sleep", "--args", R"({"seconds": 0})", "--cpus", "0.5", "--memory",
                  "64", "--resource", "licence=2", "--planner", planner.url, "--wait"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  json::array tasks = Get(planner.Api("/tasks")).obj().at("tasks").as_array();
  ASSERT_EQ(tasks.size(), 1u);
  const json::object& res = tasks[0].at("resources").as_object();
  EXPECT_EQ(Num(res.at("cpus")), 0.5);
  EXPECT_EQ(Num(res.at("memory")), 64);
  EXPECT_EQ(Num(res.at("licence")), 2);
  EXPECT_EQ(res.size(), 3u);
  const CommandResult bad =
      h_.RunVolo({"submit", "sleep", "--resource", "licence=-1", "--planner", planner.url});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("licence=-1"), std::string::npos) << bad.err;
}

TEST_F(ResourcesTest, MalformedRequestsAre400sNamingTheField) {
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  struct Case {
    std::string body, field;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"op":"noop","resources":{"memory":-1}})", "resources.memory"},
           {R"({"op":"noop","resources":{"cpus":-0.5}})", "resources.cpus"},
           {R"({"op":"noop","resources":{"gpus":1.5}})", "resources.gpus"},
           {R"({"op":"noop","resources":"lots"})", "resources"},
           {R"({"tasks":[{"op":"noop"},{"op":"noop","resources":{"cpus":"x"}}]})",
            "tasks[1].resources.cpus"},
       }) {
    Reply r = Post(planner.Api("/tasks"), c.body);
    EXPECT_EQ(r.status, 400) << c.body << ": " << r.Describe();
    EXPECT_EQ(Str(r.obj(), "error").rfind(c.field + ":", 0), 0u) << r.Describe();
  }
  EXPECT_EQ(NumAt(Status(planner), "queued"), 0);
}

// Whether the worker can enforce limits with a cgroup here (as root with writable cgroups, as
// in CI); the rlimit fallback neither kills a hog nor stops root's fork bomb.
bool CgroupsWritable() {
  std::string probe = "/sys/fs/cgroup/memory/volo-itest-probe";
  if (::access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0) return ::geteuid() == 0;
  if (::mkdir(probe.c_str(), 0755) != 0) return false;
  ::rmdir(probe.c_str());
  return true;
}

TEST_F(ResourcesTest, AMemoryHogIsKilledAtItsLimitAndTheWorkerSurvives) {
  if (!CgroupsWritable()) GTEST_SKIP() << "no writable cgroup: limits fall back to rlimits";
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  Child* worker = StartWorker(
      planner,
      {.id = "w", .args = {"--ops", "exec", "--work-dir", TempPath("work"), "--memory", "1024"}});
  // The shell keeps 300 MB of a pipe's output in memory; the task asked for 64 MiB.
  uint64_t hog =
      Submit(planner,
             {{"op", "exec"},
              {"args", {{"shell", "x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo survived"}}},
              {"resources", {{"memory", 64}}}});
  ASSERT_NE(hog, 0u);
  auto done = WaitFinished(planner, {hog});
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(Str(done[0], "state"), "failed");
  EXPECT_NE(Str(done[0], "error").find("exceeded its memory limit of 64 MiB"), std::string::npos)
      << Str(done[0], "error");
  // The worker is alive and runs the next task.
  EXPECT_EQ(::kill(worker->pid, 0), 0);
  uint64_t next =
      Submit(planner,
             {{"op", "exec"}, {"args", {{"shell", "echo fine"}}}, {"resources", {{"memory", 64}}}});
  done = WaitFinished(planner, {next});
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(Str(done[0], "state"), "done") << Str(done[0], "error");
}

TEST_F(ResourcesTest, AForkBombStopsAtTheProcessLimit) {
  if (!CgroupsWritable()) GTEST_SKIP() << "no writable cgroup: limits fall back to rlimits";
  PlannerProc planner = StartPlanner();
  ASSERT_NE(planner.port, 0);
  Child* worker = StartWorker(planner, {.id = "w",
                                        .args = {"--ops", "exec", "--work-dir", TempPath("work"),
                                                 "--task-processes", "32"}});
  // A bomb with a fuse: 2^10 processes if nothing stopped it, all alive at once for a while.
  uint64_t bomb = Submit(planner, {{"op", "exec"},
                                   {"args",
                                    {{"shell",
                                      "b() { [ $1 -gt 0 ] || { sleep 1; return; }; b $(($1-1)) & "
                                      "b $(($1-1)) & wait; }; b 10; echo finished"},
                                     {"timeout", 60}}}});
  ASSERT_NE(bomb, 0u);
  auto done = WaitFinished(planner, {bomb});
  ASSERT_EQ(done.size(), 1u);
  // The shell finishes (its failed forks are errors it reports), and the tree never held more
  // than the limit: the failed forks are in its stderr.
  Reply logs = Get(planner.Api("/tasks/" + std::to_string(bomb) + "/logs?stream=stderr"));
  EXPECT_EQ(logs.status, 200) << logs.Describe();
  EXPECT_NE(logs.body.find("fork"), std::string::npos) << "no fork failed:\n" << logs.body;
  EXPECT_EQ(::kill(worker->pid, 0), 0);
}

}  // namespace
}  // namespace volo::itest
