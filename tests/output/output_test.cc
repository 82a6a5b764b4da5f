// Output as it happens: a FLY program's lines reach a pipe while it runs, and a cluster fly
// reports its progress and its waits on stderr (docs/placement.md, "Progress"). Each program
// blocks on a file the test creates later, so "before the end" is a condition the test
// controls, never a duration.
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"

namespace volo::itest {
namespace {

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// Prints a line, then spins until the file GATE exists, then prints another.
constexpr const char* kPrintThenWait = R"(var gate = [type="file", path="GATE"]
println "first line"
while (not gate.exists()) { }
println "after the gate"
)";

// INSTANCES instances that each spin until the file GATE exists.
constexpr const char* kSpinners = R"(var fleet = [type="smp", nthread=1]
var gate = [type="file", path="GATE"]
func spin(i) {
    while (not gate.exists()) { }
    return i
}
fly spin in [0:INSTANCES] on fleet
println "all spun"
)";

class OutputTest : public VoloTest {
 protected:
  std::string Program(const std::string& name, const char* text, int instances = 1) {
    std::string path = TempPath(name);
    WriteFile(path, Replace(Replace(text, "INSTANCES", std::to_string(instances)), "GATE", gate_));
    return path;
  }
  void OpenGate() { WriteFile(gate_, "open\n"); }

  Child* FlyWorker(const PlannerProc& p, const std::string& id) {
    return StartWorker(p, {.id = id, .args = {"--ops", "fly", "--slots", "1", "--port", "-1"}});
  }

  // Waits until the child's log matches `re`; false (with the log in the failure) if it does
  // not within `timeout` or the child ends first.
  bool WaitForLog(Child& c, const std::string& re, milliseconds timeout = seconds(60)) {
    std::regex pattern(re);
    bool seen =
        PollUntil([&] { return std::regex_search(ReadFile(c.log_path), pattern) || h_.Reap(c); },
                  timeout, milliseconds(50));
    return seen && std::regex_search(ReadFile(c.log_path), pattern);
  }

  std::string gate_ = TempPath("gate");
};

TEST_F(OutputTest, PrintlnReachesAPipeLineByLineWhileTheProgramRuns) {
  std::string file = Program("print.fly", kPrintThenWait);
  // volo's standard output is a pipe into cat, whose output is the log.
  Child* c = h_.Spawn("run", {"-c", "\"$0\" run \"$1\" | cat", VoloBinary(), file}, {}, "/bin/sh");
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(WaitForLog(*c, "first line\n")) << ReadFile(c->log_path);
  EXPECT_FALSE(h_.Reap(*c)) << "the program cannot end before the gate opens";
  OpenGate();
  ASSERT_TRUE(h_.WaitExit(*c, seconds(60)));
  EXPECT_EQ(c->ExitCode(), 0);
  EXPECT_EQ(ReadFile(c->log_path), "first line\nafter the gate\n");
}

TEST_F(OutputTest, APipedClusterFlyPrintsPlainProgressLines) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  ASSERT_NE(FlyWorker(p, "w1"), nullptr);
  std::string file = Program("spin.fly", kSpinners, 4);
  Child* c = h_.Spawn("run", {"run", file, "--env", "fleet=cluster:" + p.url + "?progress=1"});
  ASSERT_NE(c, nullptr);
  // One slot: one instance runs while the others wait, and nothing ends before the gate opens.
  ASSERT_TRUE(
      WaitForLog(*c, "volo: fly 'spin': 0/4 done, [1-4] running, 0 failed, [0-9.]+ s elapsed\n"))
      << ReadFile(c->log_path);
  std::string before = ReadFile(c->log_path);
  EXPECT_EQ(before.find('\r'), std::string::npos) << "no carriage returns in a pipe: " << before;
  EXPECT_EQ(before.find("left"), std::string::npos) << "no estimate before anything ended";
  OpenGate();
  ASSERT_TRUE(h_.WaitExit(*c, seconds(60)));
  std::string log = ReadFile(c->log_path);
  EXPECT_EQ(c->ExitCode(), 0) << log;
  EXPECT_NE(log.find("volo: fly 'spin': 4/4 done, 0 running, 0 failed"), std::string::npos) << log;
  EXPECT_NE(log.find("all spun\n"), std::string::npos) << log;
}

TEST_F(OutputTest, AFlyThatWaitsForAFreeSlotSaysSo) {
  PlannerProc p = StartPlanner();
  ASSERT_NE(p.port, 0);
  ASSERT_NE(FlyWorker(p, "w1"), nullptr);
  // The first program takes the fleet's only slot until the gate opens.
  std::string busy = Program("busy.fly", kSpinners, 1);
  Child* first = h_.Spawn("first", {"run", busy, "--env", "fleet=cluster:" + p.url});
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(PollUntil([&] { return NumAt(Status(p), "running") >= 1; }, seconds(60)))
      << ReadFile(first->log_path);
  std::string second_file = Program("second.fly", kSpinners, 3);
  Child* second = h_.Spawn("second", {"run", second_file, "--env", "fleet=cluster:" + p.url});
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(
      WaitForLog(*second, "volo: fly 'spin' is waiting for a free fly slot: the one fly slot at " +
                              p.url + " is busy with other work \\(3 instances queued\\)\n"))
      << ReadFile(second->log_path);
  OpenGate();
  ASSERT_TRUE(h_.WaitExit(*first, seconds(60)));
  ASSERT_TRUE(h_.WaitExit(*second, seconds(60)));
  EXPECT_EQ(first->ExitCode(), 0) << ReadFile(first->log_path);
  std::string log = ReadFile(second->log_path);
  EXPECT_EQ(second->ExitCode(), 0) << log;
  EXPECT_NE(log.find("all spun\n"), std::string::npos) << log;
}

}  // namespace
}  // namespace volo::itest
