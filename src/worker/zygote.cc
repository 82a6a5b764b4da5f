// The worker's side of the warm sandbox (zygote.h): starting one, and each command in it.
#include "worker/zygote.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "worker/zygote_io.h"

namespace volo::worker {

namespace {

using Clock = std::chrono::steady_clock;
using zygote_io::Receive;
using zygote_io::Send;

constexpr auto kStartTimeout = std::chrono::seconds(20);
// How long a command's setup (namespaces, mounts) may take before the worker gives up on it.
constexpr auto kSetupTimeout = std::chrono::seconds(20);

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// Waits until `fd` is readable or `timeout` passes.
bool WaitReadable(int fd, Clock::duration timeout, int also = -1) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p[2] = {{fd, POLLIN, 0}, {also, POLLIN, 0}};
    int r = ::poll(p, also >= 0 ? 2 : 1, static_cast<int>(left.count()) + 1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return false;
    if (r > 0) return p[0].revents != 0;
  }
}

// The pid (in the worker's PID namespace) of the process a pidfd refers to; -1 once it ended.
pid_t PidOf(int pidfd) {
  std::ifstream in("/proc/self/fdinfo/" + std::to_string(pidfd));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Pid:", 0) == 0) return static_cast<pid_t>(std::atol(line.c_str() + 4));
  }
  return -1;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// One command running in a zygote.
class ZygoteLaunched final : public Launched {
 public:
  ZygoteLaunched(std::shared_ptr<Zygote> zygote, int task, int pidfd, pid_t pid,
                 std::unique_ptr<TaskLimit> limit)
      : zygote_(std::move(zygote)),
        task_(task),
        pidfd_(pidfd),
        pid_(pid),
        limit_(std::move(limit)) {}
  ~ZygoteLaunched() override {
    if (!reaped_) {
      (void)Signal(SIGKILL);
      (void)Wait();
    }
    ::close(task_);
    ::close(pidfd_);
  }

  pid_t pid() const override { return pid_; }
  // The command's socket: readable when the task init reports the end (after reaping the
  // whole tree), or closes because it died. Not the pidfd: the task init's own exit waits for
  // the kernel to take its namespaces apart, which costs more than the command's whole start.
  int exit_fd() const override { return task_; }

  Status Signal(int sig) override {
    if (reaped_) return Status::Ok();
    if (sig == SIGKILL) {
      // The end of the task init is the end of its PID namespace: the kernel kills the rest.
      killed_ = true;
      if (::syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0) != 0 && errno != ESRCH) {
        return IoError(std::string("cannot kill the command's sandbox: ") + strerror(errno));
      }
      if (limit_) (void)limit_->Signal(SIGKILL);
      return Status::Ok();
    }
    std::string msg = "K";
    int32_t s = sig;
    msg.append(reinterpret_cast<const char*>(&s), sizeof s);
    if (!Send(task_, msg) && errno != EPIPE && errno != ECONNRESET) {
      return IoError(std::string("cannot signal the command: ") + strerror(errno));
    }
    return Status::Ok();
  }

  CommandExit Wait() override {
    if (reaped_) return exit_;
    while (!WaitReadable(task_, std::chrono::hours(24))) {
    }
    reaped_ = true;
    std::string data;
    std::vector<int> fds;
    bool reported = false;
    ::fcntl(task_, F_SETFL, O_NONBLOCK);
    while (!reported && Receive(task_, &data, &fds) > 0) {
      for (int fd : fds) ::close(fd);
      if (data[0] == 'X' && data.size() == 1 + sizeof(zygote_io::TaskExit)) {
        zygote_io::TaskExit x;
        memcpy(&x, data.data() + 1, sizeof x);
        exit_.status = exec::ExitStatus::FromWait(x.wait_status);
        exit_.cpu_seconds = static_cast<double>(x.cpu_micros) / 1e6;
        exit_.max_rss_bytes = x.max_rss_kib * 1024;
        reported = true;
      }
    }
    if (!reported) {
      exit_.status = exec::ExitStatus{0, SIGKILL};
      // Killed by us (timeout, cancel) or over its memory (the cgroup says so below); else its
      // sandbox went away under it.
      if (!killed_) exit_.error = "killed: its sandbox (zygote) ended while it ran";
    }
    // Without a report the task init died, and its PID namespace is going: wait until it is
    // gone. With one, the whole tree is reaped: the cgroup's figures are final, and the
    // cgroup goes once the task init has left it too (Zygote::Bury).
    if (!reported) {
      while (!WaitReadable(pidfd_, std::chrono::hours(24))) {
      }
    }
    if (limit_ && reported) {
      limit_->Collect(exit_);
      int pidfd = ::fcntl(pidfd_, F_DUPFD_CLOEXEC, 0);
      if (pidfd >= 0) zygote_->Bury(pidfd, std::move(limit_));
    }
    if (limit_) {
      auto deadline = Clock::now() + std::chrono::seconds(10);
      while (!limit_->Empty() && Clock::now() < deadline) {
        (void)limit_->Signal(SIGKILL);
        ::usleep(2000);
      }
      limit_->Collect(exit_);
      if (exit_.memory_exceeded) exit_.error.clear();
    }
    return exit_;
  }

 private:
  std::shared_ptr<Zygote> zygote_;  // alive while the command runs in it
  int task_;
  int pidfd_;
  pid_t pid_;
  std::unique_ptr<TaskLimit> limit_;
  bool reaped_ = false, killed_ = false;
  CommandExit exit_;
};

}  // namespace

Result<std::shared_ptr<Zygote>> Zygote::Start(const std::vector<std::string>& bwrap_argv) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return IoError(std::string("socketpair: ") + strerror(errno));
  }
  // bwrap's complaints land here, read when it does not come up.
  int errfd = ::memfd_create("volo-zygote-stderr", MFD_CLOEXEC);
  std::shared_ptr<Zygote> z(new Zygote());
  z->control_ = sv[0];
  std::vector<char*> argv;
  std::vector<std::string> args = bwrap_argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  char* envp[] = {nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  if (errfd >= 0) {
    posix_spawn_file_actions_adddup2(&fa, errfd, 2);
  } else {
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&fa, sv[1], zygote_io::kControlFd);
  posix_spawn_file_actions_addclosefrom_np(&fa, zygote_io::kControlFd + 1);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  const std::string& program = args[0];
  int rc = program.find('/') == std::string::npos
               ? posix_spawnp(&z->pid_, program.c_str(), &fa, &attr, argv.data(), envp)
               : posix_spawn(&z->pid_, program.c_str(), &fa, &attr, argv.data(), envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(sv[1]);
  if (rc != 0) {
    z->pid_ = -1;
    if (errfd >= 0) ::close(errfd);
    return Unavailable("cannot start the warm sandbox (" + program + "): " + strerror(rc));
  }
  z->pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, z->pid_, 0));
  std::string data;
  std::vector<int> fds;
  bool up = WaitReadable(z->control_, kStartTimeout) && Receive(z->control_, &data, &fds) > 0 &&
            data == "Z";
  for (int fd : fds) ::close(fd);
  if (!up) {
    std::string why;
    if (errfd >= 0) {
      char buf[2048];
      ssize_t n = ::pread(errfd, buf, sizeof buf, 0);
      if (n > 0) why = Trim(std::string(buf, static_cast<size_t>(n)));
      ::close(errfd);
    }
    return Unavailable("the warm sandbox did not start" + (why.empty() ? "" : ": " + why));
  }
  if (errfd >= 0) ::close(errfd);
  z->last_used_ns_ = NowNs();
  return z;
}

Zygote::~Zygote() {
  {
    std::unique_ptr<Spare> spare;
    {
      std::lock_guard lock(spare_mu_);
      spare = std::move(spare_);
    }
    DropSpare(std::move(spare));
  }
  // Its end of the control socket closing is the zygote's signal to end (and the sandbox's).
  if (control_ >= 0) ::close(control_);
  if (pid_ > 0) {
    if (pidfd_ < 0 || !WaitReadable(pidfd_, std::chrono::seconds(5))) ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  if (pidfd_ >= 0) ::close(pidfd_);
  // The sandbox is gone, and every task init with it.
  std::lock_guard lock(graves_mu_);
  for (auto& g : graves_) {
    (void)WaitReadable(g.pidfd, std::chrono::seconds(5));
    ::close(g.pidfd);
  }
  graves_.clear();
}

void Zygote::Bury(int pidfd, std::unique_ptr<TaskLimit> limit) {
  std::lock_guard lock(graves_mu_);
  graves_.push_back({pidfd, std::move(limit)});
}

void Zygote::Sweep() {
  std::vector<std::unique_ptr<TaskLimit>> done;
  {
    std::lock_guard lock(graves_mu_);
    for (auto it = graves_.begin(); it != graves_.end();) {
      pollfd p{it->pidfd, POLLIN, 0};
      if (::poll(&p, 1, 0) == 1) {
        ::close(it->pidfd);
        done.push_back(std::move(it->limit));
        it = graves_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // Their cgroups are removed here, outside the lock.
}

Status Zygote::PrepareSpare(std::unique_ptr<TaskLimit> limit) {
  if (HasSpare()) return Status::Ok();
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return IoError(std::string("socketpair: ") + strerror(errno));
  }
  bool sent = Send(control_, "W", {sv[1]});
  ::close(sv[1]);
  auto spare = std::make_unique<Spare>();
  spare->task = sv[0];
  spare->limit = std::move(limit);
  std::string data;
  std::vector<int> got;
  if (!sent || !WaitReadable(spare->task, kSetupTimeout) ||
      Receive(spare->task, &data, &got) <= 0 || data != "P" || got.size() != 1) {
    for (int fd : got) ::close(fd);
    DropSpare(std::move(spare));
    return Unavailable("the warm sandbox did not start a spare task init");
  }
  spare->pidfd = got[0];
  spare->pid = PidOf(spare->pidfd);
  // The slow part, which no command waits for now.
  Status joined = spare->limit ? spare->limit->Join(spare->pid) : Status::Ok();
  if (!joined.ok()) {
    DropSpare(std::move(spare));
    return joined;
  }
  std::unique_ptr<Spare> extra;
  {
    std::lock_guard lock(spare_mu_);
    if (spare_) {
      extra = std::move(spare);
    } else {
      spare_ = std::move(spare);
    }
  }
  DropSpare(std::move(extra));
  return Status::Ok();
}

bool Zygote::HasSpare() const {
  std::lock_guard lock(spare_mu_);
  return spare_ != nullptr;
}

std::unique_ptr<Zygote::Spare> Zygote::TakeSpare(const TaskLimit& want) {
  std::lock_guard lock(spare_mu_);
  if (!spare_ || !spare_->limit || !(spare_->limit->limits() == want.limits())) return nullptr;
  return std::move(spare_);
}

void Zygote::DropSpare(std::unique_ptr<Spare> spare) {
  if (!spare) return;
  // Its socket closing ends it (it has run nothing); killed as well, should it not notice.
  if (spare->task >= 0) ::close(spare->task);
  if (spare->pidfd >= 0) {
    ::syscall(SYS_pidfd_send_signal, spare->pidfd, SIGKILL, nullptr, 0);
    if (spare->limit) {
      Bury(spare->pidfd, std::move(spare->limit));
    } else {
      ::close(spare->pidfd);
    }
  }
}

bool Zygote::Alive() const {
  pollfd p[2] = {{control_, POLLIN, 0}, {pidfd_, POLLIN, 0}};
  if (::poll(p, pidfd_ >= 0 ? 2 : 1, 0) <= 0) return true;
  // The zygote sends nothing unasked on its control socket: anything there is its end.
  return !(p[0].revents & (POLLHUP | POLLERR | POLLIN)) && !p[1].revents;
}

Clock::time_point Zygote::last_used() const {
  return Clock::time_point(std::chrono::nanoseconds(last_used_ns_.load()));
}

Result<std::unique_ptr<Launched>> Zygote::Spawn(const ZygoteRequest& request, int stdin_fd,
                                                int stdout_fd, int stderr_fd,
                                                std::unique_ptr<TaskLimit>* limit,
                                                bool* from_spare) {
  if (from_spare) *from_spare = false;
  last_used_ns_ = NowNs();
  Sweep();
  std::string encoded = EncodeZygoteRequest(request);
  int memfd = ::memfd_create("volo-zygote-request", MFD_CLOEXEC);
  if (memfd < 0) return IoError(std::string("memfd_create: ") + strerror(errno));
  for (size_t off = 0; off < encoded.size();) {
    ssize_t n =
        ::pwrite(memfd, encoded.data() + off, encoded.size() - off, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(memfd);
      return IoError(std::string("cannot write the zygote request: ") + strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    ::close(memfd);
    return IoError(std::string("socketpair: ") + strerror(errno));
  }
  // Without stdio descriptors of the caller's, the command's go to /dev/null.
  int null_out = -1;
  if (stdout_fd < 0 || stderr_fd < 0) null_out = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  std::vector<int> fds = {sv[1], memfd, stdout_fd >= 0 ? stdout_fd : null_out,
                          stderr_fd >= 0 ? stderr_fd : null_out};
  if (stdin_fd >= 0) fds.push_back(stdin_fd);
  const char has_stdin = static_cast<char>(stdin_fd >= 0 ? 1 : 0);
  // A spare task init, already in a cgroup with these limits, takes the command when there is
  // one; one that does not answer is let go, and a new task init started as without it.
  if (std::unique_ptr<Spare> spare = *limit ? TakeSpare(**limit) : nullptr) {
    std::vector<int> cfds(fds.begin() + 1, fds.end());
    std::string data;
    std::vector<int> got;
    bool ready = Send(spare->task, std::string{'C', has_stdin}, cfds) &&
                 WaitReadable(spare->task, kSetupTimeout) && Receive(spare->task, &data, &got) > 0;
    for (int fd : got) ::close(fd);
    if (ready && data == "R" && Send(spare->task, "G")) {
      ::close(sv[0]);
      ::close(sv[1]);
      ::close(memfd);
      if (null_out >= 0) ::close(null_out);
      if (from_spare) *from_spare = true;
      const int task = spare->task, pidfd = spare->pidfd;
      spare->task = spare->pidfd = -1;
      return std::unique_ptr<Launched>(std::make_unique<ZygoteLaunched>(
          shared_from_this(), task, pidfd, spare->pid, std::move(spare->limit)));
    }
    DropSpare(std::move(spare));
    if (ready && data[0] == 'E') {
      ::close(sv[0]);
      ::close(sv[1]);
      ::close(memfd);
      if (null_out >= 0) ::close(null_out);
      return IoError("cannot start the command in its sandbox: " + data.substr(1));
    }
  }
  std::string msg = {'S', has_stdin};
  bool sent = Send(control_, msg, fds);
  int send_errno = errno;
  ::close(sv[1]);
  ::close(memfd);
  if (null_out >= 0) ::close(null_out);
  const int task = sv[0];
  auto give_up = [&](Status s) -> Result<std::unique_ptr<Launched>> {
    ::close(task);
    return s;
  };
  if (!sent) {
    return give_up(Unavailable(std::string("the warm sandbox is gone: ") + strerror(send_errno)));
  }
  // Two messages, in either order: the task init's pidfd from the zygote, and "ready" (or
  // why not) from the task init itself.
  int pidfd = -1;
  pid_t pid = -1;
  bool ready = false;
  std::string why;
  Status joined = Status::Ok();
  while (!(pidfd >= 0 && ready) && why.empty()) {
    std::string data;
    std::vector<int> got;
    if (!WaitReadable(task, kSetupTimeout) || Receive(task, &data, &got) <= 0) {
      for (int fd : got) ::close(fd);
      why = pidfd < 0 ? "the warm sandbox did not answer"
                      : "the command's sandbox ended while it was set up";
      break;
    }
    if (data[0] == 'P' && got.size() == 1 && pidfd < 0) {
      pidfd = got[0];
      pid = PidOf(pidfd);
      // The task init joins its cgroup now, while it sets up its mounts, rather than after:
      // moving a process between cgroups can wait for an RCU grace period (milliseconds, tens
      // on a busy machine), and nothing of the command runs before "G" anyway.
      if (*limit) joined = (*limit)->Join(pid);
      if (!joined.ok()) break;
      continue;
    }
    for (int fd : got) ::close(fd);
    if (data == "R") {
      ready = true;
    } else if (data[0] == 'E') {
      why = "cannot start the command in its sandbox: " + data.substr(1);
    } else {
      why = "the command's sandbox answered nonsense";
    }
  }
  auto abandon = [&](Status s) -> Result<std::unique_ptr<Launched>> {
    if (pidfd >= 0) {
      ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
      ::close(pidfd);
    }
    return give_up(std::move(s));
  };
  if (!joined.ok()) return abandon(joined);
  if (!why.empty()) {
    // No answer at all: the zygote is gone (start another); else this command cannot start.
    return abandon(pidfd < 0 && !ready && why.rfind("cannot", 0) != 0 ? Unavailable(why)
                                                                      : IoError(why));
  }
  if (!Send(task, "G")) {
    return abandon(Unavailable(std::string("the command's sandbox is gone: ") + strerror(errno)));
  }
  return std::unique_ptr<Launched>(
      std::make_unique<ZygoteLaunched>(shared_from_this(), task, pidfd, pid, std::move(*limit)));
}

}  // namespace volo::worker
