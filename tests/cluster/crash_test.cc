// One program must not take the fleet down (docs/placement.md, "Failures"): fly chunks that
// crash their runner process, and tasks whose attempts keep losing their worker, fail with a
// clean error and their history, while every worker stays alive and registered, and the next
// program runs. Real planner, workers and `volo run` processes.
#include <dirent.h>
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"

namespace volo::itest {
namespace {

// The live (not zombie) child processes of `parent`, from /proc; with `running_only`, only
// those on a CPU or waiting for one (a runner computing, not one waiting for work).
std::vector<pid_t> ChildrenOf(pid_t parent, bool running_only = false) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos || paren + 4 >= stat.size()) continue;
    std::istringstream rest(stat.substr(paren + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent && state != 'Z' && (!running_only || state == 'R')) out.push_back(pid);
  }
  ::closedir(d);
  return out;
}

bool Alive(pid_t pid) { return ::kill(pid, 0) == 0; }

// CPU time (user + system, in clock ticks) that `pid` has used, from /proc; -1 when it is gone.
long CpuTicks(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream rest(stat.substr(paren + 2));
  std::string field;
  long utime = 0, stime = 0;
  // Fields 3..13 come before utime (14) and stime (15).
  for (int k = 3; k <= 13 && rest >> field; ++k) {
  }
  if (!(rest >> utime >> stime)) return -1;
  return utime + stime;
}

constexpr const char* kQuick = R"(var cloud = [type="smp", nthread=2]
func f(i) { return i * i }
func show(rs) { println "sum " + (rs[0] + rs[1] + rs[2] + rs[3]) }
fly f in [0:4] on cloud thenall show
)";

// One instance that runs for hours: long enough to be killed in the middle.
constexpr const char* kEndless = R"(var cloud = [type="smp", nthread=1]
func f(i) {
  var n = 0
  for k in [0:1000000000000] { n += 1 }
  return n
}
fly f in [0:1] on cloud
println "not reached"
)";

class CrashTest : public VoloTest {
 protected:
  void SetUp() override {
    p_ = StartPlanner();
    ASSERT_NE(p_.port, 0);
  }

  std::string Program(const std::string& name, const std::string& text) {
    std::string path = TempPath(name);
    WriteFile(path, text);
    return path;
  }

  // Three workers; `ops` fly by default, one slot each (so a worker has one runner).
  void StartFleet(const std::string& ops = "fly", const EnvOverrides& env = {}) {
    for (const char* id : {"w1", "w2", "w3"}) {
      Child* c = StartWorker(
          p_, {.id = id,
               .args = {"--ops", ops, "--slots", "1", "--port", "-1", "--log-level", "info"},
               .env = env});
      ASSERT_NE(c, nullptr);
      workers_.push_back(c);
    }
  }

  // Every worker process is alive, the planner lists all three, and a program runs on them.
  void ExpectFleetIntact() {
    for (Child* w : workers_) {
      EXPECT_FALSE(h_.Reap(*w)) << w->name << " exited with " << w->ExitCode();
      EXPECT_TRUE(Alive(w->pid)) << w->name;
    }
    for (const char* id : {"w1", "w2", "w3"}) {
      EXPECT_TRUE(FindWorker(p_, id).has_value()) << id << " is no longer registered";
    }
    EXPECT_EQ(NumAt(Status(p_), "workers"), 3);
    CommandResult next = h_.RunVolo(
        {"run", Program("quick.fly", kQuick), "--env", "cloud=cluster:" + p_.url}, {}, seconds(60));
    ASSERT_TRUE(next.finished);
    EXPECT_EQ(next.exit_code, 0) << next.err;
    EXPECT_EQ(next.out, "sum 14\n");
  }

  // The worker id of a child StartWorker started (named "worker-ID").
  static std::string IdOf(const Child* w) { return w->name.substr(7); }

  // The worker (of `workers_`) that the planner says runs a task now, or nullptr.
  Child* Busy() {
    for (Child* w : workers_) {
      auto info = FindWorker(p_, IdOf(w));
      if (info && NumAt(*info, "running") > 0) return w;
    }
    return nullptr;
  }

  PlannerProc p_;
  std::vector<Child*> workers_;
};

TEST_F(CrashTest, TheFloorDivProgramThatKilledAFleetEndsCleanly) {
  StartFleet();
  std::vector<pid_t> pids;
  for (Child* w : workers_) pids.push_back(w->pid);
  // INT64_MIN / -1 trapped (SIGFPE) in a plain C++ division and took three workers down in
  // 4 ms. The language now wraps it as Java does; were it to crash again, the runner would
  // contain it and the fly would fail with the crash history.
  std::string file = Program("fpe.fly", R"(var c = [type="smp", nthread=2]
func f(i) {
  var r = 0
  if (i == 3) { r = Math.floorDiv(-9223372036854775807 - 1, -1) }
  return r
}
func show(rs) { println rs[3] }
fly f in [0:8] on c thenall show
)");
  CommandResult r = h_.RunVolo({"run", file, "--env", "c=cluster:" + p_.url}, {}, seconds(60));
  ASSERT_TRUE(r.finished);
  if (r.exit_code == 0) {
    EXPECT_EQ(r.out, "-9223372036854775808\n");
  } else {
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("fly 'f': instance 3 failed"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("crashed 2 times: killed by SIGFPE on w"), std::string::npos) << r.err;
  }
  for (size_t k = 0; k < workers_.size(); ++k) EXPECT_EQ(workers_[k]->pid, pids[k]);
  ExpectFleetIntact();
}

// The environment under which a SIGSEGV kills a process, as in production. AddressSanitizer
// (make test-asan) otherwise catches the signal, prints a report and exits with status 1, so
// the runner would seem to have exited rather than been killed by the signal. Other builds
// ignore the variable.
EnvOverrides SegvKills() {
  const char* inherited = std::getenv("ASAN_OPTIONS");
  std::string options = inherited != nullptr ? inherited : "";
  if (!options.empty()) options += ":";
  return {{"ASAN_OPTIONS", options + "handle_segv=0"}};
}

TEST_F(CrashTest, ARunnerKilledMidChunkFailsOnlyThatChunkAndIsReplaced) {
  StartFleet("fly", SegvKills());
  // What a runner's own start costs in CPU: each worker's first runner once it waits for work.
  // Under the sanitizers that can be tenths of a second, as much as computing for a while.
  long start_ticks = 0;
  ASSERT_TRUE(PollUntil(
      [&] {
        start_ticks = 0;
        for (Child* w : workers_) {
          auto runners = ChildrenOf(w->pid);
          if (runners.size() != 1 || !ChildrenOf(w->pid, /*running_only=*/true).empty()) {
            return false;
          }
          start_ticks = std::max(start_ticks, CpuTicks(runners[0]));
        }
        return true;
      },
      seconds(60), milliseconds(10)))
      << "the workers' runners did not start";
  std::string file = Program("endless.fly", kEndless);
  Child* run = h_.Spawn("run", {"run", file, "--env", "cloud=cluster:" + p_.url});
  ASSERT_NE(run, nullptr);
  // Two real signals to the runner processes, the way a crash or the kernel would send them;
  // independent of which language bugs are fixed.
  std::vector<std::string> victims;
  for (int sig : {SIGSEGV, SIGKILL}) {
    Child* busy = nullptr;
    std::vector<pid_t> runners;
    ASSERT_TRUE(PollUntil(
        [&] {
          busy = Busy();
          if (!busy) return false;
          runners = ChildrenOf(busy->pid, /*running_only=*/true);
          // Computing the endless instance, not still starting or reading its chunk: a runner
          // that dies before it takes a chunk is replaced without counting a crash. A chunk
          // can go back to the worker whose runner crashed, whose new runner is then starting:
          // its CPU must exceed a whole start's (twice over) before it counts as computing.
          return runners.size() == 1 && CpuTicks(runners[0]) >= 2 * start_ticks + 30;
        },
        seconds(60), milliseconds(10)))
        << "no worker took the chunk";
    victims.push_back(IdOf(busy));
    ASSERT_EQ(::kill(runners[0], sig), 0);
    // The worker starts a new runner in its place.
    EXPECT_TRUE(PollUntil(
        [&] {
          auto now = ChildrenOf(busy->pid);
          return now.size() == 1 && now[0] != runners[0];
        },
        seconds(30), milliseconds(10)))
        << busy->name << " did not replace its runner";
  }
  ASSERT_TRUE(h_.WaitExit(*run, seconds(60)));
  EXPECT_EQ(run->ExitCode(), 1);
  std::string log = ReadFile(run->log_path);
  EXPECT_NE(log.find("fly 'f': instance 0 failed"), std::string::npos) << log;
  EXPECT_NE(log.find("crashed 2 times: killed by SIGSEGV on " + victims[0] +
                     "; killed by SIGKILL on " + victims[1]),
            std::string::npos)
      << log;
  ExpectFleetIntact();
}

TEST_F(CrashTest, ATaskWhoseWorkersKeepDyingFailsWithItsHistory) {
  StartFleet("sleep");
  uint64_t id = Submit(p_, json::object{{"op", "sleep"}, {"args", json::object{{"seconds", 600}}}});
  ASSERT_NE(id, 0u);
  std::vector<std::string> killed;
  for (int round = 0; round < 2; ++round) {
    Child* busy = nullptr;
    ASSERT_TRUE(PollUntil([&] { return (busy = Busy()) != nullptr; }, seconds(30)))
        << "no worker took the task";
    killed.push_back(IdOf(busy));
    h_.Kill(*busy);
    std::erase(workers_, busy);
  }
  auto tasks = WaitFinished(p_, {id}, seconds(30));
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(Str(tasks[0], "state"), "failed");
  EXPECT_EQ(Str(tasks[0], "error"),
            "crashed 2 times: worker " + killed[0] + " lost; worker " + killed[1] + " lost");
  // The third worker never got it and is still there.
  ASSERT_EQ(workers_.size(), 1u);
  EXPECT_TRUE(Alive(workers_[0]->pid));
  auto last = FindWorker(p_, IdOf(workers_[0]));
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(NumAt(*last, "running"), 0);
}

// Crash shapes inside fly instances, so they run in the workers' runners. Whether the
// language turns each into a clean error (as it should) or it still crashes the runner, the
// program must end with a clean error or result, and the fleet must stay.
constexpr const char* kInInstance[] = {
    // division of the most negative Integer by -1
    R"(func f(i) { return Math.floorDiv(-9223372036854775807 - 1, -1) + Math.floorMod(-9223372036854775807 - 1, -1) })",
    // a container inside itself: printed, compared, sent back
    R"(func f(i) { var a = [1]
  a.add(a)
  println a
  return a == a })",
    R"(func f(i) { var m = {n = 1}
  m.self = m
  return m })",
    // nested 200,000 deep
    R"(func f(i) { var a = [0]
  for k in [0:200000] { a = [a] }
  println a
  return 1 })",
    // a regular expression over a long string
    R"(func f(i) { var s = "ab"
  for k in [0:16] { s = s + s }
  return s.replaceAll("(a|b)+", "x") })",
    // an array too big in its second dimension
    R"(func f(i) { var d = Double[100000][100000]
  return 1 })",
    // runaway recursion
    R"(func f(i) { return f(i + 1) + 1 })",
};

TEST_F(CrashTest, CrashShapesInsideInstancesEndCleanlyAndTheFleetStays) {
  StartFleet();
  std::vector<pid_t> pids;
  for (Child* w : workers_) pids.push_back(w->pid);
  int k = 0;
  for (const char* body : kInInstance) {
    std::string text = std::string("var c = [type=\"smp\", nthread=2]\n") + body +
                       "\nfly f in [0:2] on c\nprintln \"ran\"\n";
    std::string file = Program("shape" + std::to_string(k++) + ".fly", text);
    CommandResult r = h_.RunVolo({"run", file, "--env", "c=cluster:" + p_.url}, {}, seconds(120));
    ASSERT_TRUE(r.finished) << body;
    EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 1) << body << "\n" << r.err;
    if (r.exit_code == 1) {
      EXPECT_NE(r.err.find("fly 'f': instance "), std::string::npos) << body << "\n" << r.err;
    }
  }
  for (size_t w = 0; w < workers_.size(); ++w) EXPECT_EQ(workers_[w]->pid, pids[w]);
  ExpectFleetIntact();
}

// The language's own list of programs that used to crash (tests/fly/crashes), run with their
// smp environments bound to the fleet: each ends with a result or a clean error (never a
// signal, never a hang), and the workers are the same processes afterwards.
TEST_F(CrashTest, TheKnownCrashingProgramsEndCleanlyOnAFleet) {
  StartFleet();
  std::vector<pid_t> pids;
  for (Child* w : workers_) pids.push_back(w->pid);
  std::string dir = std::string(VOLO_SOURCE_DIR) + "/tests/fly/crashes/";
  std::vector<std::string> files;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      // Their limit is a flag of the client (--max-memory): on a fleet the runners' own share
      // applies, far above what these tests should allocate on a shared machine.
      if (name.size() > 4 && name.substr(name.size() - 4) == ".fly" &&
          name.rfind("memory_limit", 0) != 0) {
        files.push_back(name);
      }
    }
    ::closedir(d);
  }
  ASSERT_GE(files.size(), 5u) << "tests/fly/crashes is missing";
  for (const auto& name : files) {
    std::string text = ReadFile(dir + name);
    std::vector<std::string> args = {"run", dir + name};
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("// args:", 0) == 0) {
        std::istringstream words(line.substr(8));
        for (std::string w; words >> w;) args.push_back(w);
      }
      size_t at = line.find("= [type=\"smp\"");
      if (line.rfind("var ", 0) == 0 && at != std::string::npos) {
        std::string env = line.substr(4, at - 4);
        while (!env.empty() && env.back() == ' ') env.pop_back();
        args.push_back("--env");
        args.push_back(env + "=cluster:" + p_.url);
      }
    }
    CommandResult r = h_.RunVolo(args, {}, seconds(120));
    ASSERT_TRUE(r.finished) << name << " hung";
    EXPECT_GE(r.exit_code, 0) << name << " died of a signal\n" << r.err;
    EXPECT_LE(r.exit_code, 124) << name << "\n" << r.err;
  }
  for (size_t w = 0; w < workers_.size(); ++w) EXPECT_EQ(workers_[w]->pid, pids[w]);
  ExpectFleetIntact();
}

// Output as it happens (docs/placement.md, "Output"): an instance prints a line and then waits
// for a file that the test creates only once the client has printed that line, so the line
// must travel runner -> worker -> planner -> client while the chunk still runs.
std::string GatedProgram(const std::string& gate) {
  return "var cloud = [type=\"smp\", nthread=1]\n"
         "func f(i) {\n"
         "  println \"started \" + i\n"
         "  var gate = [type=\"file\", path=\"" +
         gate +
         "\"]\n"
         "  while (not gate.exists()) { }\n"
         "  println \"released \" + i\n"
         "  return i\n"
         "}\n"
         "fly f in [0:1] on cloud\n"
         "println \"end\"\n";
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST_F(CrashTest, AnInstancesLinesReachTheClientWhileItRuns) {
  StartFleet();
  std::string gate = TempPath("gate");
  Child* run = h_.Spawn(
      "run", {"run", Program("gated.fly", GatedProgram(gate)), "--env", "cloud=cluster:" + p_.url});
  ASSERT_NE(run, nullptr);
  bool seen =
      PollUntil([&] { return ReadFile(run->log_path).find("started 0\n") != std::string::npos; },
                seconds(60), milliseconds(10));
  // Released either way, so the run ends.
  WriteFile(gate, "");
  ASSERT_TRUE(seen) << "the line did not arrive before the chunk ended:\n"
                    << ReadFile(run->log_path);
  ASSERT_TRUE(h_.WaitExit(*run, seconds(60)));
  EXPECT_EQ(run->ExitCode(), 0) << ReadFile(run->log_path);
  EXPECT_NE(ReadFile(run->log_path).find("started 0\nreleased 0\nend\n"), std::string::npos)
      << ReadFile(run->log_path);
}

TEST_F(CrashTest, AChunkRetriedAfterItsRunnerDiedPrintsItsLinesOnce) {
  StartFleet();
  std::string gate = TempPath("gate");
  Child* run = h_.Spawn(
      "run", {"run", Program("gated.fly", GatedProgram(gate)), "--env", "cloud=cluster:" + p_.url});
  ASSERT_NE(run, nullptr);
  ASSERT_TRUE(
      PollUntil([&] { return ReadFile(run->log_path).find("started 0\n") != std::string::npos; },
                seconds(60), milliseconds(10)))
      << ReadFile(run->log_path);
  // The first attempt has printed; its runner dies (as in a crash) and the chunk runs again,
  // printing the same line again, which the client has already shown.
  Child* busy = Busy();
  ASSERT_NE(busy, nullptr);
  std::vector<pid_t> runners = ChildrenOf(busy->pid);
  ASSERT_EQ(runners.size(), 1u);
  ASSERT_EQ(::kill(runners[0], SIGKILL), 0);
  // Released once the retry holds the chunk (on any worker).
  ASSERT_TRUE(PollUntil(
      [&] {
        Child* now = Busy();
        if (!now) return false;
        auto r = ChildrenOf(now->pid);
        return r.size() == 1 && r[0] != runners[0];
      },
      seconds(60), milliseconds(10)));
  WriteFile(gate, "");
  ASSERT_TRUE(h_.WaitExit(*run, seconds(60)));
  std::string log = ReadFile(run->log_path);
  EXPECT_EQ(run->ExitCode(), 0) << log;
  EXPECT_EQ(Count(log, "started 0\n"), 1u) << log;
  EXPECT_EQ(Count(log, "released 0\n"), 1u) << log;
  EXPECT_NE(log.find("started 0\nreleased 0\nend\n"), std::string::npos) << log;
}

}  // namespace
}  // namespace volo::itest
