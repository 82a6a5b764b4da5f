#include "worker/sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "exec/process.h"

namespace volo::worker {

namespace {

// The files under /etc that ordinary programs read; nothing else of /etc is shown (it may
// hold the worker's secrets or the machine's).
constexpr const char* kEtcFiles[] = {
    "/etc/ld.so.cache",     "/etc/ld.so.conf", "/etc/ld.so.conf.d",  "/etc/alternatives",
    "/etc/passwd",          "/etc/group",      "/etc/nsswitch.conf", "/etc/hosts",
    "/etc/host.conf",       "/etc/gai.conf",   "/etc/resolv.conf",   "/etc/protocols",
    "/etc/services",        "/etc/localtime",  "/etc/timezone",      "/etc/ssl",
    "/etc/ca-certificates", "/etc/mime.types", "/etc/os-release",    "/etc/debian_version",
};
// Top-level names that are links into /usr on merged-/usr systems, or directories elsewhere.
constexpr const char* kSystemDirs[] = {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};

bool Absolute(const std::string& p) { return !p.empty() && p.front() == '/'; }

bool Within(const std::string& path, const std::string& dir) {
  return !dir.empty() && (path == dir || path.rfind(dir + "/", 0) == 0);
}

Status Errno(const std::string& what) { return IoError(what + ": " + std::strerror(errno)); }

// Every process descended from `root`, from /proc (no cgroup needed). The sandbox's processes
// cannot leave its PID namespace, so they are all descendants of bwrap.
std::vector<pid_t> Descendants(pid_t root) {
  std::multimap<pid_t, pid_t> children;
  DIR* d = ::opendir("/proc");
  if (!d) return {};
  while (dirent* e = ::readdir(d)) {
    char* end;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end || pid <= 0) continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
    std::string stat;
    std::getline(f, stat);
    // pid (comm) state ppid ...; comm may hold spaces and parentheses: parse after the last ')'.
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    std::string state;
    long ppid = 0;
    rest >> state >> ppid;
    children.emplace(static_cast<pid_t>(ppid), static_cast<pid_t>(pid));
  }
  ::closedir(d);
  std::vector<pid_t> out, todo{root};
  while (!todo.empty()) {
    pid_t p = todo.back();
    todo.pop_back();
    auto [a, b] = children.equal_range(p);
    for (auto it = a; it != b; ++it) {
      out.push_back(it->second);
      todo.push_back(it->second);
    }
  }
  return out;
}

class BwrapLaunched final : public Launched {
 public:
  BwrapLaunched(pid_t pid, int pidfd, std::unique_ptr<TaskLimit> limit)
      : pid_(pid), pidfd_(pidfd), limit_(std::move(limit)) {}
  ~BwrapLaunched() override {
    if (!reaped_) {
      (void)Signal(SIGKILL);
      (void)Wait();
    }
    if (pidfd_ >= 0) ::close(pidfd_);
  }

  pid_t pid() const override { return pid_; }
  int exit_fd() const override { return pidfd_; }

  Status Signal(int sig) override {
    if (reaped_) return Status::Ok();
    // Deepest first, so a parent's handler cannot start new children the walk missed... for
    // long: SIGKILL of bwrap's own child (the namespace's init) ends all of them anyway.
    std::vector<pid_t> pids = Descendants(pid_);
    // Frozen first, so the whole tree gets the signal at once: otherwise a shell whose
    // children died first could see its `wait` return and exit 0 before its own signal came.
    if (sig != SIGKILL) {
      for (pid_t p : pids) ::kill(p, SIGSTOP);
    }
    for (auto it = pids.rbegin(); it != pids.rend(); ++it) ::kill(*it, sig);
    if (sig != SIGKILL) {
      for (pid_t p : pids) ::kill(p, SIGCONT);
    }
    if (limit_) (void)limit_->Signal(sig);
    if (sig == SIGKILL && ::kill(pid_, SIGKILL) != 0 && errno != ESRCH) {
      return Errno("cannot signal bwrap " + std::to_string(pid_));
    }
    return Status::Ok();
  }

  CommandExit Wait() override {
    if (reaped_) return exit_;
    int st = 0;
    struct rusage ru {};
    pid_t r;
    do {
      r = ::wait4(pid_, &st, 0, &ru);
    } while (r < 0 && errno == EINTR);
    reaped_ = true;
    exit_.status = exec::ExitStatus::FromWait(st);
    // bwrap reports a command killed by signal N as exit status 128 + N.
    if (exit_.status.exited() && exit_.status.code > 128 && exit_.status.code < 128 + 65) {
      exit_.status.signal = exit_.status.code - 128;
      exit_.status.code = 0;
    }
    exit_.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                        static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    exit_.max_rss_bytes = static_cast<int64_t>(ru.ru_maxrss) * 1024;
    if (limit_) limit_->Collect(exit_);
    return exit_;
  }

 private:
  pid_t pid_;
  int pidfd_;
  bool reaped_ = false;
  CommandExit exit_;
  std::unique_ptr<TaskLimit> limit_;  // null: no limits asked for
};

// `name` on the worker's PATH, or `name` itself when it has a '/' or is not found.
std::string OnPath(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string full = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(full.c_str(), X_OK) == 0) return full;
  }
  return name;
}

class BwrapLauncher final : public Launcher {
 public:
  explicit BwrapLauncher(SandboxOptions options) : options_(std::move(options)) {}
  std::string name() const override { return "bwrap"; }

  Result<std::unique_ptr<Launched>> Launch(const LaunchSpec& spec) override {
    VOLO_ASSIGN_OR_RETURN(std::vector<std::string> args, BwrapArgv(options_, spec));
    std::unique_ptr<TaskLimit> limit;
    CommandLimits want = spec.limits;
    if (want.max_processes == 0) want.max_processes = options_.max_processes;
    if (options_.limits && (want.memory_bytes > 0 || want.max_processes > 0)) {
      VOLO_ASSIGN_OR_RETURN(limit, options_.limits->Prepare(want));
      args[0] = OnPath(args[0]);
      args = limit->Wrap(args);
    }
    const std::string program = args[0];
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // The worker's home is not in the sandbox; the task's directory stands in for it.
    std::vector<std::string> env = spec.env;
    std::erase_if(env, [](const std::string& e) { return e.rfind("HOME=", 0) == 0; });
    env.push_back("HOME=" + spec.task_dir);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    int fds[3] = {spec.stdin_fd, spec.stdout_fd, spec.stderr_fd};
    for (int i = 0; i < 3; ++i) {
      if (fds[i] >= 0) {
        posix_spawn_file_actions_adddup2(&fa, fds[i], i);
      } else {
        posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
      }
    }
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    // Its own process group: a terminal's Ctrl-C meant for the worker does not reach it.
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    pid_t pid = -1;
    int rc = program.find('/') == std::string::npos
                 ? posix_spawnp(&pid, program.c_str(), &fa, &attr, argv.data(), envp.data())
                 : posix_spawn(&pid, program.c_str(), &fa, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      return rc == ENOENT ? NotFound("cannot start the sandbox: " + options_.bwrap +
                                     " is not installed (Debian: apt-get install bubblewrap)")
                          : IoError("cannot start " + options_.bwrap + ": " + std::strerror(rc));
    }
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    return std::unique_ptr<Launched>(new BwrapLaunched(pid, pidfd, std::move(limit)));
  }

 private:
  SandboxOptions options_;
};

}  // namespace

Result<std::vector<std::string>> BwrapArgv(const SandboxOptions& options, const LaunchSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return InvalidArgument("cmd: give the program to run");
  }
  if (!Absolute(spec.task_dir)) return InvalidArgument("the task directory must be absolute");
  if (!spec.bundle_dir.empty() && !Absolute(spec.bundle_dir)) {
    return InvalidArgument("the bundle directory must be absolute");
  }
  std::string cwd = spec.cwd.empty() ? spec.task_dir : spec.cwd;
  if (!Within(cwd, spec.task_dir) && !Within(cwd, spec.bundle_dir)) {
    return InvalidArgument("cwd: must be inside the task's directory or its bundle");
  }
  std::vector<std::string> a = {options.bwrap,       "--unshare-user",
                                "--unshare-pid",     "--unshare-ipc",
                                "--unshare-uts",     "--unshare-cgroup-try",
                                "--die-with-parent", "--new-session",
                                "--cap-drop",        "ALL",
                                "--hostname",        "volo-task"};
  if (!spec.network && !options.network) a.push_back("--unshare-net");
  auto add = [&](std::initializer_list<std::string> more) { a.insert(a.end(), more); };
  add({"--ro-bind", "/usr", "/usr"});
  for (const char* d : kSystemDirs) {
    struct stat st;
    if (::lstat(d, &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = ::readlink(d, target, sizeof target - 1);
      if (n <= 0) continue;
      add({"--symlink", std::string(target, static_cast<size_t>(n)), d});
    } else if (S_ISDIR(st.st_mode)) {
      add({"--ro-bind", d, d});
    }
  }
  for (const char* f : kEtcFiles) add({"--ro-bind-try", f, f});
  for (const auto& d : options.ro_binds) add({"--ro-bind", d, d});
  add({"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"});
  if (!spec.bundle_dir.empty()) add({"--ro-bind", spec.bundle_dir, spec.bundle_dir});
  add({"--bind", spec.task_dir, spec.task_dir, "--chdir", cwd, "--"});
  a.insert(a.end(), spec.argv.begin(), spec.argv.end());
  return a;
}

Status CheckSandbox(const SandboxOptions& options) {
  exec::SpawnOptions so;
  so.argv = {options.bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"};
  so.search_path = options.bwrap.find('/') == std::string::npos;
  so.out = exec::Stdio::kNull;
  so.err = exec::Stdio::kPipe;
  auto p = exec::Spawn(so);
  if (!p.ok()) {
    return FailedPrecondition("--sandbox bwrap: cannot run " + options.bwrap + " (" +
                              p.status().message() +
                              "); install bubblewrap (Debian: apt-get install bubblewrap)");
  }
  std::string err;
  char buf[512];
  for (ssize_t n; (n = ::read(p->stderr_fd(), buf, sizeof buf)) > 0;) {
    err.append(buf, static_cast<size_t>(n));
  }
  exec::ExitStatus st = p->Wait();
  if (!st.ok()) {
    while (!err.empty() && err.back() == '\n') err.pop_back();
    return FailedPrecondition("--sandbox bwrap: bubblewrap cannot create namespaces here (" + err +
                              "); allow unprivileged user namespaces "
                              "(sysctl kernel.unprivileged_userns_clone=1) or run the worker "
                              "with --sandbox none on a machine you trust the tasks on");
  }
  return Status::Ok();
}

std::unique_ptr<Launcher> MakeBwrapLauncher(SandboxOptions options) {
  return std::make_unique<BwrapLauncher>(std::move(options));
}

}  // namespace volo::worker
