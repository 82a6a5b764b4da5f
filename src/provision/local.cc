#include "provision/local.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "common/exec_report.h"
#include "exec/process.h"

extern char** environ;

namespace volo::provision {
namespace {

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

std::string SelfBinary() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "volo";
  return std::string(buf, static_cast<size_t>(n));
}

LocalProvisioner::LocalProvisioner(const Clock& clock, LocalOptions options)
    : clock_(clock), options_(std::move(options)) {}

LocalProvisioner::~LocalProvisioner() {
  for (auto& [id, c] : children_) {
    kill(-c.pid, SIGKILL);
    kill(c.pid, SIGKILL);
    waitpid(c.pid, nullptr, 0);
  }
}

std::vector<std::string> LocalProvisioner::Argv(const WorkerRequest& r) const {
  std::vector<std::string> argv = {options_.binary};
  argv.insert(argv.end(), options_.command.begin(), options_.command.end());
  argv.insert(argv.end(),
              {"--planner", options_.planner_url, "--id", r.id, "--ops", Join(r.ops), "--slots",
               std::to_string(r.slots), "--port=-1", "--sandbox", options_.sandbox});
  if (r.functions > 0) argv.insert(argv.end(), {"--functions", std::to_string(r.functions)});
  return argv;
}

std::vector<std::string> LocalProvisioner::Environment() const {
  // The planner's variables that a worker would read as its own.
  static const char* const kDrop[] = {
      "PORT=",       "PLANNER=",    "VOLO_PLANNER=",    "VOLO_WORKER_ID=", "VOLO_WORK_DIR=",
      "VOLO_SLOTS=", "VOLO_TOKEN=", "VOLO_JOIN_TOKEN=", "ADDRESS=",        "ADD=",
      "MULT=",       "TASKS=",      "VOLO_BIND="};
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    bool drop = false;
    for (const char* d : kDrop) drop = drop || std::strncmp(*e, d, std::strlen(d)) == 0;
    if (!drop) env.emplace_back(*e);
  }
  if (!options_.join_token.empty()) env.push_back("VOLO_JOIN_TOKEN=" + options_.join_token);
  return env;
}

Status LocalProvisioner::Start(const WorkerRequest& request) {
  if (children_.count(request.id)) return AlreadyExists("worker " + request.id + " is running");
  // Everything the child needs is made before fork: after it, only async-signal-safe calls.
  const std::vector<std::string> argv = Argv(request), env = Environment();
  std::vector<char*> args, envp;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  // The child writes exec's errno here when exec fails; a successful exec closes it unwritten.
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    return IoError("cannot start " + request.id + ": pipe: " + std::strerror(errno));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);  // the planner died between fork and prctl
    // Signals the planner blocks or ignores are the worker's to handle.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(args[0], args.data(), envp.data());
    ExecFailed(report[1]);
  }
  const int fork_errno = errno;
  if (pid < 0) {
    close(report[0]);
    close(report[1]);
    return IoError("cannot start " + request.id + ": fork: " + std::strerror(fork_errno));
  }
  if (int exec_errno = AwaitExec(report, pid); exec_errno != 0) {
    return IoError("cannot start " + options_.binary + " for " + request.id + ": " +
                   std::strerror(exec_errno));
  }
  children_[request.id] = Child{pid, std::nullopt};
  return Status::Ok();
}

void LocalProvisioner::Stop(const std::string& id, Nanos grace) {
  auto it = children_.find(id);
  if (it == children_.end()) return;
  kill(it->second.pid, SIGTERM);
  TimePoint at = clock_.Now() + grace;
  if (!it->second.kill_at || at < *it->second.kill_at) it->second.kill_at = at;
}

std::vector<Ended> LocalProvisioner::Poll() {
  std::vector<Ended> out;
  const TimePoint now = clock_.Now();
  for (auto it = children_.begin(); it != children_.end();) {
    Child& c = it->second;
    int wstatus = 0;
    pid_t r = waitpid(c.pid, &wstatus, WNOHANG);
    if (r == c.pid || (r < 0 && errno == ECHILD)) {
      out.push_back(
          {it->first, r == c.pid ? exec::ExitStatus::FromWait(wstatus).Describe() : "ended"});
      it = children_.erase(it);
      continue;
    }
    if (c.kill_at && now >= *c.kill_at) {
      kill(-c.pid, SIGKILL);
      kill(c.pid, SIGKILL);
      c.kill_at.reset();  // reaped by a later Poll
    }
    ++it;
  }
  return out;
}

void LocalProvisioner::StopAll(Nanos grace) {
  // A worker drains on its first SIGTERM and leaves at once on the second: its tasks' results
  // could not reach a planner that is going anyway (they run again after a restart).
  for (auto& [id, c] : children_) kill(c.pid, SIGTERM);
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + grace;
  bool second = false;
  while (!children_.empty() && std::chrono::steady_clock::now() < deadline) {
    if (!second && std::chrono::steady_clock::now() >= start + std::chrono::milliseconds(100)) {
      second = true;
      for (auto& [id, c] : children_) kill(c.pid, SIGTERM);
    }
    for (auto it = children_.begin(); it != children_.end();) {
      pid_t r = waitpid(it->second.pid, nullptr, WNOHANG);
      it = (r == it->second.pid || (r < 0 && errno == ECHILD)) ? children_.erase(it) : ++it;
    }
    if (!children_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& [id, c] : children_) {
    kill(-c.pid, SIGKILL);
    kill(c.pid, SIGKILL);
    waitpid(c.pid, nullptr, 0);
  }
  children_.clear();
}

std::optional<pid_t> LocalProvisioner::pid(const std::string& id) const {
  auto it = children_.find(id);
  if (it == children_.end()) return std::nullopt;
  return it->second.pid;
}

}  // namespace volo::provision
