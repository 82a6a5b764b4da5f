// WatchProcess with real child processes (the direct launcher): output and its end, the
// deadline, SIGKILL after the grace when SIGTERM is ignored, a caller's stop past an output cap,
// a wake that asks for a kill, and output held open by a process that left the group.
#include "worker/process_watch.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "common/poll_testing.h"
#include "worker/temp_dir_testing.h"

namespace volo::worker {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A shell script started through the direct launcher, its stdout and stderr on pipes.
class Child {
 public:
  Child(const std::string& dir, const std::string& script) {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return;
    LaunchSpec spec;
    spec.argv = {"/bin/sh", "-c", script};
    spec.env = {"PATH=/usr/local/bin:/usr/bin:/bin"};
    spec.task_dir = dir;
    spec.cwd = dir;
    spec.stdout_fd = out[1];
    spec.stderr_fd = err[1];
    auto launched = MakeDirectLauncher()->Launch(spec);
    ::close(out[1]);
    ::close(err[1]);
    out_ = out[0];
    err_ = err[0];
    ::fcntl(out_, F_SETFL, O_NONBLOCK);
    ::fcntl(err_, F_SETFL, O_NONBLOCK);
    if (launched.ok()) proc_ = std::move(launched).value();
  }
  ~Child() {
    proc_.reset();
    for (int fd : {out_, err_}) {
      if (fd >= 0) ::close(fd);
    }
  }
  bool ok() const { return proc_ != nullptr; }
  Launched& proc() { return *proc_; }
  // Options reading both streams into out[0] and out[1], counting their ends.
  WatchOptions Options() {
    WatchOptions o;
    o.out_fd = out_;
    o.err_fd = err_;
    o.kill_grace = 200ms;
    o.on_output = [this](int s, std::string_view data) {
      if (data.empty()) {
        ++ends[s];
      } else {
        out[s].append(data);
      }
      return true;
    };
    return o;
  }
  std::string out[2];
  int ends[2] = {0, 0};

 private:
  std::unique_ptr<Launched> proc_;
  int out_ = -1, err_ = -1;
};

// The watch stopped the child, and `signal` ended it.
void ExpectStoppedBy(const WatchResult& r, int signal, bool timed_out) {
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.timed_out, timed_out);
  EXPECT_EQ(r.exit.status.signal, signal) << r.exit.status.Describe();
}

// The children that must not end by themselves block opening `never`, a FIFO no one ever opens
// for writing, until the watcher's signal ends them (no sleeping workload).
class ProcessWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::mkfifo((dir_.path() + "/never").c_str(), 0600), 0) << std::strerror(errno);
  }
  TempDir dir_{"volo-watch"};
};

TEST_F(ProcessWatchTest, ReadsBothStreamsToTheirEndsAndTheExit) {
  Child c(dir_.path(), "printf 'out\\n'; printf 'err\\n' >&2; head -c 300000 /dev/zero; exit 3");
  ASSERT_TRUE(c.ok());
  WatchResult r = WatchProcess(c.proc(), c.Options());
  EXPECT_EQ(r.exit.status.code, 3);
  EXPECT_FALSE(r.timed_out);
  EXPECT_FALSE(r.stopped);
  EXPECT_FALSE(r.held_open);
  EXPECT_EQ(c.out[0].size(), 4u + 300000u);
  EXPECT_EQ(c.out[0].substr(0, 4), "out\n");
  EXPECT_EQ(c.out[1], "err\n");
  EXPECT_EQ(c.ends[0], 1);
  EXPECT_EQ(c.ends[1], 1);
}

TEST_F(ProcessWatchTest, TheDeadlineSendsSigterm) {
  Child c(dir_.path(), "exec cat never");
  ASSERT_TRUE(c.ok());
  WatchOptions o = c.Options();
  o.deadline = Clock::now() + 100ms;
  WatchResult r = WatchProcess(c.proc(), o);
  ExpectStoppedBy(r, SIGTERM, /*timed_out=*/true);
}

TEST_F(ProcessWatchTest, SigkillFollowsTheGraceWhenSigtermIsIgnored) {
  // The stop is asked for only once the shell has said it ignores SIGTERM (its children
  // inherit that), so the grace's SIGKILL is what ends it.
  Child c(dir_.path(), "trap '' TERM; echo ready; read -r x < never");
  ASSERT_TRUE(c.ok());
  WatchOptions o = c.Options();
  o.check = [&] {
    return c.out[0].find("ready") != std::string::npos ? WatchRequest::kStop : WatchRequest::kNone;
  };
  WatchResult r = WatchProcess(c.proc(), o);
  ExpectStoppedBy(r, SIGKILL, /*timed_out=*/false);
}

TEST_F(ProcessWatchTest, OutputRefusedPastACapStopsTheChild) {
  Child c(dir_.path(), "exec yes");
  ASSERT_TRUE(c.ok());
  WatchOptions o = c.Options();
  constexpr size_t kCap = 1 << 20;
  size_t seen = 0, ends = 0;
  o.on_output = [&](int, std::string_view data) {
    if (data.empty()) ++ends;
    seen += data.size();
    return seen <= kCap;
  };
  WatchResult r = WatchProcess(c.proc(), o);
  ExpectStoppedBy(r, SIGTERM, /*timed_out=*/false);
  EXPECT_GT(seen, kCap);
  EXPECT_EQ(ends, 2u);
}

TEST_F(ProcessWatchTest, AWakeMakesItAskAndKill) {
  Child c(dir_.path(), "echo ready; exec cat never");
  ASSERT_TRUE(c.ok());
  int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_GE(wake, 0);
  std::atomic<bool> ready{false}, cancelled{false};
  WatchOptions o = c.Options();
  o.wake_fd = wake;
  // A safety net only: the wake must end it long before.
  o.deadline = Clock::now() + 60s;
  o.on_output = [&](int s, std::string_view data) {
    if (s == 0 && data.find("ready") != std::string_view::npos) ready = true;
    return true;
  };
  o.check = [&] { return cancelled ? WatchRequest::kKill : WatchRequest::kNone; };
  std::thread canceller([&] {
    if (!test_util::PollUntil([&] { return ready.load(); }, 30s)) return;
    cancelled = true;
    uint64_t one = 1;
    (void)!::write(wake, &one, sizeof one);
  });
  WatchResult r = WatchProcess(c.proc(), o);
  canceller.join();
  ::close(wake);
  EXPECT_TRUE(cancelled);
  ExpectStoppedBy(r, SIGKILL, /*timed_out=*/false);
}

TEST_F(ProcessWatchTest, OutputHeldOpenByAGrandchildIsDrainedThenLeft) {
  // The grandchild leaves the process group (setsid), so the main process's end does not take
  // it along; it keeps stdout open. The main process waits at a FIFO until the grandchild has
  // told its pid, prints it and exits.
  const std::string fifo = dir_.path() + "/gate";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  Child c(dir_.path(),
          "setsid sh -c 'echo $$ > gate; exec cat never' & read pid < gate; echo \"$pid\"; exit 0");
  ASSERT_TRUE(c.ok());
  WatchOptions o = c.Options();
  o.drain = 300ms;
  WatchResult r = WatchProcess(c.proc(), o);
  const pid_t grandchild = static_cast<pid_t>(std::atol(c.out[0].c_str()));
  if (grandchild > 0) ::kill(grandchild, SIGKILL);
  EXPECT_GT(grandchild, 0) << c.out[0];
  EXPECT_TRUE(r.exit.status.ok()) << r.exit.status.Describe();
  EXPECT_TRUE(r.held_open);
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(c.ends[0], 1);  // given up on, and said so
  EXPECT_EQ(c.ends[1], 1);
}

}  // namespace
}  // namespace volo::worker
