#include "exec/run.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include <algorithm>

namespace volo::exec {

std::string RunResult::Describe() const {
  return timed_out ? std::string("timed out") : status.Describe();
}

namespace {

// Reads what is available on `fd` into `into`, keeping at most `cap` bytes; false at end of
// file (or on an error, which ends the stream the same way).
bool Drain(int fd, std::string& into, size_t cap, bool& truncated) {
  char buf[16384];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n < 0) return errno == EINTR || errno == EAGAIN;
  if (n == 0) return false;
  size_t room = into.size() < cap ? cap - into.size() : 0;
  size_t keep = std::min(room, static_cast<size_t>(n));
  into.append(buf, keep);
  if (keep < static_cast<size_t>(n)) truncated = true;
  return true;
}

}  // namespace

Result<RunResult> Run(SpawnOptions options, const RunLimits& limits) {
  options.out = Stdio::kPipe;
  options.err = Stdio::kPipe;
  // The group is what the timeout and the clean-up kill.
  options.new_process_group = true;
  VOLO_ASSIGN_OR_RETURN(Process p, Spawn(options));
  // Readable once the command itself has ended, even while something it started still holds
  // its stdout open.
  int exited_fd = ::pidfd_open(p.pid(), 0);
  RunResult r;
  using Clock = std::chrono::steady_clock;
  const bool has_deadline = limits.timeout.count() > 0;
  const Clock::time_point deadline = Clock::now() + limits.timeout;
  bool out_open = true, err_open = true, ended = false;
  while (!ended) {
    int wait_ms = -1;
    if (has_deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        r.timed_out = true;
        break;
      }
      wait_ms = static_cast<int>(std::min<int64_t>(left.count() + 1, 1 << 30));
    }
    // Without a pidfd (very old kernels), look for the end every 50 ms.
    if (exited_fd < 0) wait_ms = wait_ms < 0 ? 50 : std::min(wait_ms, 50);
    pollfd fds[3] = {{out_open ? p.stdout_fd() : -1, POLLIN, 0},
                     {err_open ? p.stderr_fd() : -1, POLLIN, 0},
                     {exited_fd, POLLIN, 0}};
    int n = ::poll(fds, 3, wait_ms);
    if (n < 0 && errno != EINTR) break;
    if (out_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      out_open = Drain(p.stdout_fd(), r.out, limits.max_output, r.out_truncated);
    }
    if (err_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      err_open = Drain(p.stderr_fd(), r.err, limits.max_output, r.err_truncated);
    }
    ended = exited_fd >= 0 ? (fds[2].revents & POLLIN) != 0 : p.TryWait().has_value();
  }
  if (ended) {
    // What the command wrote just before it ended is still in the pipes (bounded: something
    // it left behind may keep writing).
    for (int round = 0; round < 64; ++round) {
      pollfd rest[2] = {{out_open ? p.stdout_fd() : -1, POLLIN, 0},
                        {err_open ? p.stderr_fd() : -1, POLLIN, 0}};
      if ((!out_open && !err_open) || ::poll(rest, 2, 0) <= 0) break;
      if (out_open && (rest[0].revents & (POLLIN | POLLHUP | POLLERR))) {
        out_open = Drain(p.stdout_fd(), r.out, limits.max_output, r.out_truncated);
      }
      if (err_open && (rest[1].revents & (POLLIN | POLLHUP | POLLERR))) {
        err_open = Drain(p.stderr_fd(), r.err, limits.max_output, r.err_truncated);
      }
    }
  }
  if (exited_fd >= 0) ::close(exited_fd);
  // Whatever still runs in the group (the command after a timeout, or what it left behind)
  // goes. The leader is not reaped yet, so the group id cannot have been reused.
  (void)p.Signal(SIGKILL);
  r.status = p.Wait();
  return r;
}

}  // namespace volo::exec
