// Commands as tasks: the `exec` operation on real workers (docs/rest-api.md, "Commands"):
// results, failures, timeouts and cancels that stop the whole process tree, output that does not
// grow the worker, a worker killed mid-command, and bad requests.

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness.h"

namespace volo::itest {
namespace {

class ExecTest : public VoloTest {
 protected:
  // {"op": "exec", "args": {"shell": line, ...extra}}.
  static json::object Shell(const std::string& line, const json::object& extra = {}) {
    json::object args{{"shell", line}};
    for (const auto& [k, v] : extra) args[k] = v;
    return {{"op", "exec"}, {"args", args}};
  }
  static json::object Cmd(const std::vector<std::string>& argv) {
    json::array a;
    for (const auto& s : argv) a.emplace_back(s.c_str());
    return {{"op", "exec"}, {"args", {{"cmd", a}}}};
  }
  Child* StartExecWorker(const PlannerProc& p, const std::string& id,
                         std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--ops", "exec", "--work-dir", TempPath("work-" + id)};
    args.insert(args.end(), extra.begin(), extra.end());
    return StartWorker(p, {.id = id, .args = args});
  }
  // Reads a pid a command wrote to `path` (0 until it is there and complete).
  static pid_t ReadPid(const std::string& path) {
    std::ifstream f(path);
    std::string line;
    if (!std::getline(f, line) || line.empty()) return 0;
    return static_cast<pid_t>(std::atol(line.c_str()));
  }
  // Whether `pid` still runs (a zombie waiting for its reaper does not).
  static bool Alive(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    if (!std::getline(f, stat)) return false;
    size_t close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
  }
  static int64_t StatusKiB(pid_t pid, const std::string& field) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line)) {
      if (line.rfind(field + ":", 0) == 0) return std::atoll(line.c_str() + field.size() + 1);
    }
    return -1;
  }
};

TEST_F(ExecTest, RunsCommandsAndReportsOutputAndExitCodes) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  StartExecWorker(p, "w1", {"--slots", "2"});
  const uint64_t echo = Submit(p, Cmd({"echo", "hello", "world"}));
  const uint64_t env = Submit(
      p, Shell("printf '%s|%s|' \"$GREETING\" \"$(cat)\"; pwd; echo err >&2",
               {{"env", {{"GREETING", "hi there"}}}, {"stdin", "from stdin"}, {"cwd", "a/b"}}));
  const uint64_t three = Submit(p, Shell("echo bad input >&2; exit 3"));
  const uint64_t segv = Submit(p, Shell("kill -SEGV $$"));
  const uint64_t missing = Submit(p, Cmd({"no-such-program-volo"}));
  auto tasks = WaitFinished(p, {echo, env, three, segv, missing});
  ASSERT_EQ(tasks.size(), 5u);
  EXPECT_EQ(Str(tasks[0], "state"), "done") << json::serialize(tasks[0]);
  const json::object& r0 = tasks[0]["result"].as_object();
  EXPECT_EQ(Str(r0, "stdout"), "hello world\n");
  EXPECT_EQ(NumAt(r0, "exit_code"), 0);
  EXPECT_EQ(r0.at("stdout_truncated"), json::value(false));
  EXPECT_GE(NumAt(r0, "duration"), 0);
  EXPECT_GE(NumAt(r0, "cpu_seconds"), 0);
  EXPECT_GT(NumAt(r0, "max_rss"), 0);

  ASSERT_EQ(Str(tasks[1], "state"), "done") << json::serialize(tasks[1]);
  const json::object& r1 = tasks[1]["result"].as_object();
  const std::string out = Str(r1, "stdout");
  EXPECT_EQ(out.rfind("hi there|from stdin|", 0), 0u) << out;
  EXPECT_NE(out.find("/task-" + std::to_string(env) + "-"), std::string::npos) << out;
  EXPECT_NE(out.find("/a/b\n"), std::string::npos) << out;
  EXPECT_EQ(Str(r1, "stderr"), "err\n");

  EXPECT_EQ(Str(tasks[2], "state"), "failed");
  EXPECT_EQ(Str(tasks[2], "error"), "exited with status 3: bad input");
  EXPECT_EQ(Str(tasks[3], "state"), "failed");
  EXPECT_EQ(Str(tasks[3], "error"), "killed by SIGSEGV");
  EXPECT_EQ(Str(tasks[4], "state"), "failed");
  EXPECT_NE(Str(tasks[4], "error").find("no-such-program-volo"), std::string::npos)
      << Str(tasks[4], "error");

  // Every task's directory is gone.
  EXPECT_TRUE(PollUntil(
      [&] {
        std::error_code ec;
        return std::filesystem::is_empty(TempPath("work-w1"), ec);
      },
      seconds(10)));
}

TEST_F(ExecTest, FailedCommandIsRetried) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  StartExecWorker(p, "w1");
  // Fails on the first attempt, succeeds on the second (the marker survives the task dir).
  const std::string marker = TempPath("tried");
  json::object t = Shell("if [ -e " + marker + " ]; then echo second; else touch " + marker +
                         "; exit 1; fi");
  t["retries"] = 1;
  const uint64_t id = Submit(p, t);
  auto tasks = WaitFinished(p, {id});
  ASSERT_EQ(Str(tasks[0], "state"), "done") << json::serialize(tasks[0]);
  EXPECT_EQ(NumAt(tasks[0], "attempts"), 2);
  EXPECT_EQ(Str(tasks[0]["result"].as_object(), "stdout"), "second\n");
}

TEST_F(ExecTest, TimeoutKillsTheWholeTreeGrandchildrenIncluded) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  StartExecWorker(p, "w1", {"--kill-grace", "0.5"});
  const std::string pidfile = TempPath("grandchild.pid");
  // The grandchild ignores SIGTERM: only the SIGKILL after the grace stops it.
  const uint64_t id = Submit(
      p, Shell("sh -c 'trap \"\" TERM; echo $$ > " + pidfile + ".tmp; mv " + pidfile + ".tmp " +
                   pidfile + "; while :; do sleep 1; done' & wait",
               {{"timeout", 1}}));
  ASSERT_TRUE(PollUntil([&] { return ReadPid(pidfile) > 0; }, seconds(20)));
  const pid_t grandchild = ReadPid(pidfile);
  EXPECT_TRUE(Alive(grandchild));
  auto tasks = WaitFinished(p, {id});
  EXPECT_EQ(Str(tasks[0], "state"), "failed");
  EXPECT_EQ(Str(tasks[0], "error").rfind("timed out after 1 s", 0), 0u) << Str(tasks[0], "error");
  EXPECT_TRUE(PollUntil([&] { return !Alive(grandchild); }, seconds(10)))
      << "grandchild " << grandchild << " survived the timeout";
}

TEST_F(ExecTest, CancelStopsARunningCommand) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  StartExecWorker(p, "w1", {"--kill-grace", "0.5"});
  const std::string pidfile = TempPath("child.pid");
  const uint64_t id = Submit(p, Shell("sleep 300 & echo $! > " + pidfile + ".tmp; mv " + pidfile +
                                      ".tmp " + pidfile + "; wait"));
  ASSERT_TRUE(PollUntil([&] { return ReadPid(pidfile) > 0; }, seconds(20)));
  const pid_t child = ReadPid(pidfile);
  const Reply r = Post(p.Api("/tasks/" + std::to_string(id) + "/cancel"), "");
  EXPECT_EQ(r.status, 200) << r.Describe();
  EXPECT_TRUE(PollUntil([&] { return !Alive(child); }, seconds(10)))
      << "the cancelled command's child " << child << " still runs";
  EXPECT_EQ(Str(GetTask(p, id), "state"), "cancelled");
}

TEST_F(ExecTest, HundredMiBOfOutputDoesNotGrowTheWorker) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  Child* w = StartExecWorker(p, "w1");
  ASSERT_NE(w, nullptr);
  const uint64_t id = Submit(p, Shell("head -c 104857600 /dev/zero; echo done >&2"));
  auto tasks = WaitFinished(p, {id}, seconds(120));
  ASSERT_EQ(Str(tasks[0], "state"), "done") << json::serialize(tasks[0]);
  const json::object& r = tasks[0]["result"].as_object();
  EXPECT_EQ(Str(r, "stdout").size(), 64u << 10);
  EXPECT_EQ(r.at("stdout_truncated"), json::value(true));
  EXPECT_EQ(Str(r, "stderr"), "done\n");
  const int64_t hwm = StatusKiB(w->pid, "VmHWM");
  EXPECT_GT(hwm, 0);
  EXPECT_LT(hwm, 48 * 1024) << "the worker's peak resident memory grew to " << hwm << " KiB";
}

TEST_F(ExecTest, KilledWorkerMidCommandRunsItElsewhere) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  Child* a = StartExecWorker(p, "a");
  ASSERT_NE(a, nullptr);
  const std::string started = TempPath("started");
  const uint64_t id =
      Submit(p, Shell("echo $VOLO_TASK_ID >> " + started + "; sleep 2; echo finished"));
  ASSERT_TRUE(PollUntil([&] { return Str(GetTask(p, id), "state") == "running"; }, seconds(20)));
  StartExecWorker(p, "b");
  h_.Kill(*a);
  auto tasks = WaitFinished(p, {id});
  ASSERT_EQ(Str(tasks[0], "state"), "done") << json::serialize(tasks[0]);
  EXPECT_EQ(Str(tasks[0], "worker"), "b");
  EXPECT_EQ(Str(tasks[0]["result"].as_object(), "stdout"), "finished\n");
}

TEST_F(ExecTest, BadRequestsGetClearErrors) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  auto expect400 = [&](const std::string& body, const std::string& says) {
    const Reply r = Post(p.Api("/tasks"), body);
    EXPECT_EQ(r.status, 400) << body << " -> " << r.Describe();
    EXPECT_NE(Str(r.obj(), "error").find(says), std::string::npos)
        << body << " -> " << r.Describe();
  };
  expect400(R"({"op":"exec","args":{"cmd":[]}})", "args.cmd: must not be empty");
  expect400(R"({"op":"exec","args":{"cmd":["a",1]}})", "args.cmd[1]: must be a string");
  expect400(R"({"op":"exec","args":{"cmd":["true"],"shell":"true"}})", "not both");
  expect400(R"({"op":"exec","args":{}})", "exec needs cmd");
  expect400(R"({"op":"exec","args":{"shell":"true","cwd":"../x"}})",
            "args.cwd: '../x' escapes the task's directory");
  expect400(R"({"op":"exec","args":{"shell":"true","cwd":"a/../../x"}})", "escapes");
  expect400(R"({"op":"exec","args":{"shell":"true","cwd":"/etc"}})", "must be a relative path");
  expect400(R"({"op":"exec","args":{"shell":"true","colour":"red"}})",
            "args.colour: unknown field");
  expect400(R"({"op":"exec","args":{"shell":"true","env":{"A":1}}})", "args.env.A: must be a string");
  expect400(R"({"op":"exec","args":{"shell":"true","timeout":-1}})", "args.timeout");
  expect400(R"({"op":"exec","args":{"shell":"true","memory":-5}})", "args.memory");
}

}  // namespace
}  // namespace volo::itest
