#include "common/exec_report.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace volo {
namespace {

// Forks a child that execs `path` (no arguments) and returns what AwaitExec says.
int StartAndAwait(const char* path, pid_t* pid) {
  int report[2];
  EXPECT_EQ(pipe2(report, O_CLOEXEC), 0);
  *pid = fork();
  if (*pid == 0) {
    char* const argv[] = {const_cast<char*>(path), nullptr};
    execv(path, argv);
    ExecFailed(report[1]);
  }
  EXPECT_GT(*pid, 0);
  return AwaitExec(report, *pid);
}

TEST(ExecReportTest, AProgramThatIsNotThereIsItsErrnoAndTheChildIsReaped) {
  pid_t pid = -1;
  EXPECT_EQ(StartAndAwait("/no/such/program", &pid), ENOENT);
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1);  // already reaped
  EXPECT_EQ(errno, ECHILD);
}

TEST(ExecReportTest, AProgramThatRanIsZeroAndLeftToItsParent) {
  pid_t pid = -1;
  EXPECT_EQ(StartAndAwait("/bin/true", &pid), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace volo
