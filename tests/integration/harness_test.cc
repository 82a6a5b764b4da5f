// The harness itself: process control and the in-test fake worker, checked without volo so a
// broken harness is not mistaken for a broken product.

#include "harness.h"

#include <signal.h>

#include <fstream>
#include <future>
#include <sstream>

#include "fakes.h"

namespace volo::itest {
namespace {

class HarnessTest : public VoloTest {};

TEST_F(HarnessTest, SpawnCapturesOutputExitCodeAndCleansEnvironment) {
  Child* child = h_.Spawn("sh",
                          {"-c",
                           "echo out; echo err >&2; echo \"port=${PORT-unset}\"; "
                           "echo \"x=$X\"; exit 3"},
                          {{"X", "42"}}, "/bin/sh");
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(h_.WaitExit(*child, seconds(10)));
  EXPECT_EQ(child->ExitCode(), 3);
  std::ifstream in(child->log_path);
  std::stringstream log;
  log << in.rdbuf();
  EXPECT_NE(log.str().find("out\n"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("err\n"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("port=unset"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("x=42"), std::string::npos) << log.str();
}

TEST_F(HarnessTest, KillEndsChildAndItsGroup) {
  const std::string pid_file = TempPath("grandchild.pid");
  Child* child =
      h_.Spawn("sh", {"-c", "sh -c 'echo $$ > " + pid_file + "; exec tail -f /dev/null' & wait"},
               {}, "/bin/sh");
  ASSERT_NE(child, nullptr);
  pid_t grandchild = 0;
  ASSERT_TRUE(PollUntil(
      [&] {
        std::ifstream in(pid_file);
        return static_cast<bool>(in >> grandchild) && grandchild > 0;
      },
      seconds(10)));
  h_.Kill(*child);
  EXPECT_TRUE(child->exited);
  EXPECT_EQ(child->ExitCode(), -SIGKILL);
  // The grandchild was in the child's process group: gone too (reaped by init).
  EXPECT_TRUE(PollUntil([&] { return kill(grandchild, 0) != 0; }, seconds(10)));
}

TEST_F(HarnessTest, PollUntilHonoursDeadline) {
  int calls = 0;
  EXPECT_FALSE(PollUntil([&] { return ++calls < 0; }, milliseconds(100), milliseconds(10)));
  EXPECT_GE(calls, 2);
  EXPECT_TRUE(PollUntil([] { return true; }, milliseconds(0)));
}

TEST_F(HarnessTest, FakeWorkerAnswersLikeTheSeedWorker) {
  FakeHttpWorker fake({.delay = milliseconds(300)});
  ASSERT_TRUE(fake.listening());
  auto first = std::async(std::launch::async,
                          [&] { return Post(fake.url() + "/add", R"({"a": 2, "b": 3})"); });
  ASSERT_TRUE(PollUntil([&] { return fake.requests() >= 1; }, seconds(10)));
  const Reply busy = Post(fake.url() + "/mult", R"({"a": 2, "b": 3})");
  EXPECT_EQ(busy.status, 403) << busy.Describe();
  const Reply done = first.get();
  EXPECT_EQ(done.status, 200) << done.Describe();
  EXPECT_DOUBLE_EQ(NumAt(done.obj(), "res"), 5) << done.Describe();
  EXPECT_EQ(Post(fake.url() + "/div", "{}").status, 404);

  fake.Stop();
  const Reply refused = Post(fake.url() + "/add", R"({"a": 2, "b": 3})");
  EXPECT_EQ(refused.status, 0) << "a stopped fake worker still answers: " << refused.Describe();
}

}  // namespace
}  // namespace volo::itest
