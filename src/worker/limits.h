// What a worker has to offer (MachineResources) and how it holds one command to its limits
// (Limits, TaskLimit, and the `volo __limit` shim).
//
// Enforcement, in the order a worker tries it when it starts (docs/architecture.md, "Limits"):
//  - cgroup v2: a cgroup per command under the worker's own, with memory.max (swap off),
//    memory.oom.group, pids.max and (where the cpu controller is delegated) cpu.max. The kernel
//    kills the whole tree when it goes over its memory, and memory.events says so; memory.peak is
//    the tree's peak.
//  - cgroup v1 (the memory and pids hierarchies, as in many container hosts): the same with
//    memory.limit_in_bytes (+ memsw), memory.oom_control and pids.max, and the cpu hierarchy's
//    cpu.cfs_quota_us where it is writable.
//  - rlimits otherwise: RLIMIT_DATA per process for memory (the program sees allocations fail
//    rather than being killed, and the limit is per process, not per tree) and RLIMIT_NPROC
//    for processes (counted per user, so the shim grants the user's current count plus the
//    limit; root is exempt from it). CPUs are not enforced. A weaker fallback, documented as
//    such.
//
// A command joins its cgroup before it runs anything: the launcher starts the worker's own
// binary as `volo __limit --cgroup DIR ... -- PROGRAM ARGS...`, which joins, sets rlimits and
// execs the program (so no child of the program can start outside the cgroup).
//
// Threading: Limits may be used from any thread; a TaskLimit is owned by one thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "worker/launcher.h"

namespace volo::worker {

// CPUs (in thousandths) and memory (MiB) this machine offers: the CPUs this process may run on,
// within its cgroup's CPU quota; the machine's memory, within its cgroup's memory limit.
struct MachineResources {
  int64_t millicpus = 0;
  int64_t memory_mib = 0;
};
MachineResources DetectMachine();

enum class LimitMode : uint8_t { kCgroupV2, kCgroupV1, kRlimit };
std::string_view LimitModeName(LimitMode m);  // "cgroup v2", "cgroup v1", "rlimits"

// The `volo __limit` entry point (argv[1] == kLimitShimCommand). Returns only when it could not
// run the program: 127 after a message on stderr.
inline constexpr std::string_view kLimitShimCommand = "__limit";
int LimitShimMain(int argc, char** argv);

// One command's limits, from before it starts until its tree is gone.
class TaskLimit {
 public:
  // Kills whatever is left in its cgroups and removes them.
  ~TaskLimit();
  TaskLimit(const TaskLimit&) = delete;
  TaskLimit& operator=(const TaskLimit&) = delete;

  // The command line that runs `argv` under these limits: the shim, its flags, then argv
  // (argv[0] is looked up on the PATH of the environment the shim is started with).
  std::vector<std::string> Wrap(const std::vector<std::string>& argv) const;
  // Moves process `pid` (and so all it starts from then on) into the command's cgroup(s): for
  // a launcher that starts the command itself (the zygote, zygote.h) rather than via Wrap.
  // Ok (and nothing) without a cgroup.
  Status Join(pid_t pid) const;
  // The rlimits the command's first process should set itself, without the shim (rlimit mode
  // only; 0 when there is none to set): RLIMIT_DATA in bytes, and RLIMIT_NPROC, which counts
  // the user's processes, as the user's current count plus the limit.
  int64_t RlimitData() const;
  int64_t RlimitNproc() const;
  // Sends `sig` to every process in the command's cgroup, also those that left its process
  // group. Ok (and nothing) without a cgroup.
  Status Signal(int sig);
  // Whether any process is left in the cgroup (false without one).
  bool Empty() const;
  // Once the command has ended: the tree's peak memory (from the cgroup, when there is one;
  // otherwise `exit` keeps what the launcher measured) and whether it was killed for going
  // over its memory.
  void Collect(CommandExit& exit) const;
  // How many CPU periods the tree was held back by its CPU quota (cpu.stat nr_throttled); 0
  // without a quota.
  int64_t ThrottledPeriods() const;
  const CommandLimits& limits() const { return limits_; }

 private:
  friend class Limits;
  TaskLimit() = default;

  CommandLimits limits_;
  LimitMode mode_ = LimitMode::kRlimit;
  std::string shim_;
  std::string memory_dir_;  // v2: the one cgroup; v1: the memory hierarchy's
  std::string pids_dir_;    // v1 only
  std::string cpu_dir_;     // v1 only, with a CPU quota
};

// What this worker can enforce, probed once at start.
class Limits {
 public:
  // Tries cgroup v2, then v1, then rlimits. `shim` is the volo binary to start as the shim
  // (default: this process's own).
  static std::unique_ptr<Limits> Probe(std::string shim = "/proc/self/exe");
  // Forces the rlimit fallback (tests, and `--limits rlimit`).
  static std::unique_ptr<Limits> RlimitOnly(std::string shim = "/proc/self/exe");
  ~Limits();  // removes the worker's cgroup directories (empty ones)

  LimitMode mode() const { return mode_; }
  // Whether a command's `cpus` becomes a CPU quota here (else CPUs are only counted).
  bool enforces_cpus() const { return cpu_v2_ || !cpu_base_.empty(); }
  // "cgroup v1 (memory: /sys/fs/cgroup/memory/..., pids: ...)" for the worker's log.
  std::string Describe() const;
  // Creates the command's cgroup(s) with the limits set. Limits of 0 are not set.
  Result<std::unique_ptr<TaskLimit>> Prepare(const CommandLimits& limits);
  // The directories under which Prepare makes commands' cgroups (none with rlimits).
  std::vector<std::string> BaseDirs() const;

 private:
  Limits() = default;
  bool TryV2();
  bool TryV1();

  LimitMode mode_ = LimitMode::kRlimit;
  std::string shim_;
  std::string memory_base_;  // the worker's directory for its commands' cgroups
  std::string pids_base_;    // v1 only
  std::string cpu_base_;     // v1 only: empty without a writable cpu hierarchy
  bool cpu_v2_ = false;      // v2: the cpu controller is enabled for commands' cgroups
  std::atomic<uint64_t> next_{1};
};

}  // namespace volo::worker
