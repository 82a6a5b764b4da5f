#include "worker/launcher.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "worker/child_launched.h"
#include "worker/limits.h"

namespace volo::worker {

std::string CommandExit::Describe(const CommandLimits& limits) const {
  if (memory_exceeded) {
    return "exceeded its memory limit of " + std::to_string(limits.memory_bytes >> 20) + " MiB";
  }
  if (!error.empty()) return error;
  return status.Describe();
}

namespace {

class DirectLaunched final : public ChildLaunched {
 public:
  using ChildLaunched::ChildLaunched;
  ~DirectLaunched() override { KillAndReap(); }

 private:
  Status SignalTree(int sig) override {
    // The cgroup holds processes that left the group (setsid) too.
    if (limit()) (void)limit()->Signal(sig);
    if (::kill(-pid(), sig) != 0 && errno != ESRCH) {
      return IoError("cannot signal process group " + std::to_string(pid()) + ": " +
                     strerrordesc_np(errno));
    }
    return Status::Ok();
  }

  void BeforeReap() override {
    // Wait for the leader without reaping it, so its group id stays ours while the rest of
    // the group is killed.
    siginfo_t info{};
    while (::waitid(P_PID, static_cast<id_t>(pid()), &info, WEXITED | WNOWAIT) != 0 &&
           errno == EINTR) {
    }
    (void)::kill(-pid(), SIGKILL);
  }
};

class DirectLauncher final : public Launcher {
 public:
  DirectLauncher(std::shared_ptr<Limits> limits, int max_processes)
      : limits_(std::move(limits)), max_processes_(max_processes) {}
  std::string name() const override { return "none"; }

  Result<std::unique_ptr<Launched>> Launch(const LaunchSpec& spec) override {
    if (spec.argv.empty() || spec.argv[0].empty()) return InvalidArgument("no program to run");
    exec::SpawnOptions o;
    o.argv = spec.argv;
    if (spec.own_binary) o.argv[0] = "/proc/self/exe";
    o.search_path = o.argv[0].find('/') == std::string::npos;
    o.env = spec.env;
    o.cwd = spec.cwd;
    auto stdio = [](int fd, exec::Stdio* how, int* into) {
      *how = fd >= 0 ? exec::Stdio::kFd : exec::Stdio::kNull;
      *into = fd;
    };
    stdio(spec.stdin_fd, &o.in, &o.in_fd);
    stdio(spec.stdout_fd, &o.out, &o.out_fd);
    stdio(spec.stderr_fd, &o.err, &o.err_fd);
    o.new_process_group = true;
    // posix_spawnp searches the worker's PATH; the command's own PATH is what it asked for.
    for (const auto& e : spec.env) {
      if (e.rfind("PATH=", 0) == 0 && o.search_path) {
        std::string found = Lookup(spec.argv[0], e.substr(5));
        if (found.empty()) {
          return NotFound("cannot start '" + spec.argv[0] + "': not found on PATH " + e.substr(5));
        }
        o.path = found;
        o.search_path = false;
      }
    }
    std::unique_ptr<TaskLimit> limit;
    CommandLimits want = spec.limits;
    if (want.max_processes == 0) want.max_processes = max_processes_;
    if (limits_ && (want.memory_bytes > 0 || want.max_processes > 0 || want.cpus > 0)) {
      // The shim joins the task's cgroup (or sets rlimits) and then execs the program.
      VOLO_ASSIGN_OR_RETURN(limit, limits_->Prepare(want));
      std::vector<std::string> argv = o.argv;
      if (!o.path.empty()) argv[0] = o.path;
      o.argv = limit->Wrap(argv);
      o.path.clear();
      o.search_path = false;
    }
    VOLO_ASSIGN_OR_RETURN(exec::Process p, exec::Spawn(o));
    const pid_t pid = p.Release();
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) {
      int err = errno;
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      return IoError(std::string("pidfd_open: ") + strerrordesc_np(err));
    }
    return std::unique_ptr<Launched>(
        std::make_unique<DirectLaunched>(pid, pidfd, std::move(limit)));
  }

 private:
  // The first executable `name` in the colon-separated `path`, or "".
  std::shared_ptr<Limits> limits_;
  int max_processes_;

  static std::string Lookup(const std::string& name, const std::string& path) {
    size_t start = 0;
    while (start <= path.size()) {
      size_t colon = path.find(':', start);
      if (colon == std::string::npos) colon = path.size();
      std::string dir = path.substr(start, colon - start);
      if (dir.empty()) dir = ".";
      std::string full = dir + "/" + name;
      if (::access(full.c_str(), X_OK) == 0) return full;
      start = colon + 1;
    }
    return "";
  }
};

}  // namespace

std::unique_ptr<Launcher> MakeDirectLauncher(std::shared_ptr<Limits> limits, int max_processes) {
  return std::make_unique<DirectLauncher>(std::move(limits), max_processes);
}

}  // namespace volo::worker
