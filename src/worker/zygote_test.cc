// The warm sandbox (zygote) on real processes: its request format, a zygote killed under a
// running command, idle zygotes stopped, a bundle unpacked anew, and a thousand commands that
// leave no process and no directory behind.
#include "worker/zygote.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "common/poll_testing.h"
#include "worker/command.h"
#include "worker/limits.h"
#include "worker/sandbox.h"
#include "worker/temp_dir_testing.h"

namespace volo::worker {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Polls `cond` until it holds or 30 s pass.
template <typename F>
bool Eventually(F cond) {
  return test_util::PollUntil(cond, std::chrono::seconds(30));
}

std::string Drain(int fd) {
  std::string s;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) s.append(buf, static_cast<size_t>(n));
  return s;
}

// The parent of `pid`, from /proc.
pid_t ParentOf(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("PPid:", 0) == 0) return static_cast<pid_t>(std::atol(line.c_str() + 5));
  }
  return 0;
}

// Every live (not zombie) process descended from this one.
std::vector<pid_t> LiveDescendants() {
  std::vector<pid_t> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    pid_t pid = static_cast<pid_t>(std::atol(name.c_str()));
    std::ifstream f("/proc/" + name + "/stat");
    std::string stat;
    if (!std::getline(f, stat)) continue;
    size_t close = stat.rfind(')');
    if (close == std::string::npos || close + 2 >= stat.size() || stat[close + 2] == 'Z') continue;
    for (pid_t p = pid; p > 1; p = ParentOf(p)) {
      if (ParentOf(p) == ::getpid()) {
        out.push_back(pid);
        break;
      }
    }
  }
  return out;
}

// For failure messages: "pid cmdline" of each.
std::string Describe(const std::vector<pid_t>& pids) {
  std::string out;
  for (pid_t p : pids) {
    std::ifstream f("/proc/" + std::to_string(p) + "/cmdline");
    std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    out += std::to_string(p) + " " + cmd.substr(0, 120) + "\n";
  }
  return out;
}

TEST(ZygoteRequestTest, RoundTripsAndRefusesGarbage) {
  ZygoteRequest r;
  r.argv = {"prog", std::string("a\0b", 3), ""};
  r.env = {"PATH=/bin", "X=1"};
  r.cwd = "/w/t";
  r.task_dir = "/w/t";
  r.bundle_dir = "/b";
  r.rlimit_data = 1 << 20;
  r.rlimit_nproc = 7;
  std::string enc = EncodeZygoteRequest(r);
  auto back = DecodeZygoteRequest(enc);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->argv, r.argv);
  EXPECT_EQ(back->env, r.env);
  EXPECT_EQ(back->cwd, r.cwd);
  EXPECT_EQ(back->bundle_dir, r.bundle_dir);
  EXPECT_EQ(back->rlimit_data, r.rlimit_data);
  EXPECT_EQ(back->rlimit_nproc, r.rlimit_nproc);
  for (size_t cut : {size_t{0}, size_t{5}, enc.size() / 2, enc.size() - 1}) {
    EXPECT_FALSE(DecodeZygoteRequest(enc.substr(0, cut)).ok()) << cut;
  }
  EXPECT_FALSE(DecodeZygoteRequest(enc + "x").ok());
  std::string huge = enc;
  huge[0] = '\x7f';  // a list length far past the data
  EXPECT_FALSE(DecodeZygoteRequest(huge).ok());
}

class ZygoteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.zygote_program = VOLO_BINARY;
    Status s = CheckSandbox(options_);
    ASSERT_TRUE(s.ok()) << s.message();
    work_ = root_.path() + "/work";
    fs::create_directories(work_);
  }

  std::string NewTaskDir() {
    std::string dir = work_ + "/task-" + std::to_string(++tasks_);
    fs::create_directories(dir);
    return dir;
  }

  LaunchSpec Spec(const std::string& script) {
    LaunchSpec spec;
    spec.argv = {"/bin/sh", "-c", script};
    spec.env = {"PATH=/usr/bin:/bin"};
    spec.task_dir = NewTaskDir();
    spec.cwd = spec.task_dir;
    return spec;
  }

  // Runs to the end; stdout.
  std::string Run(Launcher& launcher, LaunchSpec spec, CommandExit* exit = nullptr) {
    int out[2];
    EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
    spec.stdout_fd = out[1];
    auto l = launcher.Launch(spec);
    ::close(out[1]);
    if (!l.ok()) {
      ::close(out[0]);
      ADD_FAILURE() << l.status().message();
      return "";
    }
    std::string s = Drain(out[0]);
    ::close(out[0]);
    CommandExit e = (*l)->Wait();
    if (exit) *exit = e;
    return s;
  }

  TempDir root_{"volo-zygote"};
  std::string work_;
  int tasks_ = 0;
  SandboxOptions options_;
};

TEST_F(ZygoteTest, AZygoteKilledMidCommandFailsItCleanlyAndTheNextGetsANewOne) {
  auto launcher = MakeBwrapLauncher(options_);
  EXPECT_EQ(Run(*launcher, Spec("echo warm")), "warm\n");
  int out[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  LaunchSpec spec = Spec("sleep 1000 & echo started; wait");
  spec.stdout_fd = out[1];
  auto l = launcher->Launch(spec);
  ::close(out[1]);
  ASSERT_TRUE(l.ok()) << l.status().message();
  char buf[16];
  ASSERT_GT(::read(out[0], buf, sizeof buf), 0);
  // The task init's parent is the zygote itself (`volo __zygote`, inside bwrap).
  pid_t zygote = ParentOf((*l)->pid());
  ASSERT_GT(zygote, 1);
  std::ifstream cmdline("/proc/" + std::to_string(zygote) + "/cmdline");
  std::string cmd((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
  ASSERT_NE(cmd.find("__zygote"), std::string::npos) << cmd;
  ASSERT_EQ(::kill(zygote, SIGKILL), 0);
  CommandExit e = (*l)->Wait();
  EXPECT_FALSE(e.status.ok());
  EXPECT_NE(e.Describe({}).find("zygote"), std::string::npos) << e.Describe({});
  // Nothing of it is left: end of file on its stdout means every process holding it is gone.
  EXPECT_EQ(::read(out[0], buf, sizeof buf), 0);
  ::close(out[0]);
  l->reset();
  // The next command gets a new zygote.
  EXPECT_EQ(Run(*launcher, Spec("echo again")), "again\n");
  SandboxStats st = BwrapStats(*launcher);
  EXPECT_EQ(st.zygotes_started, 2);
  EXPECT_EQ(st.cold_starts, 0);
}

TEST_F(ZygoteTest, AnIdleZygoteIsStoppedAndABusyOneIsNot) {
  options_.zygote_idle = std::chrono::milliseconds(100);
  auto launcher = MakeBwrapLauncher(options_);
  // Busy past the idle time: kept.
  EXPECT_EQ(Run(*launcher, Spec("sleep 0.5; echo done")), "done\n");
  EXPECT_EQ(BwrapStats(*launcher).zygotes_started, 1);
  // Idle: stopped, and its bwrap with it.
  ASSERT_TRUE(Eventually([&] { return BwrapStats(*launcher).zygotes_running == 0; }));
  EXPECT_TRUE(Eventually([] { return LiveDescendants().empty(); })) << Describe(LiveDescendants());
  EXPECT_EQ(Run(*launcher, Spec("echo back")), "back\n");
  EXPECT_EQ(BwrapStats(*launcher).zygotes_started, 2);
}

TEST_F(ZygoteTest, ABundleUnpackedAnewGetsANewZygote) {
  auto launcher = MakeBwrapLauncher(options_);
  const std::string bundle = root_.path() + "/bundles/b1";
  fs::create_directories(bundle);
  std::ofstream(bundle + "/v") << "one\n";
  LaunchSpec spec = Spec("cat $B/v");
  spec.bundle_dir = bundle;
  spec.env.push_back("B=" + bundle);
  EXPECT_EQ(Run(*launcher, spec), "one\n");
  spec.task_dir = spec.cwd = NewTaskDir();
  EXPECT_EQ(Run(*launcher, spec), "one\n");
  EXPECT_EQ(BwrapStats(*launcher).zygotes_started, 1);
  // Evicted and fetched again: the same path, another directory.
  RemoveTree(bundle);
  fs::create_directories(bundle);
  std::ofstream(bundle + "/v") << "two\n";
  spec.task_dir = spec.cwd = NewTaskDir();
  EXPECT_EQ(Run(*launcher, spec), "two\n");
  EXPECT_EQ(BwrapStats(*launcher).zygotes_started, 2);
  // The stale one (binding the old, deleted files) is stopped without waiting to be idle.
  EXPECT_TRUE(Eventually([&] { return BwrapStats(*launcher).zygotes_running == 1; }));
}

// A command's cgroup as its first line of output says (`pids:` in v1, `0::` in v2), and the
// host's path to it. Waits for the command's end.
std::string CgroupOf(const std::string& proc_self_cgroup) {
  std::istringstream in(proc_self_cgroup);
  for (std::string line; std::getline(in, line);) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string rest = line.substr(colon + 1);
    if (rest.rfind("pids:", 0) == 0) return "/sys/fs/cgroup/pids" + rest.substr(5);
    if (rest.rfind(":", 0) == 0) return "/sys/fs/cgroup" + rest.substr(1);
  }
  return "";
}

// Commands with limits: after the first, a spare task init is moved into a cgroup with the same
// limits ahead of time, and the next such command starts in it, with those limits in force
// from its start; a command with other limits starts as before, in a cgroup of its own.
TEST_F(ZygoteTest, ASpareTaskInitInItsCgroupTakesTheNextCommandWithTheSameLimits) {
  std::shared_ptr<Limits> limits = Limits::Probe(VOLO_BINARY);
  if (limits->mode() == LimitMode::kRlimit) GTEST_SKIP() << "no cgroups to limit commands with";
  options_.limits = limits;
  options_.max_processes = 40;
  auto launcher = MakeBwrapLauncher(options_);
  // Prints its cgroup, then waits for its stdin to close, so its cgroup can be looked at.
  auto run = [&](LaunchSpec spec, std::string* pids_max) {
    int out[2], in[2];
    EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(in, O_CLOEXEC), 0);
    spec.stdout_fd = out[1];
    spec.stdin_fd = in[0];
    auto l = launcher->Launch(spec);
    ::close(out[1]);
    ::close(in[0]);
    if (!l.ok()) {
      ::close(out[0]);
      ::close(in[1]);
      ADD_FAILURE() << l.status().message();
      return std::string();
    }
    std::string text;
    char buf[4096];
    while (text.find("end\n") == std::string::npos) {
      ssize_t n = ::read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      text.append(buf, static_cast<size_t>(n));
    }
    std::string dir = CgroupOf(text);
    *pids_max = "";
    std::ifstream f(dir + "/pids.max");
    std::getline(f, *pids_max);
    ::close(in[1]);
    Drain(out[0]);
    ::close(out[0]);
    EXPECT_TRUE((*l)->Wait().status.ok());
    return dir;
  };
  const std::string script = "cat /proc/self/cgroup; echo end; cat >/dev/null";
  std::string pids_max;
  std::string first = run(Spec(script), &pids_max);
  ASSERT_NE(first, "");
  EXPECT_EQ(pids_max, "41");  // the command's 40 and its task init
  EXPECT_EQ(BwrapStats(*launcher).spare_starts, 0);
  // The spare is made in the background: the next commands take it once it is there.
  std::set<std::string> seen = {first};
  ASSERT_TRUE(Eventually([&] {
    std::string dir = run(Spec(script), &pids_max);
    EXPECT_TRUE(seen.insert(dir).second) << dir << " twice";
    EXPECT_EQ(pids_max, "41") << dir;
    return BwrapStats(*launcher).spare_starts >= 1;
  }));
  const int64_t spares = BwrapStats(*launcher).spare_starts;
  // Other limits: a cgroup of its own, made for it.
  LaunchSpec other = Spec(script);
  other.limits.max_processes = 9;
  std::string dir = run(other, &pids_max);
  EXPECT_TRUE(seen.insert(dir).second) << dir;
  EXPECT_EQ(pids_max, "10");
  EXPECT_EQ(BwrapStats(*launcher).spare_starts, spares);
  launcher.reset();
  // The spare's task init and its cgroup go with the launcher.
  EXPECT_TRUE(Eventually([] { return LiveDescendants().empty(); })) << Describe(LiveDescendants());
}

TEST_F(ZygoteTest, AThousandCommandsLeaveNoProcessAndNoDirectoryBehind) {
  std::shared_ptr<Launcher> launcher = MakeBwrapLauncher(options_);
  CommandExecutorOptions co;
  co.slots = 2;
  co.work_dir = work_;
  co.launcher = launcher;
  std::mutex mu;
  std::condition_variable cv;
  int done = 0, ok = 0;
  std::string first_error;
  {
    auto exec = CommandExecutor::Create(co, nullptr);
    ASSERT_TRUE(exec.ok()) << exec.status().message();
    constexpr int kTasks = 1000;
    for (int i = 1; i <= kTasks; ++i) {
      // Each leaves a grandchild behind, and a file in its directory.
      (*exec)->Submit(static_cast<uint64_t>(i),
                      R"({"shell": "sleep 1000 & echo x > f; echo )" + std::to_string(i) + R"("})",
                      [&](CommandOutcome o) {
                        std::lock_guard lock(mu);
                        ++done;
                        if (o.ok) {
                          ++ok;
                        } else if (first_error.empty()) {
                          first_error = o.value;
                        }
                        cv.notify_all();
                      });
    }
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::minutes(5), [&] { return done == kTasks; }))
        << done << " of " << kTasks << " done";
    EXPECT_EQ(ok, kTasks) << first_error;
    // Only the warm sandbox runs now, bwrap and the zygote, once the last task inits have
    // finished leaving (a command is reported when its tree is reaped, a moment before).
    EXPECT_TRUE(Eventually([] { return LiveDescendants().size() <= 2; }))
        << Describe(LiveDescendants());
    EXPECT_EQ(BwrapStats(*launcher).warm_starts, kTasks);
  }
  EXPECT_TRUE(fs::is_empty(work_));
  co.launcher.reset();
  launcher.reset();
  EXPECT_TRUE(Eventually([] { return LiveDescendants().empty(); })) << Describe(LiveDescendants());
}

}  // namespace
}  // namespace volo::worker
