// The bubblewrap launcher with real processes: what a sandboxed command can and cannot see,
// both through a warm sandbox (the zygote, the default) and with a bwrap per command.
#include "worker/sandbox.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "worker/bundle_archive.h"
#include "worker/temp_dir_testing.h"

namespace volo::worker {
namespace {

namespace fs = std::filesystem;

struct Ran {
  CommandExit exit;
  std::string out, err;
};

std::string Drain(int fd) {
  std::string s;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) s.append(buf, static_cast<size_t>(n));
  return s;
}

class SandboxTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    options_.zygote = GetParam();
    options_.zygote_program = VOLO_BINARY;
    Status s = CheckSandbox(options_);
    ASSERT_TRUE(s.ok()) << s.message();
    task_ = root_.path() + "/task";
    bundle_ = root_.path() + "/bundle";
    fs::create_directories(task_);
    fs::create_directories(bundle_);
    std::ofstream(bundle_ + "/code.sh") << "echo from the bundle\n";
    // What the worker keeps beside them and a task must never see.
    secret_ = root_.path() + "/join-token";
    std::ofstream(secret_) << "s3cret";
    launcher_ = MakeBwrapLauncher(options_);
  }

  void TearDown() override {
    // Each command went the way the test asked: all warm, or all cold.
    if (!launcher_) return;
    SandboxStats st = BwrapStats(*launcher_);
    if (GetParam()) {
      EXPECT_EQ(st.cold_starts, 0);
    } else {
      EXPECT_EQ(st.warm_starts, 0);
      EXPECT_EQ(st.zygotes_started, 0);
    }
  }

  LaunchSpec Spec(std::vector<std::string> argv) {
    LaunchSpec spec;
    spec.argv = std::move(argv);
    spec.env = {"PATH=/usr/bin:/bin", "HOME=/root", "VOLO_TASK=1"};
    spec.task_dir = task_;
    spec.cwd = task_;
    spec.bundle_dir = bundle_;
    return spec;
  }

  // Runs to the end; fails the test if the command is still running after a minute.
  Ran Run(LaunchSpec spec) {
    int out[2], err[2];
    EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(err, O_CLOEXEC), 0);
    spec.stdout_fd = out[1];
    spec.stderr_fd = err[1];
    auto l = launcher_->Launch(spec);
    ::close(out[1]);
    ::close(err[1]);
    Ran r;
    if (!l.ok()) {
      ADD_FAILURE() << l.status().message();
      ::close(out[0]);
      ::close(err[0]);
      return r;
    }
    r.out = Drain(out[0]);  // ends when every process of the sandbox has closed it
    r.err = Drain(err[0]);
    ::close(out[0]);
    ::close(err[0]);
    r.exit = (*l)->Wait();
    return r;
  }

  Ran Shell(const std::string& script) { return Run(Spec({"/bin/sh", "-c", script})); }

  TempDir root_{"volo-sandbox"};
  std::string task_, bundle_, secret_;
  SandboxOptions options_;
  std::unique_ptr<Launcher> launcher_;
};

TEST_P(SandboxTest, RunsAndReportsHowItEnded) {
  Ran r = Shell("cat " + bundle_ + "/code.sh; pwd; echo oops >&2; exit 3");
  EXPECT_EQ(r.out, "echo from the bundle\n" + task_ + "\n");
  EXPECT_EQ(r.err, "oops\n");
  EXPECT_EQ(r.exit.status.code, 3);
  Ran k = Shell("kill -SEGV $$");
  EXPECT_EQ(k.exit.status.signal, SIGSEGV);
  Ran missing = Run(Spec({"no-such-program-here"}));
  EXPECT_NE(missing.exit.status.code, 0);
  EXPECT_NE(missing.err.find("no-such-program-here"), std::string::npos) << missing.err;
}

TEST_P(SandboxTest, SeesOnlyTheEnvironmentItIsGiven) {
  ::setenv("VOLO_WORKER_SECRET", "leak", 1);
  Ran r = Run(Spec({"/usr/bin/env"}));
  ::unsetenv("VOLO_WORKER_SECRET");
  // bwrap adds PWD (its --chdir); nothing else comes in.
  EXPECT_EQ(r.out, "PATH=/usr/bin:/bin\nVOLO_TASK=1\nHOME=" + task_ + "\nPWD=" + task_ + "\n");
}

TEST_P(SandboxTest, CannotReadOutsideItsBundleAndDirectory) {
  Ran r = Shell("cat " + secret_);
  EXPECT_NE(r.exit.status.code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("No such file"), std::string::npos) << r.err;
  // Nothing of the host's root, its other users or the worker's files beyond the short list.
  Ran ls = Shell(
      "ls /; ls /etc | wc -l; test -e /etc/shadow && echo shadow; test -e /root && "
      "echo root; test -e /work && echo work; true");
  EXPECT_EQ(ls.out.find("shadow"), std::string::npos) << ls.out;
  EXPECT_EQ(ls.out.find("root\n"), std::string::npos) << ls.out;
  EXPECT_EQ(ls.out.find("work\n"), std::string::npos) << ls.out;
}

TEST_P(SandboxTest, WritesOnlyItsOwnDirectory) {
  Ran r = Shell("echo made > out.txt && echo ok1; echo x > " + bundle_ +
                "/new 2>/dev/null || echo bundle-refused; echo x > /usr/volo-x 2>/dev/null || "
                "echo usr-refused; echo x > " +
                root_.path() +
                // The task directory's parents exist only on the sandbox's private /tmp.
                "/beside 2>/dev/null; echo x > /tmp/private && echo tmp-ok");
  EXPECT_EQ(r.out, "ok1\nbundle-refused\nusr-refused\ntmp-ok\n");
  EXPECT_TRUE(fs::exists(task_ + "/out.txt"));
  EXPECT_FALSE(fs::exists(bundle_ + "/new"));
  EXPECT_FALSE(fs::exists(root_.path() + "/beside"));
  EXPECT_FALSE(fs::exists("/tmp/private"));
}

TEST_P(SandboxTest, HasNoNetworkUnlessAllowed) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(s, 8), 0);
  socklen_t len = sizeof addr;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len);
  std::string port = std::to_string(ntohs(addr.sin_port));
  std::string connect = "/usr/bin/bash -c 'echo hi > /dev/tcp/127.0.0.1/" + port +
                        "' 2>/dev/null && echo connected || echo refused";
  EXPECT_EQ(Shell(connect).out, "refused\n");
  LaunchSpec spec = Spec({"/bin/sh", "-c", connect});
  spec.network = true;
  EXPECT_EQ(Run(spec).out, "connected\n");
  ::close(s);
}

TEST_P(SandboxTest, SignalStopsTheWholeTree) {
  int out[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  LaunchSpec spec = Spec({"/bin/sh", "-c", "sleep 1000 & sleep 1000 & echo started; wait"});
  spec.stdout_fd = out[1];
  auto l = launcher_->Launch(spec);
  ::close(out[1]);
  ASSERT_TRUE(l.ok()) << l.status().message();
  char buf[16];
  ASSERT_GT(::read(out[0], buf, sizeof buf), 0);  // the grandchildren exist now
  ASSERT_TRUE((*l)->Signal(SIGTERM).ok());
  CommandExit e = (*l)->Wait();
  EXPECT_EQ(e.status.signal, SIGTERM);
  // Every process held the pipe's write end: end of file means none is left.
  EXPECT_EQ(::read(out[0], buf, sizeof buf), 0);
  ::close(out[0]);
}

TEST_P(SandboxTest, CommandsCannotSeeEachOthersProcessesOrFiles) {
  // A leaves a process, a file in /tmp, one in /dev/shm and one in its own directory.
  int out[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  LaunchSpec a = Spec({"/bin/sh", "-c",
                       "echo a > /tmp/a; echo a > /dev/shm/a; echo a > a-file; "
                       "sleep 1000 & echo started; wait"});
  a.stdout_fd = out[1];
  auto la = launcher_->Launch(a);
  ::close(out[1]);
  ASSERT_TRUE(la.ok()) << la.status().message();
  char buf[16];
  ASSERT_GT(::read(out[0], buf, sizeof buf), 0);
  // B runs beside it (in the same warm sandbox when there is one).
  const std::string task2 = root_.path() + "/task2";
  fs::create_directories(task2);
  LaunchSpec b =
      Spec({"/bin/sh", "-c",
            "test -e /tmp/a && echo tmp-seen; test -e /dev/shm/a && echo shm-seen; "
            "test -e " +
                task_ + "/a-file && echo dir-seen; cat /proc/[0-9]*/comm | grep -c '^sleep$'"});
  b.task_dir = task2;
  b.cwd = task2;
  Ran r = Run(b);
  EXPECT_EQ(r.out, "0\n") << r.err;
  ASSERT_TRUE((*la)->Signal(SIGKILL).ok());
  (*la)->Wait();
  ::close(out[0]);
  EXPECT_TRUE(fs::exists(task_ + "/a-file"));
}

TEST_P(SandboxTest, RefusesSpecsItCannotSandbox) {
  LaunchSpec spec = Spec({"/bin/true"});
  spec.cwd = "/etc";
  EXPECT_EQ(launcher_->Launch(spec).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(launcher_->Launch(Spec({})).status().code(), StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Sandbox, SandboxTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Warm" : "Cold"; });

}  // namespace
}  // namespace volo::worker
