// The warm sandbox (zygote): one bubblewrap sandbox kept running per (bundle, sandbox settings),
// whose init is `volo __zygote`; each command is forked inside it rather than paying for a new
// bwrap (about 12 ms) per command.
//
// Inside the sandbox the zygote waits on a control socket (fd 3). For each command the worker
// sends a request (ZygoteRequest, in a memory file) with the command's stdin, stdout and stderr
// and a socket of its own for this command. The zygote clone3()s a *task init* into fresh PID,
// mount and IPC namespaces (and network, when the zygote has no network), whose mount
// namespace shows only what the command may see:
//   a private /tmp, /dev/shm and /dev/pts; /proc of its own PID namespace; its task directory,
//   bound at its real path over an empty directory (the worker's work directory, bound into
//   the zygote, stays hidden with every other task's directory); its bundle read-only.
// The task init reports "ready" on the command's socket, waits for "go" (the worker first moves
// it into the command's cgroup, limits.h), sets the command's rlimits, forks the command with
// every capability dropped and no_new_privs set, and reaps. When the command's main process
// ends it kills the rest of its PID namespace, reaps it, and sends the exit status with the
// tree's CPU time and peak memory. The worker signals the tree through that socket (the task
// init stops, signals and continues every process of its namespace at once) and kills it by
// SIGKILL to the task init's pidfd, which the kernel turns into the end of the whole namespace.
//
// A task cannot see or signal another task's processes (separate PID namespaces), nor read
// another's directory, /tmp or shared memory (separate mount and IPC namespaces).
// docs/security.md, "The warm sandbox", has the threat model.
//
// Threading: Zygote::Spawn may be called from several threads at once; a Launched from it is
// owned by one thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "worker/launcher.h"
#include "worker/limits.h"

namespace volo::worker {

// Where the zygote's own binary (the worker's) is inside the sandbox; a request whose argv[0]
// is this path runs the worker's binary (LaunchSpec::own_binary).
inline constexpr const char* kZygoteProgram = "/run/volo/zygote";

// A helper of the volo binary (`volo __fn-fly`) that the zygote runs in a fork of itself rather
// than by exec, when a request runs it from the zygote's own binary (argv[0] kZygoteProgram,
// argv[1] `name`): the program is the same, already loaded, linked and initialised, so the
// command starts without the exec, the dynamic linker and the static initialisers of a large
// binary (several milliseconds of CPU). Everything else is as for an exec'd command: the same
// namespaces, mounts, cgroup and rlimits, stdio, session, working directory, no capabilities,
// no_new_privs, signal dispositions reset, exactly the request's environment. The difference:
// the process shares the zygote's address-space layout (ASLR is per zygote, not per command),
// as Android's zygote does; the zygote holds no other command's data (requests are read by
// each task init after it is cloned).
struct ZygoteBuiltin {
  std::string_view name;
  int (*main)(int argc, char** argv);
};

// The `volo __zygote` entry point, run by bwrap as the sandbox's program (argv[1] ==
// kZygoteCommand). Returns when the worker closes the control socket.
inline constexpr std::string_view kZygoteCommand = "__zygote";
int ZygoteMain(int argc, char** argv, std::vector<ZygoteBuiltin> builtins = {});

// One command for a zygote: what the task init needs to set up and start it.
struct ZygoteRequest {
  std::vector<std::string> argv;  // argv[0] looked up on the PATH in env when it has no '/'
  std::vector<std::string> env;   // the whole environment
  std::string cwd;                // absolute, inside task_dir or bundle_dir
  std::string task_dir;           // absolute, under the zygote's work directory
  std::string bundle_dir;         // absolute or empty
  int64_t rlimit_data = 0;        // RLIMIT_DATA in bytes; 0: unset
  int64_t rlimit_nproc = 0;       // RLIMIT_NPROC; 0: unset
};
std::string EncodeZygoteRequest(const ZygoteRequest& r);
// InvalidArgument for a truncated or malformed request.
Result<ZygoteRequest> DecodeZygoteRequest(std::string_view data);

// One warm sandbox, seen from the worker. Destroying it ends the sandbox (its running commands
// with it: keep it alive while a Launched of it runs, as Spawn's Launched does).
class Zygote : public std::enable_shared_from_this<Zygote> {
 public:
  // Starts `bwrap_argv` (bwrap, its flags, then the zygote program and arguments; the control
  // socket becomes the sandbox's fd 3) and waits until the zygote says it is up.
  // Unavailable, with bwrap's own words, when it does not come up.
  static Result<std::shared_ptr<Zygote>> Start(const std::vector<std::string>& bwrap_argv);
  ~Zygote();
  Zygote(const Zygote&) = delete;
  Zygote& operator=(const Zygote&) = delete;

  // Starts one command. Its stdio descriptors are dup'd into it (the caller keeps its own).
  // `*limit` (may be null): the task init joins its cgroup before the command starts; the
  // Launched takes it on success (on failure it stays the caller's). Unavailable when the zygote
  // has died (start another); InvalidArgument or NotFound for a command that cannot start.
  // `*from_spare` (may be null) says whether a spare task init (below) took the command.
  Result<std::unique_ptr<Launched>> Spawn(const ZygoteRequest& request, int stdin_fd, int stdout_fd,
                                          int stderr_fd, std::unique_ptr<TaskLimit>* limit,
                                          bool* from_spare = nullptr);
  // Spare task inits: moving a process into a cgroup (TaskLimit::Join) waits for an RCU grace
  // period, several milliseconds and tens on a busy machine, which a command's start would
  // wait for. A spare is a task init started ahead of its command and moved into `limit`'s
  // cgroup meanwhile; the next Spawn whose limit has the same limits (CommandLimits) takes it,
  // sets it up as it would a new one (its namespaces are new, its mounts made for the command)
  // and lets the caller's own prepared limit go. One spare at most; Ok when there is one now.
  // Blocks for the cgroup move: call it from a thread no command waits for.
  Status PrepareSpare(std::unique_ptr<TaskLimit> limit);
  bool HasSpare() const;

  // Whether the sandbox still runs (no: its control socket hung up or bwrap ended).
  bool Alive() const;
  pid_t pid() const { return pid_; }  // bwrap's
  // Keeps a finished command's cgroups until its task init (pidfd) has ended too, then removes
  // them (Sweep, and the destructor); the command's report comes before the task init's end.
  void Bury(int pidfd, std::unique_ptr<TaskLimit> limit);
  void Sweep();
  std::chrono::steady_clock::time_point last_used() const;

 private:
  Zygote() = default;

  pid_t pid_ = -1;    // bwrap, our child
  int pidfd_ = -1;    // bwrap's
  int control_ = -1;  // SOCK_SEQPACKET to the zygote
  std::atomic<int64_t> last_used_ns_{0};
  struct Grave {
    int pidfd;
    std::unique_ptr<TaskLimit> limit;
  };
  std::mutex graves_mu_;
  std::vector<Grave> graves_;  // GUARDED_BY(graves_mu_)
  struct Spare {
    int task = -1, pidfd = -1;
    pid_t pid = -1;
    std::unique_ptr<TaskLimit> limit;
  };
  // Takes the spare when its limits are `want`'s (null: none).
  std::unique_ptr<Spare> TakeSpare(const TaskLimit& want);
  // Lets a spare go: its task init ends, its cgroup goes once it has.
  void DropSpare(std::unique_ptr<Spare> spare);
  mutable std::mutex spare_mu_;
  std::unique_ptr<Spare> spare_;  // GUARDED_BY(spare_mu_)
};

}  // namespace volo::worker
