#include "exec/process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

extern char** environ;

namespace volo::exec {

std::string SignalName(int sig) {
  if (const char* abbrev = sigabbrev_np(sig)) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(sig);
}

std::string ExitStatus::Describe() const {
  if (signal != 0) return "killed by " + SignalName(signal);
  if (code < 0) return "ended with an unknown status";
  return "exited with status " + std::to_string(code);
}

ExitStatus ExitStatus::FromWait(int wstatus) {
  ExitStatus s;
  if (WIFSIGNALED(wstatus)) {
    s.signal = WTERMSIG(wstatus);
  } else if (WIFEXITED(wstatus)) {
    s.code = WEXITSTATUS(wstatus);
  } else {
    s.code = -1;
  }
  return s;
}

namespace {

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

std::string ErrnoText(int err) { return strerrordesc_np(err) ? strerrordesc_np(err) : "error"; }

// posix_spawn's attributes and file actions, destroyed on every path.
struct SpawnParts {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  std::vector<int> temps;  // parent-side copies to close after the spawn
  SpawnParts() {
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&actions);
  }
  ~SpawnParts() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    for (int fd : temps) ::close(fd);
  }
};

}  // namespace

Process::~Process() {
  if (pid_ > 0 && !status_) Kill();
  CloseFds();
}

Process::Process(Process&& o) noexcept { *this = std::move(o); }

Process& Process::operator=(Process&& o) noexcept {
  if (this == &o) return *this;
  if (pid_ > 0 && !status_) Kill();
  CloseFds();
  pid_ = std::exchange(o.pid_, -1);
  group_ = o.group_;
  status_ = std::exchange(o.status_, std::nullopt);
  in_ = std::exchange(o.in_, -1);
  out_ = std::exchange(o.out_, -1);
  err_ = std::exchange(o.err_, -1);
  return *this;
}

void Process::CloseFds() {
  CloseFd(in_);
  CloseFd(out_);
  CloseFd(err_);
}

void Process::CloseStdin() { CloseFd(in_); }

ExitStatus Process::Wait() {
  if (status_ || pid_ <= 0) return status_.value_or(ExitStatus{-1, 0});
  int st = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &st, 0);
  } while (r < 0 && errno == EINTR);
  status_ = r == pid_ ? ExitStatus::FromWait(st) : ExitStatus{-1, 0};
  return *status_;
}

std::optional<ExitStatus> Process::TryWait() {
  if (status_ || pid_ <= 0) return status_;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == 0) return std::nullopt;
  if (r < 0 && errno == EINTR) return std::nullopt;
  status_ = r == pid_ ? ExitStatus::FromWait(st) : ExitStatus{-1, 0};
  return status_;
}

Status Process::Signal(int sig) {
  if (pid_ <= 0 || status_) return Status::Ok();
  // A group whose leader has not been reaped cannot have had its id reused.
  if (::kill(group_ ? -pid_ : pid_, sig) != 0 && errno != ESRCH) {
    return IoError("cannot signal process " + std::to_string(pid_) + ": " + ErrnoText(errno));
  }
  return Status::Ok();
}

ExitStatus Process::Kill() {
  (void)Signal(SIGKILL);
  return Wait();
}

pid_t Process::Release() {
  CloseFds();
  status_ = ExitStatus{};
  return std::exchange(pid_, -1);
}

Result<Process> Spawn(const SpawnOptions& options) {
  if (options.argv.empty() || options.argv[0].empty()) {
    return InvalidArgument("no program to start");
  }
  int top = 2;  // the highest descriptor number the child gets
  for (const auto& [from, to] : options.fds) {
    if (to <= 2 || from < 0) {
      return InvalidArgument("descriptor mappings need a source and a target above 2");
    }
    top = std::max(top, to);
  }
  SpawnParts parts;
  Process p;
  // Every source is first copied above every target, so no dup2 below can overwrite a source
  // another one still needs.
  auto lift = [&](int fd) -> Result<int> {
    int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, top + 1);
    if (copy < 0) return IoError("cannot duplicate descriptor: " + ErrnoText(errno));
    parts.temps.push_back(copy);
    return copy;
  };
  auto stdio = [&](Stdio how, int target, int* parent_end, int given) -> Status {
    switch (how) {
      case Stdio::kFd: {
        if (given < 0) return InvalidArgument("Stdio::kFd without a descriptor");
        VOLO_ASSIGN_OR_RETURN(int lifted, lift(given));
        posix_spawn_file_actions_adddup2(&parts.actions, lifted, target);
        return Status::Ok();
      }
      case Stdio::kInherit:
        return Status::Ok();
      case Stdio::kNull:
        posix_spawn_file_actions_addopen(&parts.actions, target, "/dev/null",
                                         target == 0 ? O_RDONLY : O_WRONLY, 0);
        return Status::Ok();
      case Stdio::kPipe: {
        int ends[2];
        if (::pipe2(ends, O_CLOEXEC) != 0) return IoError("pipe: " + ErrnoText(errno));
        int child_end = target == 0 ? ends[0] : ends[1];
        *parent_end = target == 0 ? ends[1] : ends[0];
        parts.temps.push_back(child_end);
        VOLO_ASSIGN_OR_RETURN(int lifted, lift(child_end));
        posix_spawn_file_actions_adddup2(&parts.actions, lifted, target);
        return Status::Ok();
      }
    }
    return Status::Ok();
  };
  VOLO_RETURN_IF_ERROR(stdio(options.in, 0, &p.in_, options.in_fd));
  VOLO_RETURN_IF_ERROR(stdio(options.out, 1, &p.out_, options.out_fd));
  VOLO_RETURN_IF_ERROR(stdio(options.err, 2, &p.err_, options.err_fd));
  for (const auto& [from, to] : options.fds) {
    VOLO_ASSIGN_OR_RETURN(int lifted, lift(from));
    posix_spawn_file_actions_adddup2(&parts.actions, lifted, to);
  }
  posix_spawn_file_actions_addclosefrom_np(&parts.actions, top + 1);
  if (!options.cwd.empty()) {
    posix_spawn_file_actions_addchdir_np(&parts.actions, options.cwd.c_str());
  }

  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (options.new_process_group) {
    flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&parts.attr, 0);
  }
  posix_spawnattr_setflags(&parts.attr, flags);
  // The child starts with no signal blocked and every signal at its default action, whatever
  // this process's threads block or ignore (a worker ignores SIGPIPE, a command must not).
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&parts.attr, &none);
  posix_spawnattr_setsigdefault(&parts.attr, &all);

  std::vector<char*> argv;
  for (const auto& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  if (options.env) {
    for (const auto& e : *options.env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
  }
  char** env = options.env ? envp.data() : environ;
  pid_t pid = -1;
  const std::string& program = options.path.empty() ? options.argv[0] : options.path;
  int err =
      options.search_path
          ? ::posix_spawnp(&pid, program.c_str(), &parts.actions, &parts.attr, argv.data(), env)
          : ::posix_spawn(&pid, program.c_str(), &parts.actions, &parts.attr, argv.data(), env);
  if (err != 0) {
    std::string what = "cannot start '" + program + "': " + ErrnoText(err);
    return err == ENOENT ? NotFound(what) : IoError(what);
  }
  p.pid_ = pid;
  p.group_ = options.new_process_group;
  return p;
}

}  // namespace volo::exec
