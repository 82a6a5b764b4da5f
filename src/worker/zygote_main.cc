// Inside the warm sandbox: the zygote's loop and each command's task init (zygote.h).
//
// Both are single-threaded (the zygote is exec'd fresh by bwrap and never starts a thread), so
// fork and clone3 are safe here, unlike in the worker.
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "worker/zygote.h"
#include "worker/zygote_io.h"

namespace volo::worker {
namespace {

using zygote_io::Receive;
using zygote_io::Send;

bool Within(const std::string& path, const std::string& dir) {
  return dir == "/" || path == dir || path.rfind(dir + "/", 0) == 0;
}

std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

// mkdir -p, on whatever filesystem each level lands.
bool MakeDirs(const std::string& path) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos < path.size() && path[pos] != '/') continue;
    std::string part = path.substr(0, pos);
    if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) return false;
  }
  return true;
}

std::string Why(const std::string& what) { return what + ": " + strerror(errno); }

// Binds the directory open as `fd` (O_PATH) at `target`, creating the mount point.
bool BindFd(int fd, const std::string& target, std::string* err) {
  if (!MakeDirs(target)) {
    *err = Why("mkdir " + target);
    return false;
  }
  std::string source = "/proc/self/fd/" + std::to_string(fd);
  if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    *err = Why("bind " + target);
    return false;
  }
  return true;
}

// The task init's mount namespace: private copies of everything, then only this task's things
// on top (zygote.h). Runs as PID 1 of the task's new PID namespace.
bool SetUpMounts(const ZygoteRequest& r, std::string* err) {
  int task_fd = ::open(r.task_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (task_fd < 0) {
    *err = Why("open " + r.task_dir);
    return false;
  }
  int bundle_fd = -1;
  if (!r.bundle_dir.empty()) {
    bundle_fd = ::open(r.bundle_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (bundle_fd < 0) {
      *err = Why("open " + r.bundle_dir);
      return false;
    }
  }
  // Nothing done here may reach the zygote's or another task's view.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    *err = Why("make mounts private");
    return false;
  }
  const unsigned long kTmpFlags = MS_NOSUID | MS_NODEV;
  if (::mount("tmpfs", "/tmp", "tmpfs", kTmpFlags, "mode=1777") != 0) {
    *err = Why("mount /tmp");
    return false;
  }
  // The worker's work directory, with every task's directory, is hidden under an empty one.
  const std::string work = Parent(r.task_dir);
  if (!Within(work, "/tmp")) {
    if (!MakeDirs(work) || ::mount("tmpfs", work.c_str(), "tmpfs", kTmpFlags, "mode=0755") != 0) {
      *err = Why("hide " + work);
      return false;
    }
  }
  if (!BindFd(task_fd, r.task_dir, err)) return false;
  ::close(task_fd);
  if (bundle_fd >= 0) {
    // Still visible where the zygote bound it unless a tmpfs above now hides it; a bind of a
    // read-only mount is read-only.
    if ((Within(r.bundle_dir, "/tmp") || Within(r.bundle_dir, work)) &&
        !BindFd(bundle_fd, r.bundle_dir, err)) {
      return false;
    }
    ::close(bundle_fd);
    // Whatever it came through, the bundle is read-only.
    struct statvfs vfs {};
    if (::statvfs(r.bundle_dir.c_str(), &vfs) != 0 ||
        (!(vfs.f_flag & ST_RDONLY) &&
         ::mount(nullptr, r.bundle_dir.c_str(), nullptr,
                 MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0)) {
      *err = Why("make " + r.bundle_dir + " read-only");
      return false;
    }
  }
  // /proc of the task's own PID namespace, with the kernel's knobs read-only as bwrap has them.
  if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    *err = Why("mount /proc");
    return false;
  }
  for (const char* p : {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"}) {
    if (::access(p, F_OK) != 0) continue;
    if (::mount(p, p, nullptr, MS_BIND | MS_REC, nullptr) != 0 ||
        ::mount(nullptr, p, nullptr,
                MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                nullptr) != 0) {
      *err = Why(std::string("read-only ") + p);
      return false;
    }
  }
  if (::mount("tmpfs", "/dev/shm", "tmpfs", kTmpFlags, "mode=1777") != 0) {
    *err = Why("mount /dev/shm");
    return false;
  }
  if (::mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=620") != 0) {
    *err = Why("mount /dev/pts");
    return false;
  }
  return true;
}

// `name` on the colon-separated `path`, as execvp would find it; "" when it is not there.
std::string Lookup(const std::string& name, const std::string& path) {
  size_t start = 0;
  while (start <= path.size()) {
    size_t colon = path.find(':', start);
    if (colon == std::string::npos) colon = path.size();
    std::string dir = path.substr(start, colon - start);
    std::string full = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(full.c_str(), X_OK) == 0) return full;
    start = colon + 1;
  }
  return "";
}

// The zygote's own: the builtins it runs in a fork, and its argv (whose text is the process's
// command line, which a builtin's process rewrites to its own name).
struct Self {
  std::vector<ZygoteBuiltin> builtins;
  int argc = 0;
  char** argv = nullptr;
};

// What the command's process needs, made before vfork: the child may only make system calls.
struct Exec {
  std::string program;  // resolved; empty: not found (message in `not_found`)
  std::vector<char*> argv, envp;
  std::string not_found;
  std::string cwd;
  // Set: the command is this builtin of the zygote's own binary, run in a fork (zygote.h).
  const ZygoteBuiltin* builtin = nullptr;
  const Self* self = nullptr;
};

Exec PrepareExec(const ZygoteRequest& r, const Self& self) {
  Exec e;
  e.cwd = r.cwd;
  e.self = &self;
  if (r.argv.size() >= 2 && r.argv[0] == kZygoteProgram) {
    for (const ZygoteBuiltin& b : self.builtins) {
      if (r.argv[1] == b.name) e.builtin = &b;
    }
  }
  e.program = r.argv[0];
  if (e.program.find('/') == std::string::npos) {
    std::string path = "/usr/local/bin:/usr/bin:/bin";
    for (const auto& v : r.env) {
      if (v.rfind("PATH=", 0) == 0) path = v.substr(5);
    }
    e.program = Lookup(r.argv[0], path);
    if (e.program.empty()) {
      e.not_found = "volo: cannot run '" + r.argv[0] + "': not found on PATH " + path + "\n";
    }
  }
  for (const auto& a : r.argv) e.argv.push_back(const_cast<char*>(a.c_str()));
  e.argv.push_back(nullptr);
  for (const auto& v : r.env) e.envp.push_back(const_cast<char*>(v.c_str()));
  e.envp.push_back(nullptr);
  return e;
}

// In the vforked child: "volo: WHAT: strerror" on its stderr, exit 127. No allocation.
[[noreturn]] void Die(const char* what, const char* more = "") {
  const char* why = strerror(errno);
  (void)!::write(2, "volo: ", 6);
  (void)!::write(2, what, strlen(what));
  (void)!::write(2, more, strlen(more));
  (void)!::write(2, ": ", 2);
  (void)!::write(2, why, strlen(why));
  (void)!::write(2, "\n", 1);
  ::_exit(127);
}

// A builtin (zygote.h) in the command's process, forked (not vforked) from the task init, once
// ExecCommand has set it up as for an exec: what exec would also do (signal dispositions back
// to their defaults, the request's environment alone, dumpable again as exec makes it for a
// process without privileges), then the builtin's main; its return ends the process as main's
// would.
[[noreturn]] void RunBuiltin(const Exec& e) {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction old {};
    if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler != SIG_IGN &&
        old.sa_handler != SIG_DFL) {
      ::sigaction(sig, &dfl, nullptr);
    }
  }
  ::clearenv();
  for (char* v : e.envp) {
    if (v) ::putenv(v);
  }
  ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  // `ps` and /proc/PID/cmdline show the zygote's command line (`/run/volo/zygote __zygote`):
  // its second word becomes the builtin's name where it fits (`__fn-fly` does), so the process
  // reads as what it runs.
  const Self& self = *e.self;
  if (self.argc >= 2 && e.builtin->name.size() <= strlen(self.argv[1])) {
    const size_t room = strlen(self.argv[1]);
    memset(self.argv[1], 0, room);
    memcpy(self.argv[1], e.builtin->name.data(), e.builtin->name.size());
  }
  int argc = static_cast<int>(e.argv.size()) - 1;
  std::exit(e.builtin->main(argc, const_cast<char**>(e.argv.data())));
}

// In the command's own process (vforked from the task init; forked for a builtin): stdio,
// session, no capabilities, then exec. Only system calls here but for a builtin.
[[noreturn]] void ExecCommand(const Exec& e, int in, int out, int err) {
  if (in < 0) in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ::dup2(in, 0);
  ::dup2(out, 1);
  ::dup2(err, 2);
  ::syscall(SYS_close_range, 3U, ~0U, 0U);
  // Its own session: no terminal of the worker's to push input into.
  ::setsid();
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (::chdir(e.cwd.c_str()) != 0) Die("cannot enter ", e.cwd.c_str());
  // Every capability goes, for good: the bounding set (so exec as uid 0 gains none), the
  // ambient, inheritable, permitted and effective sets; and no exec may grant any again.
  for (int cap = 0; cap <= 63; ++cap) {
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
      Die("drop capabilities");
    }
  }
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capset, &hdr, data) != 0) Die("drop capabilities");
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Die("no_new_privs");
  if (e.builtin) RunBuiltin(e);
  if (e.program.empty()) {
    (void)!::write(2, e.not_found.data(), e.not_found.size());
    ::_exit(127);
  }
  ::execve(e.program.c_str(), e.argv.data(), e.envp.data());
  Die("cannot run ", e.argv[0]);
}

// Sends the whole tree (every process of this PID namespace but the init itself) `sig` at
// once: stopped first, so a shell cannot see its children die and exit 0 before its own
// signal comes.
void SignalTree(int sig) {
  if (sig != SIGKILL) ::kill(-1, SIGSTOP);
  ::kill(-1, sig);
  if (sig != SIGKILL) ::kill(-1, SIGCONT);
}

// PID 1 of a command's namespaces. Never returns.
[[noreturn]] void TaskInit(int task, int request_fd, int in, int out, int err, const Self& self) {
  auto fail = [&](const std::string& why) {
    Send(task, "E" + why);
    ::_exit(1);
  };
  std::string data;
  char buf[65536];
  for (ssize_t n; (n = ::read(request_fd, buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(Why("read the request"));
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(request_fd);
  auto request = DecodeZygoteRequest(data);
  if (!request.ok()) fail(std::string(request.status().message()));
  const ZygoteRequest& r = *request;
  std::string why;
  if (!SetUpMounts(r, &why)) fail(why);
  // Nothing of this process (which keeps the capabilities it sets namespaces up with) may be
  // read or traced by the command.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (!Send(task, "R")) ::_exit(1);
  std::vector<int> fds;
  ssize_t got = Receive(task, &data, &fds);
  for (int fd : fds) ::close(fd);
  if (got <= 0 || data != "G") ::_exit(1);  // the worker gave up on it
  if (r.rlimit_data > 0) {
    rlimit rl{static_cast<rlim_t>(r.rlimit_data), static_cast<rlim_t>(r.rlimit_data)};
    ::setrlimit(RLIMIT_DATA, &rl);
  }
  if (r.rlimit_nproc > 0) {
    rlimit rl{static_cast<rlim_t>(r.rlimit_nproc), static_cast<rlim_t>(r.rlimit_nproc)};
    ::setrlimit(RLIMIT_NPROC, &rl);
  }
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, nullptr);
  int sfd = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  const Exec exec = PrepareExec(r, self);
  // vfork: the command does not pay for a copy of this process's page tables. A builtin runs
  // on in the child, which vfork does not allow: fork (this process is small, and single
  // threaded).
  pid_t command = exec.builtin ? ::fork() : ::vfork();
  if (command < 0) fail(Why("fork"));
  if (command == 0) ExecCommand(exec, in, out, err);
  for (int fd : {in, out, err}) {
    if (fd >= 0) ::close(fd);
  }
  int status = 0;
  bool ended = false;
  while (!ended) {
    pollfd p[2] = {{task, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0 && errno != EINTR) break;
    if (p[1].revents) {
      signalfd_siginfo si;
      while (::read(sfd, &si, sizeof si) > 0) {
      }
      for (;;) {
        int st;
        pid_t w = ::waitpid(-1, &st, WNOHANG);
        if (w <= 0) break;
        if (w == command) {
          status = st;
          ended = true;
        }
      }
    }
    if (p[0].revents && !ended) {
      got = Receive(task, &data, &fds);
      for (int fd : fds) ::close(fd);
      if (got == 0 || (got < 0 && errno != EAGAIN)) {
        ::kill(-1, SIGKILL);  // the worker is gone: so is the command
        ::_exit(1);
      }
      if (got >= 5 && data[0] == 'K') {
        int32_t sig;
        memcpy(&sig, data.data() + 1, sizeof sig);
        SignalTree(sig);
      }
    }
  }
  // The command's main process ended: the rest of its tree goes with it, then is reaped so its
  // CPU time counts.
  ::kill(-1, SIGKILL);
  while (::waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
  }
  rusage ru{};
  ::getrusage(RUSAGE_CHILDREN, &ru);
  zygote_io::TaskExit x;
  x.wait_status = status;
  x.cpu_micros = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec +
                 ru.ru_stime.tv_usec;
  x.max_rss_kib = ru.ru_maxrss;
  std::string msg = "X";
  msg.append(reinterpret_cast<const char*>(&x), sizeof x);
  Send(task, msg);
  ::_exit(0);
}

// A spare task init (a 'W' request): waits for its command ('C' on its task socket, with the
// descriptors an 'S' request brings but the task socket), then is that command's task init. Its
// worker has meanwhile moved it into its cgroup, so the command does not wait for that.
[[noreturn]] void SpareTaskInit(int task, const Self& self) {
  std::string data;
  std::vector<int> fds;
  ssize_t got;
  do {
    got = Receive(task, &data, &fds);
  } while (got < 0 && errno == EINTR);
  // The worker let it go (or the zygote ends): nothing ran here.
  if (got < 2 || data[0] != 'C' || fds.size() != (data[1] ? 4u : 3u)) ::_exit(0);
  TaskInit(task, fds[0], data[1] ? fds[3] : -1, fds[1], fds[2], self);
}

// One 'S' request (or 'W', `spare`): clone3 a task init into new namespaces and hand its pidfd
// to the worker.
void Spawn(int control, int sfd, const std::vector<int>& fds, bool has_stdin, bool spare,
           const Self& self) {
  const int task = fds[0];
  const int request = spare ? -1 : fds[1], out = spare ? -1 : fds[2], err = spare ? -1 : fds[3];
  const int in = has_stdin && !spare ? fds[4] : -1;
  int pidfd = -1;
  clone_args ca{};
  ca.flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_PIDFD;
  ca.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  ca.exit_signal = SIGCHLD;
  long pid = ::syscall(SYS_clone3, &ca, sizeof ca);
  if (pid == 0) {
    ::close(control);
    ::close(sfd);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (spare) SpareTaskInit(task, self);
    TaskInit(task, request, in, out, err, self);
  }
  if (pid < 0) {
    Send(task, "E" + Why("clone3"));
  } else {
    Send(task, "P", {pidfd});
    ::close(pidfd);
  }
  for (int fd : fds) ::close(fd);
}

}  // namespace

int ZygoteMain(int argc, char** argv, std::vector<ZygoteBuiltin> builtins) {
  const Self self{std::move(builtins), argc, argv};
  // volo __zygote (no arguments: everything comes over the control socket)
  const int control = zygote_io::kControlFd;
  ::fcntl(control, F_SETFD, FD_CLOEXEC);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, nullptr);
  int sfd = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0 || !Send(control, "Z")) {
    std::perror("volo __zygote");
    return 1;
  }
  std::string data;
  std::vector<int> fds;
  for (;;) {
    pollfd p[2] = {{control, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0 && errno != EINTR) return 1;
    if (p[1].revents) {
      signalfd_siginfo si;
      while (::read(sfd, &si, sizeof si) > 0) {
      }
      while (::waitpid(-1, nullptr, WNOHANG) > 0) {
      }
    }
    if (!p[0].revents) continue;
    ssize_t n = Receive(control, &data, &fds);
    // The worker closed its end (or died): the sandbox ends, and with it what runs in it.
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EMSGSIZE)) return 0;
    if (n >= 2 && data[0] == 'S' && fds.size() == (data[1] ? 5u : 4u)) {
      Spawn(control, sfd, fds, data[1] != 0, /*spare=*/false, self);
    } else if (n == 1 && data[0] == 'W' && fds.size() == 1) {
      Spawn(control, sfd, fds, false, /*spare=*/true, self);
    } else {
      for (int fd : fds) ::close(fd);
    }
  }
}

}  // namespace volo::worker
