// The bubblewrap Launcher (`volo worker --sandbox bwrap`): each command runs under bwrap(1) in
// new user, PID, IPC, UTS, cgroup and (unless the task or the worker allows the network)
// network namespaces, with every capability dropped, and sees only:
//   /usr (and the /bin, /lib... links or directories beside it) read-only; a short list of /etc
//   files programs need (the loader's cache, passwd, group, hosts, resolv.conf, TLS roots,
//   time zone); its bundle read-only; its own task directory writable; a private /tmp, /proc
//   of its own PID namespace and a minimal /dev.
// The worker's data directory, token files, other tasks' directories and the worker's
// environment are not there: the environment is exactly LaunchSpec::env, with HOME set to the
// task's directory. docs/security.md has
// the threat model.
//
// Paths inside are the same as outside (the bundle and task directory are mounted where they
// are on the worker), so a command's arguments and cwd need no translation.
//
// The whole tree lives in the sandbox's PID namespace: when the command's main process ends,
// bwrap ends and the kernel kills whatever the command left behind.
//
// Warm sandboxes (zygote.h, on by default): rather than one bwrap per command, the launcher
// keeps one bwrap sandbox per (work directory, bundle, network) running `volo __zygote`, and
// forks each command inside it in PID, mount, IPC and network namespaces of its own, with the
// same view as above. A zygote idle for `zygote_idle` is stopped; one that died is started
// again on the next command; one whose bundle is gone (removed from the cache, or unpacked
// anew) is not used again, and is stopped (with its bind of the old files) once no command
// runs in it. When a zygote cannot start, commands fall back to a bwrap each.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "worker/launcher.h"
#include "worker/limits.h"

namespace volo::worker {

// The process limit of a sandboxed command whose worker was given no --task-processes.
inline constexpr int kDefaultSandboxedProcesses = 4096;

struct SandboxOptions {
  std::string bwrap = "bwrap";  // the program, looked up on PATH without a '/'
  // More host directories to show read-only at the same path (say /opt for software installed
  // there), from the worker's --sandbox-ro-bind.
  std::vector<std::string> ro_binds;
  bool network = false;  // every task may use the host's network (else only tasks asking)
  // Task limits (limits.h): with them, a command that asks for memory or processes starts as
  // `volo __limit ... -- bwrap ...`, so the sandbox and all it runs are inside the task's
  // cgroup (or under its rlimits). Null: no limits.
  std::shared_ptr<Limits> limits;
  int max_processes = 0;  // for every command that does not ask; 0: none
  // Warm sandboxes (above); off: a bwrap per command.
  bool zygote = true;
  // The volo binary the zygote runs (bound read-only into the sandbox); "/proc/self/exe" is
  // this process's own.
  std::string zygote_program = "/proc/self/exe";
  std::chrono::milliseconds zygote_idle{60000};
};

struct SandboxStats {
  int64_t zygotes_started = 0;  // warm sandboxes started (restarts included)
  int64_t zygotes_running = 0;  // warm now
  int64_t warm_starts = 0;      // commands forked in a warm sandbox
  int64_t cold_starts = 0;      // commands that started a bwrap of their own
  int64_t spare_starts = 0;     // warm starts that took a spare task init (zygote.h)
};

// OK when bwrap is installed and can create the namespaces here (unprivileged user namespaces
// are allowed, or the worker runs as root); otherwise FailedPrecondition saying why.
Status CheckSandbox(const SandboxOptions& options);

// bwrap's argument list for one command (the program first, the command's argv last).
// InvalidArgument for a spec that cannot be sandboxed (relative paths, cwd outside the task
// directory and bundle, an empty argv).
Result<std::vector<std::string>> BwrapArgv(const SandboxOptions& options, const LaunchSpec& spec);

// The zygote's bwrap command line (program first, ending with the zygote program and its
// arguments) for commands with task directories in `work_dir`, with `bundle_dir` (may be
// empty) and the host's network or not.
std::vector<std::string> ZygoteArgv(const SandboxOptions& options, const std::string& work_dir,
                                    const std::string& bundle_dir, bool network);

// With warm sandboxes the launcher keeps a thread that stops idle ones; destroying it ends them.
std::unique_ptr<Launcher> MakeBwrapLauncher(SandboxOptions options);
// What a launcher from MakeBwrapLauncher has done (zeros for any other launcher).
SandboxStats BwrapStats(const Launcher& launcher);

}  // namespace volo::worker
