// Workers on demand (docs/functions.md, "Workers on demand"): `volo planner --provision
// local:MAX` starts `volo worker` processes when tasks or function calls wait that no live
// worker can take, never more than MAX, replaces a killed one while work still waits, stops
// them when idle, and takes them all down when it stops. Bad --provision values are refused
// with the flag named.

#include <signal.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness.h"

namespace volo::itest {
namespace {

namespace fs = std::filesystem;

// The pids of the `volo worker` processes whose parent is `parent` (the planner).
std::vector<pid_t> WorkerChildren(pid_t parent) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 1));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid != parent) continue;
    std::ifstream cmd(e.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
    if (cmdline.find(std::string("worker") + '\0' + "--planner") != std::string::npos) {
      out.push_back(std::stoi(name));
    }
  }
  return out;
}

// Whether a process with this pid exists and is not a zombie.
bool Running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

class ProvisionTest : public VoloTest {
 protected:
  // A planner with `--provision local:MAX` and no worker, its workers with --sandbox none
  // unless `extra` says otherwise.
  void Start(int max, const std::string& idle, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--provision", "local:" + std::to_string(max),
                                     "--provision-idle", idle};
    if (std::find(extra.begin(), extra.end(), "--provision-sandbox") == extra.end()) {
      args.insert(args.end(), {"--provision-sandbox", "none"});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    planner_ = StartPlanner(args);
    ASSERT_NE(planner_.port, 0);
  }
  // Live workers the planner lists (id -> provisioned).
  std::map<std::string, bool> LiveWorkers() {
    std::map<std::string, bool> out;
    for (const auto& v : Workers(planner_)) {
      const json::object& w = v.as_object();
      if (Str(w, "state") != "gone") {
        const json::value* p = w.if_contains("provisioned");
        out[Str(w, "id")] = p && p->is_bool() && p->get_bool();
      }
    }
    return out;
  }
  double Metric(const std::string& line_start) {
    Reply r = Get(planner_.url + "/metrics");
    std::istringstream in(r.body);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind(line_start + " ", 0) == 0) return std::stod(line.substr(line_start.size()));
    }
    return NAN;
  }
  std::string PlannerLog() {
    std::ifstream f(planner_.child->log_path);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  }
  json::object Sleep(double seconds) {
    return json::object{{"op", "sleep"}, {"args", json::object{{"seconds", seconds}}}};
  }

  PlannerProc planner_;
};

TEST_F(ProvisionTest, TasksStartWorkersThatFinishThemAndStopWhenIdle) {
  Start(2, "1s");
  EXPECT_TRUE(LiveWorkers().empty());
  json::array tasks;
  for (int i = 0; i < 4; ++i) tasks.push_back(Sleep(0.2));
  std::vector<uint64_t> ids = SubmitMany(planner_, tasks);
  ASSERT_EQ(ids.size(), 4u);
  for (const json::object& t : WaitFinished(planner_, ids, seconds(60))) {
    EXPECT_EQ(Str(t, "state"), "done") << json::serialize(t);
  }
  // The workers that ran them were provisioned ones, shown as such.
  std::set<std::string> ran;
  for (uint64_t id : ids) ran.insert(Str(GetTask(planner_, id), "worker"));
  for (const std::string& w : ran) {
    EXPECT_EQ(w.rfind("prov-", 0), 0u) << w;
    std::optional<json::object> info = FindWorker(planner_, w);
    ASSERT_TRUE(info.has_value()) << w;
    EXPECT_TRUE(info->at("provisioned").as_bool()) << json::serialize(*info);
  }
  EXPECT_LE(Metric("volo_provision_workers_started_total"), 2);
  EXPECT_GE(Metric("volo_provision_workers_started_total"), 1);
  // Idle for 1 s: they stop, and the processes are reaped.
  ASSERT_TRUE(PollUntil([&] { return LiveWorkers().empty(); }, seconds(30)))
      << json::serialize(Workers(planner_));
  ASSERT_TRUE(PollUntil([&] { return WorkerChildren(planner_.child->pid).empty(); }, seconds(30)));
  ASSERT_TRUE(PollUntil(
      [&] {
        return Metric("volo_provision_workers_stopped_total{reason=\"idle\"}") ==
               Metric("volo_provision_workers_started_total");
      },
      seconds(10)));
  std::string log = PlannerLog();
  EXPECT_NE(log.find("provision: starting worker prov-1"), std::string::npos) << log;
  EXPECT_NE(log.find("queued task(s) of sleep"), std::string::npos) << log;
  EXPECT_NE(log.find("provision: stopping worker prov-1: idle for 1 s"), std::string::npos) << log;
  // Work that comes later starts a worker again.
  uint64_t again = Submit(planner_, Sleep(0));
  ASSERT_NE(again, 0u);
  EXPECT_EQ(Str(WaitFinished(planner_, {again}).at(0), "state"), "done");
}

TEST_F(ProvisionTest, HandStartedWorkersAreUsedFirstAndNeverStopped) {
  Start(2, "500ms");
  Child* w = StartWorker(planner_, {.id = "hand", .args = {"--ops", "echo,sleep"}});
  ASSERT_NE(w, nullptr);
  uint64_t id = Submit(planner_, Sleep(0));
  EXPECT_EQ(Str(WaitFinished(planner_, {id}).at(0), "worker"), "hand");
  // An operation `hand` does not offer starts a worker for it, which idles out (by then
  // `hand` has been idle longer than --provision-idle too).
  uint64_t noop = Submit(planner_, json::object{{"op", "noop"}});
  EXPECT_EQ(Str(WaitFinished(planner_, {noop}).at(0), "worker"), "prov-1");
  ASSERT_TRUE(PollUntil(
      [&] { return PlannerLog().find("stopping worker prov-1: idle") != std::string::npos; },
      seconds(30)));
  std::optional<json::object> hand = FindWorker(planner_, "hand");
  ASSERT_TRUE(hand.has_value());
  EXPECT_FALSE(hand->at("provisioned").as_bool());
  EXPECT_EQ(Str(*hand, "state"), "live");
  uint64_t later = Submit(planner_, Sleep(0));
  EXPECT_EQ(Str(WaitFinished(planner_, {later}).at(0), "worker"), "hand");
  EXPECT_EQ(Metric("volo_provision_workers_started_total"), 1);
  EXPECT_FALSE(h_.Reap(*w));
}

TEST_F(ProvisionTest, MaxIsRespectedUnderABurst) {
  Start(2, "1s");
  json::array tasks;
  for (int i = 0; i < 40; ++i) tasks.push_back(Sleep(0.05));
  std::vector<uint64_t> ids = SubmitMany(planner_, tasks);
  ASSERT_EQ(ids.size(), 40u);
  size_t most = 0;
  std::set<std::string> seen;
  ASSERT_TRUE(PollUntil(
      [&] {
        most = std::max(most, WorkerChildren(planner_.child->pid).size());
        for (const auto& [id, prov] : LiveWorkers()) seen.insert(id);
        return Status(planner_).at("done").as_int64() == 40;
      },
      seconds(120)));
  EXPECT_LE(most, 2u);
  EXPECT_GE(most, 1u);
  EXPECT_LE(seen.size(), 2u);
  EXPECT_EQ(Metric("volo_provision_workers_started_total"), seen.size());
}

TEST_F(ProvisionTest, AKilledWorkerIsReplacedWhileWorkWaits) {
  Start(1, "30s");
  json::array tasks;
  for (int i = 0; i < 4; ++i) tasks.push_back(Sleep(0.5));
  std::vector<uint64_t> ids = SubmitMany(planner_, tasks);
  ASSERT_EQ(ids.size(), 4u);
  // prov-1 runs the first task: kill it.
  ASSERT_TRUE(
      PollUntil([&] { return Str(GetTask(planner_, ids[0]), "state") == "running"; }, seconds(30)));
  std::vector<pid_t> pids = WorkerChildren(planner_.child->pid);
  ASSERT_EQ(pids.size(), 1u);
  kill(pids[0], SIGKILL);
  // A new one takes its place and every task finishes.
  for (const json::object& t : WaitFinished(planner_, ids, seconds(60))) {
    EXPECT_EQ(Str(t, "state"), "done") << json::serialize(t);
  }
  // The replacement takes the lowest free id: the dead one's.
  EXPECT_EQ(Str(GetTask(planner_, ids.back()), "worker"), "prov-1");
  EXPECT_EQ(Metric("volo_provision_workers_ended_total"), 1);
  EXPECT_EQ(Metric("volo_provision_workers_started_total"), 2);
  EXPECT_FALSE(Running(pids[0]));  // reaped by the planner
  EXPECT_NE(PlannerLog().find("provision: worker prov-1 ended on its own: killed by SIGKILL"),
            std::string::npos);
}

TEST_F(ProvisionTest, ADeadWorkerIsNotReplacedWhenNothingWaits) {
  Start(1, "30s");
  uint64_t id = Submit(planner_, Sleep(0));
  EXPECT_EQ(Str(WaitFinished(planner_, {id}).at(0), "state"), "done");
  std::vector<pid_t> pids = WorkerChildren(planner_.child->pid);
  ASSERT_EQ(pids.size(), 1u);
  kill(pids[0], SIGKILL);
  ASSERT_TRUE(
      PollUntil([&] { return Metric("volo_provision_workers_ended_total") == 1; }, seconds(20)));
  ASSERT_TRUE(PollUntil([&] { return LiveWorkers().empty(); }, seconds(20)));
  // The planner has seen it go and nothing waits: no new one (its state settles within a tick).
  EXPECT_EQ(Metric("volo_provision_workers_started_total"), 1);
  EXPECT_TRUE(WorkerChildren(planner_.child->pid).empty());
}

TEST_F(ProvisionTest, AFunctionCallOnAnEmptyFleetIsAnswered) {
  Start(1, "1s", {"--provision-sandbox", "bwrap"});
  Reply put = Http("PUT", planner_.Api("/functions/upper"), R"({"cmd":["tr","a-z","A-Z"]})");
  ASSERT_TRUE(put.status == 200 || put.status == 201) << put.Describe();
  auto t0 = std::chrono::steady_clock::now();
  Reply r = Post(planner_.url + "/fn/upper", "hello", seconds(60));
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.status, 200) << r.Describe();
  EXPECT_EQ(r.body, "HELLO");
  std::cout << "[ provision ] cold call on an empty fleet answered in " << ms << " ms\n";
  std::map<std::string, bool> live = LiveWorkers();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_TRUE(live.begin()->second);
  // Warm now: the same worker answers; once its instance idles out (--idle) the worker does too.
  Reply warm = Post(planner_.url + "/fn/upper", "again");
  EXPECT_EQ(warm.body, "AGAIN");
  EXPECT_EQ(Metric("volo_provision_workers_started_total"), 1);
}

TEST_F(ProvisionTest, PlannerShutdownLeavesNoWorkerProcess) {
  Start(2, "60s");
  json::array tasks;
  for (int i = 0; i < 2; ++i) tasks.push_back(Sleep(30));
  ASSERT_EQ(SubmitMany(planner_, tasks).size(), 2u);
  std::vector<pid_t> pids;
  ASSERT_TRUE(PollUntil(
      [&] {
        pids = WorkerChildren(planner_.child->pid);
        return pids.size() == 2 && Status(planner_).at("running").as_int64() == 2;
      },
      seconds(30)));
  h_.Signal(*planner_.child, SIGTERM);
  ASSERT_TRUE(h_.WaitExit(*planner_.child, seconds(30)));
  for (pid_t pid : pids) EXPECT_FALSE(Running(pid)) << pid;
  EXPECT_NE(PlannerLog().find("provision: stopping 2 provisioned worker(s)"), std::string::npos);
}

TEST_F(ProvisionTest, BadValuesAreRefusedNamingTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {{"--provision", "foo:3"}, "--provision foo:3: unknown backend 'foo'"},
           {{"--provision", "local:0"}, "--provision local:0: MAX must be a whole number"},
           {{"--provision", "local:-1"}, "--provision local:-1: MAX must be a whole number"},
           {{"--provision", "local"}, "--provision local: expected BACKEND:MAX"},
           {{"--provision", "local:2", "--provision-idle", "soon"}, "--provision-idle 'soon'"},
       }) {
    std::vector<std::string> args = {"planner", "--port", "0"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    CommandResult r = h_.RunVolo(args, {}, seconds(20));
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace volo::itest
