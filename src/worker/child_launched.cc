#include "worker/child_launched.h"

#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace volo::worker {

ChildLaunched::ChildLaunched(pid_t pid, int pidfd, std::unique_ptr<TaskLimit> limit)
    : pid_(pid), pidfd_(pidfd), limit_(std::move(limit)) {}

ChildLaunched::~ChildLaunched() {
  if (pidfd_ >= 0) ::close(pidfd_);
}

void ChildLaunched::KillAndReap() {
  if (reaped_) return;
  (void)Signal(SIGKILL);
  (void)Wait();
}

Status ChildLaunched::Signal(int sig) {
  // Until the main process is reaped its pid (and group id) cannot be reused.
  if (reaped_) return Status::Ok();
  return SignalTree(sig);
}

CommandExit ChildLaunched::Wait() {
  if (reaped_) return exit_;
  BeforeReap();
  int st = 0;
  struct rusage ru {};
  pid_t r;
  do {
    r = ::wait4(pid_, &st, 0, &ru);
  } while (r < 0 && errno == EINTR);
  reaped_ = true;
  exit_.status = r == pid_ ? exec::ExitStatus::FromWait(st) : exec::ExitStatus{-1, 0};
  exit_.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                      static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  exit_.max_rss_bytes = static_cast<int64_t>(ru.ru_maxrss) * 1024;
  AfterReap(exit_);
  if (limit_) {
    // Whatever of the tree is left in its cgroup (it escaped the group) goes too; then the
    // cgroup says what the tree used and whether the kernel killed it for memory.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!limit_->Empty() && std::chrono::steady_clock::now() < deadline) {
      (void)limit_->Signal(SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    limit_->Collect(exit_);
  }
  return exit_;
}

}  // namespace volo::worker
