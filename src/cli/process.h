// Child processes for `volo up`: spawn with arguments and environment, signal, reap.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace volo::cli {

// Starts `argv[0]` with `argv`; stdout and stderr go to `log_path` (appended) unless empty. The
// child is in a process group of its own and gets SIGTERM when the calling thread ends (so the
// caller spawns from the thread that lives as long as the fleet: volo up's main thread).
Result<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& log_path);
// Sends `sig` to the process if it is still ours to signal.
void Signal(pid_t pid, int sig);
// Waits up to `seconds` for it to exit; returns true if it did (and was reaped).
bool WaitExit(pid_t pid, double seconds);
// The path of the running volo binary.
std::string SelfPath();

}  // namespace volo::cli
