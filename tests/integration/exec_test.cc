// Commands as tasks: the `exec` operation on real workers (docs/rest-api.md, "Commands"):
// results, failures, timeouts and cancels that stop the whole process tree, output that does not
// grow the worker, a worker killed mid-command, and bad requests.

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
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
    // These commands write pid files beside the test: they run unsandboxed (sandbox_exec_test).
    std::vector<std::string> args = {"--ops", "exec",       "--sandbox",
                                     "none",  "--work-dir", TempPath("work-" + id)};
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
  json::object t =
      Shell("if [ -e " + marker + " ]; then echo second; else touch " + marker + "; exit 1; fi");
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
  const uint64_t id =
      Submit(p, Shell("sh -c 'trap \"\" TERM; echo $$ > " + pidfile + ".tmp; mv " + pidfile +
                          ".tmp " + pidfile + "; while :; do sleep 1; done' & wait",
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

TEST_F(ExecTest, TimeoutAlsoStopsAProcessThatLeftTheGroup) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  StartExecWorker(p, "w1", {"--kill-grace", "0.5"});
  const std::string pidfile = TempPath("escaped.pid");
  // setsid: a new session and process group, out of reach of the group's signals.
  const uint64_t id =
      Submit(p, Shell("setsid sh -c 'echo $$ > " + pidfile + ".tmp; mv " + pidfile + ".tmp " +
                          pidfile + "; exec sleep 300' > /dev/null 2>&1 & sleep 300",
                      {{"timeout", 1}}));
  ASSERT_TRUE(PollUntil([&] { return ReadPid(pidfile) > 0; }, seconds(20)));
  const pid_t escaped = ReadPid(pidfile);
  EXPECT_TRUE(Alive(escaped));
  auto tasks = WaitFinished(p, {id});
  EXPECT_EQ(Str(tasks[0], "state"), "failed");
  EXPECT_TRUE(PollUntil([&] { return !Alive(escaped); }, seconds(10)))
      << "process " << escaped << " left the task's process group and survived its timeout";
  if (Alive(escaped)) ::kill(escaped, SIGKILL);
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
#if !defined(__SANITIZE_ADDRESS__)  // AddressSanitizer's shadow memory and quarantine dwarf it
  EXPECT_LT(hwm, 48 * 1024) << "the worker's peak resident memory grew to " << hwm << " KiB";
#endif
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
  expect400(R"({"op":"exec","args":{"shell":"true","env":{"A":1}}})",
            "args.env.A: must be a string");
  expect400(R"({"op":"exec","args":{"shell":"true","timeout":-1}})", "args.timeout");
  expect400(R"({"op":"exec","args":{"shell":"true","memory":-5}})", "args.memory");
}

TEST_F(ExecTest, LogsKeepBinaryOutputIntactAndFollowARunningTask) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  StartExecWorker(p, "w1");
  // Every byte value, invalid UTF-8 included, then random bytes.
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  bytes += "\xff\xfe\xc3(\xed\xa0\x80";
  for (uint32_t i = 0; i < 300000; ++i)
    bytes.push_back(static_cast<char>((i * 7919 + i / 13) & 0xFF));
  const std::string file = TempPath("binary");
  {
    std::ofstream f(file, std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  const uint64_t id = Submit(p, Shell("cat " + file + "; cat " + file + " >&2"));
  auto tasks = WaitFinished(p, {id});
  ASSERT_EQ(Str(tasks[0], "state"), "done") << json::serialize(tasks[0]);
  const std::string logs = p.Api("/tasks/" + std::to_string(id) + "/logs");
  Reply out = Get(logs);
  EXPECT_EQ(out.status, 200);
  EXPECT_TRUE(out.body == bytes) << "stdout differs: " << out.body.size() << " bytes, not "
                                 << bytes.size();
  Reply err = Get(logs + "?stream=stderr");
  EXPECT_TRUE(err.body == bytes) << "stderr differs: " << err.body.size() << " bytes";
  Reply tail = Get(logs + "?offset=" + std::to_string(bytes.size() - 5));
  EXPECT_TRUE(tail.body == bytes.substr(bytes.size() - 5));
  EXPECT_EQ(Get(logs + "?stream=both").status, 400);
  EXPECT_EQ(Get(logs + "?offset=-1").status, 400);

  // Follow: the answer waits for output the task has not written yet.
  const std::string go = TempPath("go");
  const uint64_t live =
      Submit(p, Shell("echo first; while [ ! -e " + go + " ]; do sleep 0.05; done; echo second"));
  const std::string live_logs = p.Api("/tasks/" + std::to_string(live) + "/logs");
  ASSERT_TRUE(PollUntil([&] { return Get(live_logs).body == "first\n"; }, seconds(20)));
  auto later = std::async(std::launch::async,
                          [&] { return Get(live_logs + "?follow=1&offset=6", seconds(30)); });
  EXPECT_EQ(later.wait_for(milliseconds(300)), std::future_status::timeout)
      << "a follow with nothing new answered at once";
  { std::ofstream(go) << "go"; }
  Reply next = later.get();
  EXPECT_EQ(next.status, 200) << next.Describe();
  EXPECT_EQ(next.body, "second\n");
  WaitFinished(p, {live});
}

TEST_F(ExecTest, CliRunsCommandsAndExitsWithTheirExitCode) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  StartExecWorker(p, "w1");
  CommandResult r = h_.RunVolo(
      {"submit", "--planner", p.url, "--wait", "--shell", "echo out; echo err >&2; exit 7"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(r.out, "out\n");
  EXPECT_NE(r.err.find("err\n"), std::string::npos) << r.err;
  r = h_.RunVolo({"submit", "--planner", p.url, "--wait", "--env", "WHO=volo", "--stdin", "in",
                  "--cmd", "--", "sh", "-c", "printf '%s %s' \"$WHO\" \"$(cat)\""});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "volo in");
  r = h_.RunVolo({"submit", "--planner", p.url, "--cmd", "--", "echo", "--seed", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const uint64_t id = std::stoull(r.out);
  WaitFinished(p, {id});
  r = h_.RunVolo({"logs", "--planner", p.url, std::to_string(id)});
  EXPECT_EQ(r.out, "--seed 3\n");
  r = h_.RunVolo({"submit", "--planner", p.url, "--wait", "--cmd"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("name the program"), std::string::npos) << r.err;
}

TEST_F(ExecTest, ArrayOfTenThousandRecordsEveryExitCode) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  StartExecWorker(p, "w1", {"--slots", "2"});
  StartExecWorker(p, "w2", {"--slots", "2"});
  CommandResult r = h_.RunVolo({"submit", "--planner", p.url, "--each", "i=1..10000", "--cmd", "--",
                                "sh", "-c", "exit $(({i} % 4))"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const uint64_t array = std::stoull(r.out);
  r = h_.RunVolo({"wait", "--planner", p.url, "--timeout", "280", "--array", std::to_string(array)},
                 {}, seconds(290));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;  // some failed
  EXPECT_NE(r.out.find("10000 tasks, 2500 done, 7500 failed; exit codes 0: 2500, 1: 2500, 2: "
                       "2500, 3: 2500"),
            std::string::npos)
      << r.out;
  const Reply a = Get(p.Api("/arrays/" + std::to_string(array)));
  ASSERT_EQ(a.status, 200) << a.Describe();
  EXPECT_EQ(NumAt(a.obj(), "size"), 10000);
  EXPECT_EQ(NumAt(a.obj(), "done"), 2500);
  EXPECT_EQ(NumAt(a.obj(), "failed"), 7500);
  // Each task's own code: task k (i = k + 1) exited with (k + 1) % 4.
  for (uint64_t k : {0u, 1u, 2u, 3u, 4998u, 9999u}) {
    const json::object t = GetTask(p, array + k);
    const int code = static_cast<int>((k + 1) % 4);
    if (code == 0) {
      EXPECT_EQ(Str(t, "state"), "done") << json::serialize(t);
    } else {
      EXPECT_EQ(Str(t, "error"), "exited with status " + std::to_string(code))
          << json::serialize(t);
    }
  }
}

TEST_F(ExecTest, ArrayFailuresAreResubmittedWithOneCommand) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  StartExecWorker(p, "w1");
  const std::string mark = TempPath("mark");
  const std::string lines = TempPath("names");
  { std::ofstream(lines) << "alpha\nbeta\ngamma\n"; }
  const std::string objects = TempPath("objects");
  { std::ofstream(objects) << "{\"n\": 1, \"s\": \"x\"}\n{\"n\": 2, \"s\": \"y\"}\n"; }
  // Tasks 4..6 fail until the mark exists.
  CommandResult r = h_.RunVolo({"submit", "--planner", p.url, "--each", "i=1..6", "--shell",
                                "[ {i} -le 3 ] || [ -e " + mark + " ] || exit 5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string array = r.out.substr(0, r.out.find('\n'));
  r = h_.RunVolo({"wait", "--planner", p.url, "--array", array});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("6 tasks, 3 done, 3 failed; exit codes 0: 3, 5: 3"), std::string::npos)
      << r.out;
  EXPECT_NE(r.err.find("array " + array + ": 6/6 finished"), std::string::npos) << r.err;
  { std::ofstream(mark) << "x"; }
  r = h_.RunVolo({"resubmit", "--planner", p.url, "--wait", array});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("3 tasks, 3 done, 0 failed; exit codes 0: 3"), std::string::npos) << r.out;

  // --each-line and --each-json fill their placeholders.
  r = h_.RunVolo({"submit", "--planner", p.url, "--wait", "--each-line", lines, "--cmd", "--",
                  "echo", "{line}"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = h_.RunVolo({"submit", "--planner", p.url, "--each-json", objects, "--shell", "echo {s}{n}"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const uint64_t first = std::stoull(r.out);
  auto tasks = WaitFinished(p, {first, first + 1});
  EXPECT_EQ(Str(tasks[0]["result"].as_object(), "stdout"), "x1\n");
  EXPECT_EQ(Str(tasks[1]["result"].as_object(), "stdout"), "y2\n");
  EXPECT_EQ(
      Post(p.Api("/tasks"),
           R"({"array":{"op":"exec","args":{"shell":"true"}},"each":{"var":"i","from":5,"to":1}})")
          .status,
      400);
  EXPECT_EQ(Post(p.Api("/tasks"),
                 R"({"array":{"op":"exec","args":{"cmd":[]}},"each":{"var":"i","from":1,"to":2}})")
                .status,
            400);
  EXPECT_EQ(Get(p.Api("/arrays/999999")).status, 404);
}

}  // namespace
}  // namespace volo::itest
