// What the direct launcher (launcher.cc) and the one-bwrap-per-command launcher (sandbox.cc)
// share: a command whose main process is the worker's own child, reaped with its resource
// usage, with the leftovers of its cgroup (limits.h) killed and measured once it has ended.
//
// Threading: owned by one thread, like any Launched.
#pragma once

#include <sys/types.h>

#include <memory>

#include "worker/launcher.h"
#include "worker/limits.h"

namespace volo::worker {

class ChildLaunched : public Launched {
 public:
  // Owns `pidfd` (closed with it) and `limit` (may be null).
  ChildLaunched(pid_t pid, int pidfd, std::unique_ptr<TaskLimit> limit);
  // A derived class's destructor must call KillAndReap() first (its hooks are gone here).
  ~ChildLaunched() override;

  pid_t pid() const final { return pid_; }
  int exit_fd() const final { return pidfd_; }
  Status Signal(int sig) final;
  CommandExit Wait() final;

 protected:
  // Sends `sig` to the whole tree (the cgroup too, through limit()).
  virtual Status SignalTree(int sig) = 0;
  // Once the main process has ended, before it is reaped (its pid still names it).
  virtual void BeforeReap() {}
  // Adjusts what the reaped status says (bwrap reports a signal as 128 + N).
  virtual void AfterReap(CommandExit&) {}
  void KillAndReap();
  TaskLimit* limit() const { return limit_.get(); }

 private:
  pid_t pid_;
  int pidfd_;
  std::unique_ptr<TaskLimit> limit_;  // null: no limits asked for, or none enforceable
  bool reaped_ = false;
  CommandExit exit_;
};

}  // namespace volo::worker
