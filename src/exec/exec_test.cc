#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "common/poll_testing.h"
#include "exec/frame.h"
#include "exec/process.h"
#include "exec/run.h"

namespace volo::exec {
namespace {

SpawnOptions Shell(const std::string& script) {
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", script};
  return o;
}

// True once `pid` no longer names a live process (gone, or a zombie nobody reaped yet); polls
// that condition until a 5 s deadline.
bool Gone(pid_t pid) {
  return test_util::PollUntil(
      [pid] {
        if (::kill(pid, 0) != 0) return true;
        std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
        std::string line;
        std::getline(stat, line);
        size_t paren = line.rfind(')');
        return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
      },
      std::chrono::seconds(5));
}

TEST(SignalName, NamesSignalsAsUsersKnowThem) {
  EXPECT_EQ(SignalName(SIGSEGV), "SIGSEGV");
  EXPECT_EQ(SignalName(SIGFPE), "SIGFPE");
  EXPECT_EQ(SignalName(SIGKILL), "SIGKILL");
  EXPECT_EQ(SignalName(200), "signal 200");
}

TEST(Process, ReportsExitStatusAndDeathBySignal) {
  auto ok = Spawn(Shell("exit 0"));
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_TRUE(ok->Wait().ok());

  auto three = Spawn(Shell("exit 3"));
  ASSERT_TRUE(three.ok());
  ExitStatus s = three->Wait();
  EXPECT_TRUE(s.exited());
  EXPECT_EQ(s.code, 3);
  EXPECT_EQ(s.Describe(), "exited with status 3");
  EXPECT_EQ(three->Wait().code, 3) << "a second Wait returns the same status";

  auto segv = Spawn(Shell("kill -SEGV $$"));
  ASSERT_TRUE(segv.ok());
  ExitStatus k = segv->Wait();
  EXPECT_EQ(k.signal, SIGSEGV);
  EXPECT_EQ(k.Describe(), "killed by SIGSEGV");
}

TEST(Process, AMissingProgramIsNotFound) {
  SpawnOptions o;
  o.argv = {"/nonexistent/program"};
  auto p = Spawn(o);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kNotFound);
  EXPECT_NE(p.status().message().find("/nonexistent/program"), std::string::npos);

  o.argv = {"no-such-program-anywhere"};
  o.search_path = true;
  EXPECT_FALSE(Spawn(o).ok());
  EXPECT_FALSE(Spawn(SpawnOptions{}).ok()) << "an empty argv";
}

TEST(Process, LeadsItsOwnGroupAndDiesWithItsOwner) {
  pid_t pid = -1;
  {
    SpawnOptions o;
    o.argv = {"sleep", "100"};
    o.search_path = true;
    auto p = Spawn(o);
    ASSERT_TRUE(p.ok()) << p.status().message();
    pid = p->pid();
    EXPECT_EQ(::getpgid(pid), pid);
    EXPECT_FALSE(p->TryWait().has_value());
  }
  EXPECT_TRUE(Gone(pid)) << "the destroyed Process left its child running";
}

TEST(Process, PassesMappedDescriptorsAndClosesTheRest) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  // A descriptor the child must not see: open without close-on-exec on purpose.
  int stray[2];
  ASSERT_EQ(::pipe(stray), 0);
  SpawnOptions o = Shell("echo hi >&3; if [ -e /proc/self/fd/" + std::to_string(stray[0]) +
                         " ]; then echo leaked >&3; fi");
  o.fds = {{sv[1], 3}};
  auto p = Spawn(o);
  ASSERT_TRUE(p.ok()) << p.status().message();
  ::close(sv[1]);
  EXPECT_TRUE(p->Wait().ok());
  std::string got;
  char buf[64];
  ssize_t n;
  while ((n = ::read(sv[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  EXPECT_EQ(got, "hi\n");
  ::close(sv[0]);
  ::close(stray[0]);
  ::close(stray[1]);
}

TEST(Run, CapturesOutputWithACap) {
  RunLimits limits;
  limits.max_output = 10;
  auto r = exec::Run(Shell("echo 0123456789abcdef; echo oops >&2; exit 2"), limits);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->out, "0123456789");
  EXPECT_TRUE(r->out_truncated);
  EXPECT_EQ(r->err, "oops\n");
  EXPECT_FALSE(r->err_truncated);
  EXPECT_EQ(r->status.code, 2);
  EXPECT_EQ(r->Describe(), "exited with status 2");
}

TEST(Run, ReadsEverythingAChattyCommandWrites) {
  // Far more than a pipe holds: Run must read while the command writes.
  auto r = exec::Run(Shell("head -c 1000000 /dev/zero"), RunLimits{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out.size(), 1000000u);
  EXPECT_TRUE(r->status.ok());
}

TEST(Run, ATimeoutKillsTheWholeTree) {
  RunLimits limits;
  limits.timeout = std::chrono::milliseconds(300);
  auto r = exec::Run(Shell("sleep 100 & echo $!; sleep 100"), limits);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->status.signal, SIGKILL);
  EXPECT_EQ(r->Describe(), "timed out");
  pid_t grandchild = std::atoi(r->out.c_str());
  ASSERT_GT(grandchild, 0) << r->out;
  EXPECT_TRUE(Gone(grandchild)) << "the command's child survived the timeout";
}

TEST(Run, WhatACommandLeavesBehindIsKilledWhenItEnds) {
  // The background sleep keeps stdout open; Run must not wait for it.
  auto r = exec::Run(Shell("sleep 100 & echo $!"), RunLimits{});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->timed_out);
  EXPECT_TRUE(r->status.ok()) << r->Describe();
  pid_t left = std::atoi(r->out.c_str());
  ASSERT_GT(left, 0) << r->out;
  EXPECT_TRUE(Gone(left));
}

TEST(Run, ACrashIsAResultNotAnError) {
  auto r = exec::Run(Shell("echo before; kill -FPE $$"), RunLimits{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "before\n");
  EXPECT_EQ(r->Describe(), "killed by SIGFPE");
}

TEST(Frame, FieldsTravelIntactAndEndOfFileIsUnavailable) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  std::string binary("a\0b\xff", 4);
  FrameWriter w;
  w.Add("run").Add(int64_t{-42}).Add(binary).Add("");
  ASSERT_TRUE(SendFrame(sv[0], w.payload()).ok());
  std::string big(3 << 20, 'x');  // more than a socket buffer: the reader runs concurrently
  std::thread writer([&] { EXPECT_TRUE(SendFrame(sv[0], FrameWriter().Add(big).payload()).ok()); });

  std::string payload;
  ASSERT_TRUE(ReceiveFrame(sv[1], &payload).ok());
  FrameReader r(payload);
  std::string_view f;
  int64_t n = 0;
  ASSERT_TRUE(r.Next(&f));
  EXPECT_EQ(f, "run");
  ASSERT_TRUE(r.NextInt(&n));
  EXPECT_EQ(n, -42);
  ASSERT_TRUE(r.Next(&f));
  EXPECT_EQ(f, binary);
  ASSERT_TRUE(r.Next(&f));
  EXPECT_EQ(f, "");
  EXPECT_FALSE(r.Next(&f));

  ASSERT_TRUE(ReceiveFrame(sv[1], &payload).ok());
  writer.join();
  FrameReader rb(payload);
  ASSERT_TRUE(rb.Next(&f));
  EXPECT_EQ(f.size(), big.size());

  ASSERT_TRUE(SendFrame(sv[0], std::string(100, 'y')).ok());
  EXPECT_EQ(ReceiveFrame(sv[1], &payload, 10).code(), StatusCode::kCorruption);
  char skip[100];
  ASSERT_EQ(::read(sv[1], skip, sizeof skip), 100);  // the refused frame's body

  ::close(sv[0]);
  Status eof = ReceiveFrame(sv[1], &payload);
  EXPECT_EQ(eof.code(), StatusCode::kUnavailable);
  EXPECT_EQ(SendFrame(sv[1], "x").code(), StatusCode::kUnavailable) << "no SIGPIPE, an error";
  ::close(sv[1]);
}

}  // namespace
}  // namespace volo::exec
