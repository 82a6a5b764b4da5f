// Limits on real processes, through the real `volo __limit` shim: a memory hog is killed at its
// limit (and only it), a fork bomb stops at the process limit, and nothing of a tree is left.
#include "worker/limits.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/poll_testing.h"
#include "exec/process.h"

namespace volo::worker {
namespace {

struct Ran {
  exec::ExitStatus status;
  std::string err;
};

// Runs `argv` under `limit` and waits for it (stderr captured).
Ran RunUnder(const TaskLimit& limit, const std::vector<std::string>& argv) {
  exec::SpawnOptions o;
  o.argv = limit.Wrap(argv);
  o.err = exec::Stdio::kPipe;
  auto p = exec::Spawn(o);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  Ran r;
  if (!p.ok()) return r;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(p->stderr_fd(), buf, sizeof buf)) > 0) r.err.append(buf, n);
  r.status = p->Wait();
  return r;
}

// Killed processes leave their cgroup when the kernel has finished with them.
bool WaitEmpty(const TaskLimit& limit) {
  return test_util::PollUntil([&limit] { return limit.Empty(); }, std::chrono::seconds(10));
}

std::unique_ptr<Limits> CgroupLimits() {
  auto l = Limits::Probe(VOLO_BINARY);
  return l->mode() == LimitMode::kRlimit ? nullptr : std::move(l);
}

TEST(LimitsTest, TheMachineHasCpusAndMemory) {
  MachineResources m = DetectMachine();
  EXPECT_GE(m.millicpus, 1);
  EXPECT_GE(m.memory_mib, 1);
}

TEST(LimitsTest, AMemoryHogIsKilledAtItsLimit) {
  auto limits = CgroupLimits();
  if (!limits) GTEST_SKIP() << "no writable cgroup here (rlimits only)";
  auto limit = limits->Prepare({.memory_bytes = 64 << 20, .max_processes = 0, .cpus = 0});
  ASSERT_TRUE(limit.ok()) << limit.status().ToString();
  // The shell keeps the whole 300 MB output of the pipe in memory.
  Ran r =
      RunUnder(**limit, {"sh", "-c", "x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo done"});
  EXPECT_FALSE(r.status.ok()) << r.err;
  CommandExit exit;
  exit.status = r.status;
  (*limit)->Collect(exit);
  EXPECT_TRUE(exit.memory_exceeded) << r.status.Describe() << " " << r.err;
  EXPECT_GE(exit.max_rss_bytes, 32 << 20);
  EXPECT_LE(exit.max_rss_bytes, (64 << 20) + (1 << 20));

  // The same command with room enough is not marked.
  auto roomy = limits->Prepare({.memory_bytes = 1 << 30, .max_processes = 0, .cpus = 0});
  ASSERT_TRUE(roomy.ok());
  Ran ok =
      RunUnder(**roomy, {"sh", "-c", "x=$(head -c 3000000 /dev/zero | tr '\\0' a); echo done"});
  EXPECT_TRUE(ok.status.ok()) << ok.err;
  CommandExit fine;
  fine.status = ok.status;
  (*roomy)->Collect(fine);
  EXPECT_FALSE(fine.memory_exceeded);
}

TEST(LimitsTest, AForkBombStopsAtTheProcessLimit) {
  auto limits = CgroupLimits();
  if (!limits) GTEST_SKIP() << "no writable cgroup here (rlimits only)";
  auto limit = limits->Prepare({.memory_bytes = 0, .max_processes = 16, .cpus = 0});
  ASSERT_TRUE(limit.ok()) << limit.status().ToString();
  // A bomb with a fuse: each process forks two more, for 10 generations (1023 at most, far
  // above the limit), and sleeps so that the tree is alive all at once.
  Ran r = RunUnder(**limit, {"sh", "-c",
                             "b() { [ $1 -gt 0 ] || { sleep 2; return; }; "
                             "b $(($1-1)) & b $(($1-1)) & wait; }; b 10; echo finished"});
  EXPECT_NE(r.err.find("fork"), std::string::npos) << "no fork failed: " << r.err;
  EXPECT_TRUE((*limit)->Signal(SIGKILL).ok());
  EXPECT_TRUE(WaitEmpty(**limit));
}

TEST(LimitsTest, SignalReachesProcessesThatLeftTheGroup) {
  auto limits = CgroupLimits();
  if (!limits) GTEST_SKIP() << "no writable cgroup here (rlimits only)";
  auto limit = limits->Prepare({.memory_bytes = 256 << 20, .max_processes = 64, .cpus = 0});
  ASSERT_TRUE(limit.ok());
  // setsid: a new session and process group, out of reach of a signal to the command's group.
  Ran r = RunUnder(**limit, {"sh", "-c", "setsid sleep 300 >/dev/null 2>&1 < /dev/null & exit 0"});
  EXPECT_TRUE(r.status.ok()) << r.err;
  EXPECT_FALSE((*limit)->Empty());  // the sleep lives on in the cgroup
  EXPECT_TRUE((*limit)->Signal(SIGKILL).ok());
  EXPECT_TRUE(WaitEmpty(**limit));
}

TEST(LimitsTest, ACpuQuotaHoldsTheTreeBack) {
  auto limits = CgroupLimits();
  if (!limits || !limits->enforces_cpus()) GTEST_SKIP() << "no writable cpu controller here";
  auto limit = limits->Prepare({.memory_bytes = 0, .max_processes = 0, .cpus = 0.05});
  ASSERT_TRUE(limit.ok()) << limit.status().ToString();
  // A busy loop that needs far more than 5 ms of CPU: the kernel must hold it back.
  Ran r = RunUnder(**limit, {"sh", "-c", "i=0; while [ $i -lt 50000 ]; do i=$((i+1)); done"});
  EXPECT_TRUE(r.status.ok()) << r.err;
  EXPECT_GT((*limit)->ThrottledPeriods(), 0);
  // Without a quota nothing is held back.
  auto free = limits->Prepare({.memory_bytes = 64 << 20, .max_processes = 0, .cpus = 0});
  ASSERT_TRUE(free.ok());
  EXPECT_EQ((*free)->ThrottledPeriods(), 0);
}

// A worker killed with SIGKILL leaves its cgroups behind; a later worker that gets the same pid
// must not fail its commands with "File exists" on the names it gives them (t1, t2, ...).
TEST(LimitsTest, CgroupsLeftByAnEarlierProcessOfThisPidAreCleared) {
  std::vector<std::string> bases;
  {
    auto first = CgroupLimits();
    if (!first) GTEST_SKIP() << "no writable cgroup here (rlimits only)";
    bases = first->BaseDirs();
  }
  // What the earlier process left: its base directories with a command's cgroup in each.
  for (const std::string& b : bases) {
    ASSERT_TRUE(::mkdir(b.c_str(), 0755) == 0 || errno == EEXIST) << b;
    ASSERT_EQ(::mkdir((b + "/t1").c_str(), 0755), 0) << b << ": " << strerror(errno);
  }
  auto limits = CgroupLimits();
  ASSERT_NE(limits, nullptr);
  auto limit = limits->Prepare({.memory_bytes = 64 << 20, .max_processes = 16, .cpus = 0.5});
  ASSERT_TRUE(limit.ok()) << limit.status().ToString();
  Ran r = RunUnder(**limit, {"/bin/true"});
  EXPECT_TRUE(r.status.ok()) << r.status.Describe() << " " << r.err;
}

TEST(LimitsTest, TheRlimitFallbackBoundsEachProcesssMemory) {
  auto limits = Limits::RlimitOnly(VOLO_BINARY);
  EXPECT_EQ(limits->mode(), LimitMode::kRlimit);
  auto limit = limits->Prepare({.memory_bytes = 64 << 20, .max_processes = 0, .cpus = 0});
  ASSERT_TRUE(limit.ok());
  // The shell's own allocation fails (not the kernel's OOM killer: how the program takes that
  // is up to it; dash crashes).
  Ran r =
      RunUnder(**limit, {"sh", "-c", "x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo done"});
  EXPECT_FALSE(r.status.ok()) << r.err;
}

TEST(LimitsTest, TheShimSaysWhatWentWrong) {
  auto limits = Limits::RlimitOnly(VOLO_BINARY);
  auto limit = limits->Prepare({});
  ASSERT_TRUE(limit.ok());
  Ran r = RunUnder(**limit, {"no-such-program-volo"});
  EXPECT_EQ(r.status.code, 127);
  EXPECT_NE(r.err.find("cannot start 'no-such-program-volo'"), std::string::npos) << r.err;
  EXPECT_FALSE(limits->Prepare({.memory_bytes = -1, .max_processes = 0, .cpus = 0}).ok());
}

}  // namespace
}  // namespace volo::worker
