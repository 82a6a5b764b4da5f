#include "common/exec_report.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace volo {

void ExecFailed(int report_fd) {
  const int e = errno;
  ssize_t ignored = write(report_fd, &e, sizeof e);
  (void)ignored;
  _exit(127);
}

int AwaitExec(const int report[2], pid_t pid) {
  close(report[1]);
  int exec_errno = 0;
  ssize_t n;
  do {
    n = read(report[0], &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n != static_cast<ssize_t>(sizeof exec_errno)) return 0;
  waitpid(pid, nullptr, 0);
  return exec_errno;
}

}  // namespace volo
