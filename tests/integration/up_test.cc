// `volo up`: its JSON document, its tables in natural order, output that arrives as it happens
// when piped, Ctrl-C's partial summary, and a fleet that never outlives it. Real planner and
// worker processes throughout.

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "harness.h"

namespace volo::itest {
namespace {

class UpTest : public VoloTest {};

// The processes whose parent is `parent` and that have not exited (zombies do not count).
std::vector<pid_t> LiveChildrenOf(pid_t parent) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    // /proc/PID/stat: "PID (COMM) STATE PPID ...", COMM may hold spaces and parentheses.
    const std::string stat = ReadFile(entry.path().string() + "/stat");
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    char state = 0;
    pid_t ppid = 0;
    if (rest >> state >> ppid && ppid == parent && state != 'Z') out.push_back(std::stoi(name));
  }
  return out;
}

bool Alive(pid_t pid) {
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

TEST_F(UpTest, JsonUsesTheRestApiNamesPlainDecimalsAndNaturalOrder) {
  const CommandResult r = h_.RunVolo({"up", "--workers", "2", "--add", "10", "--tasks", "12",
                                      "--duration-scale", "0.01", "--seed", "5", "--json"},
                                     {}, seconds(120));
  ASSERT_TRUE(r.finished);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json::value doc = ParseJson(r.out);
  ASSERT_TRUE(doc.is_object()) << r.out.substr(0, 2000);
  const json::object& o = doc.as_object();

  // Workers: add-1, add-2, ..., add-10, w-1, w-2 (digits compared as numbers).
  std::vector<std::string> ids;
  for (const auto& w : o.at("workers").as_array()) ids.push_back(Str(w.as_object(), "id"));
  std::vector<std::string> want;
  for (int i = 1; i <= 10; ++i) want.push_back("add-" + std::to_string(i));
  want.push_back("w-1");
  want.push_back("w-2");
  EXPECT_EQ(ids, want);

  const json::array& tasks = o.at("tasks").as_array();
  ASSERT_EQ(tasks.size(), 12u);
  for (const auto& tv : tasks) {
    const json::object& t = tv.as_object();
    ExpectDoneWithRightResult(t);
    for (const char* key : {"submitted", "started", "finished", "worker", "attempts"}) {
      EXPECT_TRUE(t.contains(key)) << "no '" << key << "' in " << json::serialize(t);
    }
    EXPECT_FALSE(t.contains("start") || t.contains("end")) << json::serialize(t);
    EXPECT_LE(NumAt(t, "submitted"), NumAt(t, "started")) << json::serialize(t);
    EXPECT_LE(NumAt(t, "started"), NumAt(t, "finished")) << json::serialize(t);
  }
  EXPECT_GT(NumAt(o, "makespan"), 0);
  EXPECT_GT(NumAt(o, "lower_bound"), 0);
  EXPECT_EQ(NumAt(o, "failed"), 0);
  // Unix times near 1.7e9 printed by a default JSON writer come out as 1.7E9.
  EXPECT_FALSE(std::regex_search(r.out, std::regex("[0-9][eE][-+]?[0-9]")))
      << "a number with an exponent: " << r.out.substr(0, 2000);
}

TEST_F(UpTest, WorkerTableIsInNaturalOrder) {
  const CommandResult r = h_.RunVolo({"up", "--workers", "1", "--add", "10", "--tasks", "3",
                                      "--duration-scale", "0.01", "--seed", "3"},
                                     {}, seconds(120));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  size_t last = 0;
  std::vector<std::string> rows;
  for (int i = 1; i <= 10; ++i) rows.push_back("\nadd-" + std::to_string(i) + " ");
  rows.push_back("\nw-1 ");
  for (const auto& row : rows) {
    const size_t at = r.out.find(row);
    ASSERT_NE(at, std::string::npos) << "no row" << row << ":\n" << r.out;
    EXPECT_GT(at, last) << row << " out of order:\n" << r.out;
    last = at;
  }
  EXPECT_NE(r.out.find("with 11 workers (1 general, 0 mult, 10 add)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 tasks: 3 done, 0 failed"), std::string::npos) << r.out;
}

// Piped into a file, `volo up` shows the planner's URL and its progress while the tasks run,
// not at exit; Ctrl-C stops the fleet and prints what it has so far.
TEST_F(UpTest, PipedOutputArrivesAsItHappensAndCtrlCPrintsThePartialSummary) {
  // One worker, 12 tasks of at least 0.6 s each: the run lasts well over 7 s.
  Child* up = h_.Spawn(
      "up", {"up", "--workers", "1", "--tasks", "12", "--duration-scale", "0.2", "--seed", "11"});
  ASSERT_NE(up, nullptr);
  const std::regex url("planner at http://127\\.0\\.0\\.1:[0-9]+ with 1 worker ");
  const std::regex progress("volo up: [0-9]+/12 done, [0-9]+ running, 0 failed, [0-9]+s elapsed");
  ASSERT_TRUE(PollUntil(
      [&] {
        const std::string log = ReadFile(up->log_path);
        return std::regex_search(log, url) && std::regex_search(log, progress);
      },
      seconds(60)))
      << ReadFile(up->log_path);
  EXPECT_FALSE(h_.Reap(*up)) << "volo up had already finished; nothing shows the output came "
                                "before the end:\n"
                             << ReadFile(up->log_path);
  EXPECT_EQ(ReadFile(up->log_path).find("\x1b["), std::string::npos) << "terminal codes in a file";

  h_.Signal(*up, SIGINT);
  ASSERT_TRUE(h_.WaitExit(*up, seconds(60))) << ReadFile(up->log_path);
  EXPECT_EQ(up->ExitCode(), 130);
  const std::string log = ReadFile(up->log_path);
  EXPECT_NE(log.find("interrupted; the summary so far"), std::string::npos) << log;
  EXPECT_TRUE(std::regex_search(log, std::regex("\nw-1 +add,mult +[0-9]+ ")))
      << "no worker table:\n"
      << log;
  EXPECT_TRUE(std::regex_search(log, std::regex("12 tasks: [0-9]+ done, 0 failed")))
      << "no summary line:\n"
      << log;
  // Everything it started is gone.
  EXPECT_TRUE(PollUntil([&] { return LiveChildrenOf(up->pid).empty(); }, seconds(20)));
}

// A fleet member that dies while the fleet starts is reported at once, with its log (not after
// a timeout, and not hidden by an empty log before it).
TEST_F(UpTest, AFleetMemberThatDiesAtStartIsReportedWithItsLog) {
  const CommandResult r = h_.RunVolo({"up", "--workers", "1", "--tasks", "3"},
                                     {{"VOLO_BIND", "256.1.1.1"}}, seconds(60));
  ASSERT_TRUE(r.finished) << "volo up waited on a planner that had exited\n" << r.err;
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("volo up: the planner exited before it listened"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("---- planner, ended"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("256.1.1.1"), std::string::npos) << "the planner's own error is not shown\n"
                                                        << r.err;
}

// `volo up` killed outright (SIGKILL, a crash, a CI timeout) cannot stop its fleet in order; its
// planner and workers still end instead of running on unowned.
TEST_F(UpTest, ItsPlannerAndWorkersEndWhenUpIsKilled) {
  Child* up = h_.Spawn("up", {"up", "--workers", "2", "--tasks", "20", "--duration-scale", "0.5"});
  ASSERT_NE(up, nullptr);
  std::vector<pid_t> fleet;
  ASSERT_TRUE(PollUntil(
      [&] {
        fleet = LiveChildrenOf(up->pid);
        return fleet.size() == 3;
      },
      seconds(60)))
      << fleet.size() << " children of volo up\n"
      << ReadFile(up->log_path);
  kill(up->pid, SIGKILL);  // volo up alone, not its process group
  ASSERT_TRUE(h_.WaitExit(*up, seconds(20)));
  const bool ended = PollUntil(
      [&] {
        for (pid_t pid : fleet)
          if (Alive(pid)) return false;
        return true;
      },
      seconds(30));
  for (pid_t pid : fleet) {
    if (Alive(pid)) {
      ADD_FAILURE() << "pid " << pid << " of volo up's fleet outlived it";
      kill(pid, SIGKILL);
    }
  }
  EXPECT_TRUE(ended);
}

}  // namespace
}  // namespace volo::itest
