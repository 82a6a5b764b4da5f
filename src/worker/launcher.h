// How a worker starts a user's command: the seam between the `exec` operation (command.h, which
// parses the task, prepares its directory, captures its output and reports its result), the
// limits a task asked for (limits.h: memory, processes, CPUs), and the sandbox that isolates it
// (sandbox.h: bubblewrap, with a warm zygote per bundle).
//
// A Launcher turns a LaunchSpec into a running process tree and reports how it ended. Two
// implementations: the direct one (`--sandbox none`: posix_spawn through src/exec, limits applied
// by a small shim that the worker re-executes before the user's program) and the bubblewrap one
// (`--sandbox bwrap`, in warm sandboxes: sandbox.h, zygote.h). Both kill the whole tree on
// Signal, grandchildren included.
//
// Threading: Launch may be called from any thread; a Launched is owned by one thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "exec/process.h"

namespace volo::worker {

// What a task may use; 0 means no limit of that kind.
struct CommandLimits {
  int64_t memory_bytes = 0;  // resident memory of the whole tree
  int max_processes = 0;     // processes and threads the tree may hold at once
  double cpus = 0;           // CPU share (cgroup cpu.max); not enforced with rlimits alone
  bool operator==(const CommandLimits&) const = default;
};

struct LaunchSpec {
  std::vector<std::string> argv;  // argv[0] looked up on PATH when it has no '/'
  std::vector<std::string> env;   // the whole environment, NAME=VALUE, already scrubbed
  std::string task_dir;           // absolute; the task's own writable directory
  std::string cwd;                // absolute; inside task_dir or bundle_dir
  std::string bundle_dir;         // absolute, read-only; empty without a bundle
  bool network = false;           // the sandbox keeps the host's network only when set
  // argv[0] is the worker's own binary (a `volo __...` helper such as a fly function's
  // instance): the launcher runs it where the launched process sees it (/proc/self/exe
  // directly; inside a sandbox the binary bound read-only at kSandboxedVolo).
  bool own_binary = false;
  CommandLimits limits;
  // Descriptors in the worker that become the child's 0, 1 and 2 (the Launcher dups them; the
  // caller still owns and closes them).
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;
};

// Where a sandboxed process finds the worker's own binary (LaunchSpec::own_binary).
inline constexpr const char* kSandboxedVolo = "/run/volo/volo";

// How a command ended, with what it used.
struct CommandExit {
  exec::ExitStatus status;
  double cpu_seconds = 0;        // user + system of the whole tree
  int64_t max_rss_bytes = 0;     // the largest resident set of any process in it
  bool memory_exceeded = false;  // killed for going over limits.memory_bytes
  // Why it ended when neither its exit status nor its memory says it ("killed: its sandbox
  // (zygote) ended while it ran"); empty otherwise.
  std::string error;
  // "exited with status 3", "killed by SIGSEGV", "exceeded its memory limit of 64 MiB", or
  // `error`.
  std::string Describe(const CommandLimits& limits) const;
};

class Launched {
 public:
  virtual ~Launched() = default;  // kills and reaps a tree still running
  // The tree's root as the worker sees it: the command itself, or bwrap, or (in a warm
  // sandbox, zygote.h) the command's task init.
  virtual pid_t pid() const = 0;
  // A descriptor (owned by the Launched) that polls readable once the command's main process
  // has ended, so a caller can wait for it, its output and its deadline in one poll(); Wait
  // then returns without blocking for long. The direct launcher gives a pidfd; a warm sandbox
  // the command's socket, on which its task init reports the end.
  virtual int exit_fd() const = 0;
  // Sends `sig` to every process of the tree, grandchildren included.
  virtual Status Signal(int sig) = 0;
  // Blocks until the command has ended and nothing of its tree is left running.
  virtual CommandExit Wait() = 0;
};

class Launcher {
 public:
  virtual ~Launcher() = default;
  virtual std::string name() const = 0;  // "none", "bwrap"
  // InvalidArgument for a bad spec; IoError/NotFound (naming the program) when it cannot start.
  virtual Result<std::unique_ptr<Launched>> Launch(const LaunchSpec& spec) = 0;
};

// The direct launcher (`--sandbox none`): the command runs as the worker's user, in its own
// process group, in spec.cwd with exactly spec.env. Signal reaches the group; Wait waits for
// the main process, then kills what is left of its group (a command's background children
// never outlive it) and reaps it with its resource usage. A process that leaves the group
// (setsid) escapes both: only a cgroup (limits.h) or the sandbox's PID namespace catches it.
// With `limits` (limits.h), a command with a memory or process limit (or `max_processes`, the
// worker's default for commands that set none) runs through the `volo __limit` shim in its
// own cgroup, which Signal and Wait also reach; memory_exceeded and the tree's peak memory come
// from it.
class Limits;
std::unique_ptr<Launcher> MakeDirectLauncher(std::shared_ptr<Limits> limits = nullptr,
                                             int max_processes = 0);

}  // namespace volo::worker
