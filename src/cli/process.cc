#include "cli/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "common/exec_report.h"

namespace volo::cli {

Result<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  // Everything the child needs is made before fork: after it, only async-signal-safe calls.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int log_fd = -1;
  if (!log_path.empty()) {
    log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) return IoError("cannot open " + log_path + ": " + std::strerror(errno));
  }
  // The child writes exec's errno here when exec fails; a successful exec closes it unwritten.
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    const int e = errno;
    if (log_fd >= 0) close(log_fd);
    return IoError(std::string("cannot start ") + argv[0] + ": pipe: " + std::strerror(e));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    // A process group of its own, so a terminal's Ctrl-C reaches only `volo up`, which then
    // stops its fleet in order (workers drain before the planner goes). And SIGTERM when `volo
    // up` dies without that (SIGKILL, a crash): a fleet never outlives the command that owns it.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);  // `volo up` died between fork and prctl
    if (log_fd >= 0) {
      dup2(log_fd, 1);
      dup2(log_fd, 2);
    }
    execv(args[0], args.data());
    ExecFailed(report[1]);
  }
  const int fork_errno = errno;
  if (log_fd >= 0) close(log_fd);
  if (pid < 0) {
    close(report[0]);
    close(report[1]);
    return IoError("cannot start " + argv[0] + ": fork: " + std::strerror(fork_errno));
  }
  if (int exec_errno = AwaitExec(report, pid); exec_errno != 0) {
    return IoError("cannot start " + argv[0] + ": " + std::strerror(exec_errno));
  }
  return pid;
}

void Signal(pid_t pid, int sig) {
  if (pid > 0) kill(pid, sig);
}

bool WaitExit(pid_t pid, double seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string SelfPath() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "volo";
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace volo::cli
