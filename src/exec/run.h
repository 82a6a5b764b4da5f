// Running a command to completion: its output captured up to a cap, a timeout that kills its
// whole process group, and whatever it left running in its group killed when it ends.
//
// Threading: Run blocks the calling thread (never call it on an event-loop thread); any number
// of threads may run commands at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "exec/process.h"

namespace volo::exec {

struct RunLimits {
  std::chrono::milliseconds timeout{0};  // 0: none
  // Bytes kept of each of stdout and stderr; the rest is read and dropped, so a chatty
  // command never blocks on a full pipe.
  size_t max_output = 1 << 20;
};

struct RunResult {
  ExitStatus status;
  std::string out, err;
  bool out_truncated = false, err_truncated = false;
  bool timed_out = false;  // the timeout killed it (status then says SIGKILL)
  // "exited with status 3", "killed by SIGSEGV", "timed out after 2 s".
  std::string Describe() const;
};

// Starts `options` with stdout and stderr captured (their settings there are ignored) and
// waits for it. Errors only when it cannot be started (see Spawn); a command that fails or
// crashes is a RunResult saying so.
Result<RunResult> Run(SpawnOptions options, const RunLimits& limits);

}  // namespace volo::exec
