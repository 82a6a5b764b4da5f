// Supervises one launched process tree until its main process has ended and its output has
// been read: the loop shared by the worker's children that write on pipes (the `exec`
// operation's commands, the `cmd` function runner's calls, an http function instance's server).
//
// One poll() waits on the child's stdout and stderr pipes, its exit_fd (launcher.h) and a wake
// eventfd. Output goes to on_output as it is read, so nothing here grows with it. The deadline,
// a stop the caller asks for (`check`, looked at on every turn of the loop, so at once after a
// wake), or on_output refusing more, sends SIGTERM to the tree and SIGKILL after kill_grace; a
// kill the caller asks for sends SIGKILL at once. Once the main process has ended (its Wait also
// kills what is left of its process group), output still in the pipes is read for up to
// `drain`: a process that left the group may hold them open, and the watch does not wait for it
// longer (WatchResult::held_open; the caller may sweep for it).
//
// Threading: WatchProcess blocks the calling thread; the callbacks run on it.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "worker/launcher.h"

namespace volo::worker {

// What the caller wants done with the child, asked on every turn of the watch's loop.
enum class WatchRequest {
  kNone,
  kStop,  // SIGTERM, then SIGKILL after the grace
  kKill,  // SIGKILL now (also after a SIGTERM already sent)
};

struct WatchOptions {
  // The read ends of the child's stdout (stream 0) and stderr (stream 1), non-blocking and
  // owned by the caller; -1: not watched.
  int out_fd = -1, err_fd = -1;
  // An eventfd (non-blocking, the caller's) whose write makes the watch look at `check` now;
  // drained here. -1: none.
  int wake_fd = -1;
  // SIGTERM when it passes before the main process ends (WatchResult::timed_out).
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::chrono::milliseconds kill_grace{5000};
  // After the main process ended, how long output still open is read before giving up.
  std::chrono::milliseconds drain{2000};
  // Bytes read from a stream, as they come; then an empty view once, when the stream has
  // ended or the watch gives up on it. Returning false stops the child (as the deadline does);
  // what it still writes is read and handed here all the same.
  std::function<bool(int stream, std::string_view data)> on_output;
  // Null: never asked.
  std::function<WatchRequest()> check;
};

struct WatchResult {
  CommandExit exit;        // from Launched::Wait
  bool timed_out = false;  // the deadline passed while it ran (and it was not stopped before)
  bool stopped = false;    // signalled or asked to stop (the deadline, check, on_output)
  bool held_open = false;  // a stream was still open when the drain ended
};

// The last `n` bytes of what went by: a stream's tail, for an error message.
class OutputTail {
 public:
  explicit OutputTail(size_t n) : n_(n) {}
  void Add(std::string_view data) {
    buf_.append(data);
    if (buf_.size() > 2 * n_) buf_.erase(0, buf_.size() - n_);
  }
  std::string Get() const { return buf_.size() > n_ ? buf_.substr(buf_.size() - n_) : buf_; }

 private:
  size_t n_;
  std::string buf_;
};

// A child's stdio for WatchProcess: its stdin from memory (a memfd) or none, its stdout and
// stderr on pipes whose read ends stay here, non-blocking once launched. Closes what it holds.
class ChildPipes {
 public:
  ChildPipes() = default;
  ~ChildPipes();
  ChildPipes(const ChildPipes&) = delete;
  ChildPipes& operator=(const ChildPipes&) = delete;

  // Makes the pipes, and a memfd holding `input` when it is given. IoError when it cannot.
  Status Open(const std::string* input);
  // Launches `spec` with them as its stdin, stdout and stderr (the launcher's errors as they are);
  // the write ends are closed here either way.
  Result<std::unique_ptr<Launched>> Launch(Launcher& launcher, LaunchSpec& spec);
  int out() const { return out_[0]; }
  int err() const { return err_[0]; }

 private:
  int in_ = -1, out_[2] = {-1, -1}, err_[2] = {-1, -1};
};

// `seconds` after `start`; never (time_point::max) when it is not positive.
std::chrono::steady_clock::time_point DeadlineAfter(std::chrono::steady_clock::time_point start,
                                                    double seconds);

// Returns once the main process has ended (reaped by Launched::Wait) and its streams have ended
// or the drain has passed.
WatchResult WatchProcess(Launched& proc, const WatchOptions& options);

}  // namespace volo::worker
