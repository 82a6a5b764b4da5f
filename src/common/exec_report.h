// Whether a forked child's exec ran, told through a pipe: the child writes exec's errno to the
// write end when exec fails; the pipe is close-on-exec, so a successful exec closes it unwritten.
// The parent learns at once that the program is not there (or not executable) instead of
// seeing a child that exits 127. Used by `volo up`'s Spawn and the local provisioner.
//
//   int report[2];
//   pipe2(report, O_CLOEXEC);
//   pid_t pid = fork();
//   if (pid == 0) { ...; execv(...); ExecFailed(report[1]); }
//   if (pid < 0) { close both; ... }
//   if (int e = AwaitExec(report, pid)) -> exec failed with errno e (the child is reaped)
#pragma once

#include <sys/types.h>

namespace volo {

// In the child after exec returned: writes errno to `report_fd` and _exits 127. Only
// async-signal-safe calls.
[[noreturn]] void ExecFailed(int report_fd);

// In the parent after a fork that made `pid`: closes report[1], waits until the child's exec
// ran or failed and closes report[0]. 0 when it ran; else exec's errno, the child reaped.
int AwaitExec(const int report[2], pid_t pid);

}  // namespace volo
