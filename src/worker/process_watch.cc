#include "worker/process_watch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace volo::worker {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kNever = Clock::time_point::max();
constexpr size_t kReadChunk = 64 << 10;

std::string Errno(int err) { return strerrordesc_np(err) ? strerrordesc_np(err) : "error"; }

}  // namespace

ChildPipes::~ChildPipes() {
  for (int fd : {in_, out_[0], out_[1], err_[0], err_[1]}) {
    if (fd >= 0) ::close(fd);
  }
}

Status ChildPipes::Open(const std::string* input) {
  if (input) {
    in_ = ::memfd_create("volo-stdin", MFD_CLOEXEC);
    if (in_ < 0) return IoError("memfd_create: " + Errno(errno));
    for (size_t off = 0; off < input->size();) {
      ssize_t n = ::write(in_, input->data() + off, input->size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return IoError("cannot buffer the child's stdin: " + Errno(errno));
      off += static_cast<size_t>(n);
    }
    ::lseek(in_, 0, SEEK_SET);
  }
  if (::pipe2(out_, O_CLOEXEC) != 0 || ::pipe2(err_, O_CLOEXEC) != 0) {
    return IoError("pipe: " + Errno(errno));
  }
  return Status::Ok();
}

Result<std::unique_ptr<Launched>> ChildPipes::Launch(Launcher& launcher, LaunchSpec& spec) {
  spec.stdin_fd = in_;
  spec.stdout_fd = out_[1];
  spec.stderr_fd = err_[1];
  auto launched = launcher.Launch(spec);
  // The child has its own copies: the pipes end when it (and what it started) closes them.
  for (int* fd : {&out_[1], &err_[1]}) {
    ::close(*fd);
    *fd = -1;
  }
  ::fcntl(out_[0], F_SETFL, O_NONBLOCK);
  ::fcntl(err_[0], F_SETFL, O_NONBLOCK);
  return launched;
}

Clock::time_point DeadlineAfter(Clock::time_point start, double seconds) {
  if (seconds <= 0) return kNever;
  return start +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

WatchResult WatchProcess(Launched& proc, const WatchOptions& o) {
  WatchResult res;
  Clock::time_point deadline = o.deadline, kill_at = kNever, drain_until = kNever;
  bool exited = false, kill_sent = false;
  const int fds[2] = {o.out_fd, o.err_fd};
  bool open[2] = {fds[0] >= 0, fds[1] >= 0};
  std::vector<char> buf(kReadChunk);

  // Once the main process has been reaped nothing is signalled any more: Wait killed what was
  // left of its group, and its pid may be another process's by now.
  auto stop = [&] {
    if (res.stopped) return;
    res.stopped = true;
    if (exited) return;
    (void)proc.Signal(SIGTERM);
    kill_at = Clock::now() + o.kill_grace;
  };
  auto kill = [&] {
    res.stopped = true;
    kill_at = kNever;
    if (exited || kill_sent) return;
    kill_sent = true;
    (void)proc.Signal(SIGKILL);
  };
  auto end = [&](int s) {
    open[s] = false;
    if (o.on_output) (void)o.on_output(s, {});
  };

  while (open[0] || open[1] || !exited) {
    const auto now = Clock::now();
    if (now >= deadline) {
      deadline = kNever;  // once: past it the poll must not spin through the grace
      if (!res.stopped) {
        res.timed_out = true;
        stop();
      }
    }
    if (now >= kill_at) kill();
    if (exited && now >= drain_until) break;
    if (o.check) {
      switch (o.check()) {
        case WatchRequest::kNone:
          break;
        case WatchRequest::kStop:
          stop();
          break;
        case WatchRequest::kKill:
          kill();
          break;
      }
    }
    const auto next = std::min({deadline, kill_at, drain_until});
    int timeout_ms = -1;
    if (next != kNever) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1;
      timeout_ms = static_cast<int>(std::clamp<int64_t>(ms, 0, 60000));
    }
    pollfd p[4];
    int n = 0;
    int idx[2] = {-1, -1}, exit_idx = -1, wake_idx = -1;
    for (int s = 0; s < 2; ++s) {
      if (open[s]) {
        idx[s] = n;
        p[n++] = {fds[s], POLLIN, 0};
      }
    }
    if (!exited) {
      exit_idx = n;
      p[n++] = {proc.exit_fd(), POLLIN, 0};
    }
    if (o.wake_fd >= 0) {
      wake_idx = n;
      p[n++] = {o.wake_fd, POLLIN, 0};
    }
    int r = ::poll(p, static_cast<nfds_t>(n), timeout_ms);
    if (r < 0 && errno != EINTR) {
      spdlog::error("process {}: poll: {}", proc.pid(), strerrordesc_np(errno));
      stop();
      continue;
    }
    if (r <= 0) continue;
    if (wake_idx >= 0 && p[wake_idx].revents) {
      uint64_t drain;
      while (::read(o.wake_fd, &drain, sizeof drain) > 0) {
      }
    }
    for (int s = 0; s < 2; ++s) {
      if (idx[s] < 0 || !p[idx[s]].revents) continue;
      for (;;) {
        ssize_t got = ::read(fds[s], buf.data(), buf.size());
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (got <= 0) {
          end(s);
          break;
        }
        std::string_view data(buf.data(), static_cast<size_t>(got));
        if (o.on_output && !o.on_output(s, data)) stop();
        // A short read emptied the pipe: no second read only to hear EAGAIN.
        if (static_cast<size_t>(got) < buf.size()) break;
      }
    }
    if (exit_idx >= 0 && p[exit_idx].revents) {
      res.exit = proc.Wait();
      exited = true;
      deadline = kill_at = kNever;
      drain_until = Clock::now() + o.drain;
    }
  }
  for (int s = 0; s < 2; ++s) {
    if (open[s]) {
      res.held_open = true;
      end(s);
    }
  }
  return res;
}

}  // namespace volo::worker
