#include "worker/sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "exec/process.h"
#include "worker/child_launched.h"
#include "worker/zygote.h"

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

class BwrapLaunched final : public ChildLaunched {
 public:
  using ChildLaunched::ChildLaunched;
  ~BwrapLaunched() override { KillAndReap(); }

 private:
  Status SignalTree(int sig) override {
    // Deepest first, so a parent's handler cannot start new children the walk missed... for
    // long: SIGKILL of bwrap's own child (the namespace's init) ends all of them anyway.
    std::vector<pid_t> pids = Descendants(pid());
    // Frozen first, so the whole tree gets the signal at once: otherwise a shell whose
    // children died first could see its `wait` return and exit 0 before its own signal came.
    if (sig != SIGKILL) {
      for (pid_t p : pids) ::kill(p, SIGSTOP);
    }
    for (auto it = pids.rbegin(); it != pids.rend(); ++it) ::kill(*it, sig);
    if (sig != SIGKILL) {
      for (pid_t p : pids) ::kill(p, SIGCONT);
    }
    if (limit()) (void)limit()->Signal(sig);
    if (sig == SIGKILL && ::kill(pid(), SIGKILL) != 0 && errno != ESRCH) {
      return Errno("cannot signal bwrap " + std::to_string(pid()));
    }
    return Status::Ok();
  }

  void AfterReap(CommandExit& exit) override {
    // bwrap reports a command killed by signal N as exit status 128 + N.
    if (exit.status.exited() && exit.status.code > 128 && exit.status.code < 128 + 65) {
      exit.status.signal = exit.status.code - 128;
      exit.status.code = 0;
    }
  }
};

// The parent directory of an absolute path ("/" for "/x").
std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

// The command's environment: the worker's home is not in the sandbox; the task's directory
// stands in for it.
std::vector<std::string> SandboxEnv(const LaunchSpec& spec) {
  std::vector<std::string> env = spec.env;
  std::erase_if(env, [](const std::string& e) {
    return e.rfind("HOME=", 0) == 0 || e.rfind("PWD=", 0) == 0;
  });
  env.push_back("HOME=" + spec.task_dir);
  return env;
}

// "dev:inode" of a directory, "" when it is not there.
std::string Inode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

// What every sandbox shows read-only: /usr and its links, a few /etc files, --sandbox-ro-bind
// directories; then its own /proc and a minimal /dev.
void AddSystemView(const SandboxOptions& options, std::vector<std::string>& a) {
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
  add({"--proc", "/proc", "--dev", "/dev"});
}

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
  explicit BwrapLauncher(SandboxOptions options) : options_(std::move(options)) {
    if (options_.zygote) {
      if (options_.zygote_program == "/proc/self/exe") {
        // bwrap opens the path itself, from its own user namespace, where this process's /proc
        // is out of reach: the binary's real path. (Replaced on disk since, it ends in
        // " (deleted)": the zygote cannot start and commands fall back to a bwrap each.)
        char buf[4096];
        ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
        if (n > 0) options_.zygote_program.assign(buf, static_cast<size_t>(n));
      }
      janitor_ = std::thread([this] { Janitor(); });
    }
  }
  ~BwrapLauncher() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (janitor_.joinable()) janitor_.join();
    std::lock_guard lock(mu_);
    zygotes_.clear();  // each ends its sandbox
  }
  std::string name() const override { return "bwrap"; }

  Result<std::unique_ptr<Launched>> Launch(const LaunchSpec& spec) override {
    VOLO_ASSIGN_OR_RETURN(std::vector<std::string> args, BwrapArgv(options_, spec));
    std::unique_ptr<TaskLimit> limit;
    CommandLimits want = spec.limits;
    if (want.max_processes == 0) want.max_processes = options_.max_processes;
    if (options_.limits && (want.memory_bytes > 0 || want.max_processes > 0 || want.cpus > 0)) {
      // In a zygote the task init is one more process of the tree than the command counts.
      if (options_.zygote && want.max_processes > 0) ++want.max_processes;
      VOLO_ASSIGN_OR_RETURN(limit, options_.limits->Prepare(want));
    }
    if (options_.zygote && failures_ < kMaxZygoteFailures) {
      auto warm = LaunchWarm(spec, limit);
      if (warm.ok() || warm.status().code() != StatusCode::kUnavailable) return warm;
      int failed = ++failures_;
      spdlog::warn("exec: {}; starting this command in a bwrap of its own{}",
                   warm.status().message(),
                   failed >= kMaxZygoteFailures ? " (and every command from now on)" : "");
    }
    return LaunchCold(spec, std::move(args), std::move(limit));
  }

  SandboxStats stats() const {
    SandboxStats s;
    s.zygotes_started = zygotes_started_;
    s.warm_starts = warm_starts_;
    s.cold_starts = cold_starts_;
    s.spare_starts = spare_starts_;
    std::lock_guard lock(mu_);
    s.zygotes_running = static_cast<int64_t>(zygotes_.size());
    return s;
  }

 private:
  static constexpr int kMaxZygoteFailures = 3;

  // In the warm sandbox for the spec's work directory, bundle and network, started when there
  // is none (or it died). Unavailable when no zygote could take it.
  Result<std::unique_ptr<Launched>> LaunchWarm(const LaunchSpec& spec,
                                               std::unique_ptr<TaskLimit>& limit) {
    const bool network = spec.network || options_.network;
    const std::string work_dir = Parent(spec.task_dir);
    // A bundle unpacked anew (after eviction) is another directory to a sandbox that bound the
    // old one: its inode is in the key, so the stale sandbox is never used again.
    std::string key = work_dir + '\0' + spec.bundle_dir + '\0' + (network ? "net" : "nonet");
    std::string bundle_inode;
    if (!spec.bundle_dir.empty()) {
      bundle_inode = Inode(spec.bundle_dir);
      if (bundle_inode.empty()) {
        return NotFound("the bundle directory " + spec.bundle_dir + " is gone");
      }
      key += '\0' + bundle_inode;
    }
    ZygoteRequest request;
    request.argv = spec.argv;
    // The zygote's sandbox holds this binary already: it is the zygote.
    if (spec.own_binary) request.argv[0] = kZygoteProgram;
    request.cwd = spec.cwd.empty() ? spec.task_dir : spec.cwd;
    request.env = SandboxEnv(spec);
    request.env.push_back("PWD=" + request.cwd);  // as bwrap's --chdir sets it
    request.task_dir = spec.task_dir;
    request.bundle_dir = spec.bundle_dir;
    if (limit) {
      request.rlimit_data = limit->RlimitData();
      request.rlimit_nproc = limit->RlimitNproc();
    }
    Status last = Unavailable("no warm sandbox");
    for (int attempt = 0; attempt < 2; ++attempt) {
      std::shared_ptr<Zygote> zygote;
      {
        std::lock_guard lock(mu_);
        auto it = zygotes_.find(key);
        if (it != zygotes_.end() && it->second.zygote->Alive()) {
          zygote = it->second.zygote;
        } else {
          if (it != zygotes_.end()) {
            spdlog::warn("exec: a warm sandbox (bwrap pid {}) ended; starting another",
                         it->second.zygote->pid());
            zygotes_.erase(it);
          }
          auto started = Zygote::Start(ZygoteArgv(options_, work_dir, spec.bundle_dir, network));
          if (!started.ok()) return started.status();
          zygote = *started;
          ++zygotes_started_;
          zygotes_.emplace(key, Warm{zygote, spec.bundle_dir, bundle_inode, std::nullopt});
        }
      }
      std::optional<CommandLimits> limits;
      if (limit) limits = limit->limits();
      bool from_spare = false;
      auto launched = zygote->Spawn(request, spec.stdin_fd, spec.stdout_fd, spec.stderr_fd, &limit,
                                    &from_spare);
      if (launched.ok()) {
        ++warm_starts_;
        if (from_spare) ++spare_starts_;
        failures_ = 0;
        if (limits && options_.limits->mode() != LimitMode::kRlimit) {
          // The next command like this one (most are: a function's calls and instances, a
          // workflow's steps) finds a spare task init in its cgroup already (rlimits need no
          // cgroup move, so no spare).
          std::lock_guard lock(mu_);
          auto it = zygotes_.find(key);
          if (it != zygotes_.end() && it->second.zygote == zygote) {
            it->second.spare_limits = limits;
            spares_wanted_ = true;
          }
          cv_.notify_all();
        }
        return launched;
      }
      if (launched.status().code() != StatusCode::kUnavailable) return launched;
      last = launched.status();
      std::lock_guard lock(mu_);
      auto it = zygotes_.find(key);
      if (it != zygotes_.end() && it->second.zygote == zygote) zygotes_.erase(it);
    }
    return last;
  }

  // Stops zygotes idle for options_.zygote_idle and forgets dead ones.
  void Janitor() {
    const auto period = std::clamp<std::chrono::milliseconds>(
        options_.zygote_idle / 4, std::chrono::milliseconds(10), std::chrono::seconds(5));
    std::unique_lock lock(mu_);
    auto next_sweep = std::chrono::steady_clock::now() + period;
    while (!stop_) {
      cv_.wait_until(lock, next_sweep, [&] { return stop_ || spares_wanted_; });
      if (stop_) break;
      if (spares_wanted_) {
        spares_wanted_ = false;
        PrepareSpares(lock);
      }
      const auto now = std::chrono::steady_clock::now();
      if (stop_ || now < next_sweep) continue;
      next_sweep = now + period;
      std::vector<std::shared_ptr<Zygote>> done;
      for (auto it = zygotes_.begin(); it != zygotes_.end();) {
        const Warm& w = it->second;
        // Held only by the map: no command runs in it, none is being started. Idle, or its
        // bundle evicted from the cache (its files stay on disk while a sandbox binds them).
        bool unused = w.zygote.use_count() == 1;
        bool idle = unused && now - w.zygote->last_used() >= options_.zygote_idle;
        bool evicted = unused && !w.bundle_dir.empty() && Inode(w.bundle_dir) != w.bundle_inode;
        if (idle || evicted || !w.zygote->Alive()) {
          done.push_back(std::move(it->second.zygote));
          it = zygotes_.erase(it);
        } else {
          w.zygote->Sweep();  // finished commands' cgroups
          ++it;
        }
      }
      if (done.empty()) continue;
      lock.unlock();
      done.clear();  // ends them (and waits for their bwrap) outside the lock
      lock.lock();
    }
  }

  // Gives each warm sandbox that has run a command with limits a spare task init in a cgroup
  // with those limits (Zygote::PrepareSpare), outside the lock: moving it into its cgroup
  // waits for the kernel, which is why it is done here rather than when a command starts.
  void PrepareSpares(std::unique_lock<std::mutex>& lock) {
    std::vector<std::pair<std::shared_ptr<Zygote>, CommandLimits>> todo;
    for (auto& [key, w] : zygotes_) {
      if (w.spare_limits && !w.zygote->HasSpare()) todo.emplace_back(w.zygote, *w.spare_limits);
    }
    if (todo.empty() || !options_.limits) return;
    lock.unlock();
    for (auto& [zygote, limits] : todo) {
      auto limit = options_.limits->Prepare(limits);
      Status s = limit.ok() ? zygote->PrepareSpare(std::move(limit).value()) : limit.status();
      if (!s.ok()) spdlog::debug("exec: no spare task init for the warm sandbox: {}", s.message());
    }
    todo.clear();  // outside the lock: a zygote let go meanwhile ends here
    lock.lock();
  }

  // A bwrap of its own for this command (under the limit shim when it has limits).
  Result<std::unique_ptr<Launched>> LaunchCold(const LaunchSpec& spec,
                                               std::vector<std::string> args,
                                               std::unique_ptr<TaskLimit> limit) {
    if (limit) {
      args[0] = OnPath(args[0]);
      args = limit->Wrap(args);
    }
    const std::string program = args[0];
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env = SandboxEnv(spec);
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
    ++cold_starts_;
    return std::unique_ptr<Launched>(new BwrapLaunched(pid, pidfd, std::move(limit)));
  }

 private:
  SandboxOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  struct Warm {
    std::shared_ptr<Zygote> zygote;
    std::string bundle_dir, bundle_inode;  // empty without a bundle
    // The limits of the last command with limits started in it: its spare's.
    std::optional<CommandLimits> spare_limits;
  };
  std::map<std::string, Warm> zygotes_;  // GUARDED_BY(mu_)
  bool spares_wanted_ = false;           // GUARDED_BY(mu_); the janitor prepares spares
  std::thread janitor_;
  std::atomic<int> failures_{0};  // zygotes that failed in a row
  std::atomic<int64_t> zygotes_started_{0}, warm_starts_{0}, cold_starts_{0}, spare_starts_{0};
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
  AddSystemView(options, a);
  add({"--tmpfs", "/tmp"});
  if (!spec.bundle_dir.empty()) add({"--ro-bind", spec.bundle_dir, spec.bundle_dir});
  if (spec.own_binary) {
    // bwrap opens the path from its own namespaces, where /proc/self is not this process.
    char self[4096];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return IoError("cannot find the worker's own binary (/proc/self/exe)");
    add({"--ro-bind", std::string(self, static_cast<size_t>(n)), kSandboxedVolo});
  }
  add({"--bind", spec.task_dir, spec.task_dir, "--chdir", cwd, "--"});
  a.insert(a.end(), spec.argv.begin(), spec.argv.end());
  if (spec.own_binary) a[a.size() - spec.argv.size()] = kSandboxedVolo;
  return a;
}

std::vector<std::string> ZygoteArgv(const SandboxOptions& options, const std::string& work_dir,
                                    const std::string& bundle_dir, bool network) {
  // The zygote keeps the capabilities it needs to make each command's namespaces and mounts;
  // each command drops them all before it runs (zygote_main.cc).
  // The zygote is the PID namespace's init (--as-pid-1): when it ends, for any reason, the
  // kernel ends everything in the sandbox (under a bwrap init, orphaned task inits would keep
  // the sandbox alive).
  std::vector<std::string> a = {
      options.bwrap,   "--unshare-user",       "--unshare-pid", "--as-pid-1",  "--unshare-ipc",
      "--unshare-uts", "--unshare-cgroup-try", "--new-session", "--cap-drop",  "ALL",
      "--cap-add",     "CAP_SYS_ADMIN",        "--cap-add",     "CAP_SETPCAP", "--hostname",
      "volo-task"};
  // Without the network: the zygote's namespace has only a loopback, which its commands share.
  if (!network) a.push_back("--unshare-net");
  AddSystemView(options, a);
  auto add = [&](std::initializer_list<std::string> more) { a.insert(a.end(), more); };
  // No /tmp: each command mounts its own over the directories made for these binds. The
  // bundle after the work directory, so that it is read-only even when it lies inside.
  add({"--bind", work_dir, work_dir});
  if (!bundle_dir.empty()) add({"--ro-bind", bundle_dir, bundle_dir});
  add({"--ro-bind", options.zygote_program, kZygoteProgram, "--chdir", "/", "--", kZygoteProgram,
       std::string(kZygoteCommand)});
  return a;
}

SandboxStats BwrapStats(const Launcher& launcher) {
  if (auto* b = dynamic_cast<const BwrapLauncher*>(&launcher)) return b->stats();
  return {};
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
