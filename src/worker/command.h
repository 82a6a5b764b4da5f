// The worker's `exec` operation: runs a user's command (docs/rest-api.md, "Commands").
//
// A task's args (validated by wire::ValidateExecArgs):
//   {"cmd": ["prog", "arg", ...]} or {"shell": "command line"},
//   "env": {"NAME": "value"}, "stdin": "text", "cwd": "sub/dir", "timeout": seconds,
//   and "bundle", "cpus", "memory", "resources", "network", passed on to the Launcher.
// Each task runs in a fresh directory under the worker's work directory (removed afterwards),
// with an environment of PATH, HOME, USER, LOGNAME, LANG, LC_ALL, TZ and HOSTNAME from the
// worker, VOLO_TASK_ID and VOLO_TASK_DIR, then what the task sets.
//
// Its result: {"exit_code": 0, "stdout": "...", "stderr": "...", "stdout_truncated": false,
//   "stderr_truncated": false, "duration": s, "cpu_seconds": s, "max_rss": bytes}; the inline
// output is its first 64 KiB (invalid UTF-8 shown as U+FFFD). A non-zero exit, a signal or a
// timeout fails the attempt: "exited with status 3: <the tail of stderr>". The full output goes,
// byte for byte, to the LogSink as it is read, so the worker's memory never grows with it.
//
// A timeout or a Cancel sends SIGTERM to the whole process tree and SIGKILL after kill_grace;
// when the command's main process ends, whatever is left of its tree is killed.
//
// Threading: one thread per slot runs commands (never the worker's io thread). Submit and Cancel
// from any thread; `done` and the LogSink run on a slot thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"
#include "worker/bundle_cache.h"
#include "worker/launcher.h"
#include "worker/task_queue.h"

namespace volo::worker {

struct CommandStats {
  int64_t started = 0;    // commands started
  int64_t failed = 0;     // ended with a non-zero status, a signal or a timeout
  int64_t killed = 0;     // stopped by a timeout or a cancel
  int64_t log_bytes = 0;  // output bytes read and handed to the log sink
};

struct CommandOutcome {
  bool ok = false;
  std::string value;  // ok: the result JSON; else the error
};

struct CommandExecutorOptions {
  int slots = 1;
  std::string work_dir;                // tasks' directories go here; created when missing
  std::shared_ptr<Launcher> launcher;  // null: MakeDirectLauncher()
  // args.bundle is fetched, unpacked and held here while the task runs (its directory goes to
  // the Launcher read-only, and to the command as VOLO_BUNDLE_DIR); null: such tasks fail.
  std::shared_ptr<BundleCache> bundles;
  std::chrono::milliseconds kill_grace{5000};
  size_t inline_bytes = 64 << 10;  // of each of stdout and stderr, in the result
};

class CommandExecutor {
 public:
  using Done = std::function<void(CommandOutcome)>;
  // Output of task `id` as it is read: stream 1 stdout, 2 stderr. May block (back-pressure:
  // the command then waits on its full pipe); `cancelled` tells the sink to give up waiting.
  using LogSink = std::function<void(uint64_t id, int stream, std::string_view data,
                                     const std::atomic<bool>& cancelled)>;

  // Creates the work directory and starts the slot threads.
  static Result<std::unique_ptr<CommandExecutor>> Create(CommandExecutorOptions options,
                                                         LogSink sink);
  // Kills running commands (their `done` never runs) and joins the threads.
  ~CommandExecutor();

  void Submit(uint64_t id, std::string args, Done done);
  // Drops a queued task, or stops a running one (SIGTERM, SIGKILL after the grace); its `done`
  // never runs. Unknown ids are ignored.
  void Cancel(uint64_t id);
  CommandStats stats() const;
  const std::string& work_dir() const { return options_.work_dir; }

 private:
  struct Item {
    uint64_t id = 0;
    std::string args;
    Done done;
  };
  struct Slot;
  CommandExecutor(CommandExecutorOptions options, LogSink sink);
  void Loop(Slot& slot);
  CommandOutcome Run(Slot& slot, const Item& item);

  CommandExecutorOptions options_;
  LogSink sink_;
  std::string hostname_;
  std::vector<std::string> base_env_;
  std::mutex mu_;
  TaskQueue<Item> queue_{mu_};
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::thread> threads_;
  std::atomic<uint64_t> serial_{0};
  bool created_dir_ = false;  // the work directory did not exist before
  std::atomic<int64_t> started_{0}, failed_{0}, killed_{0}, log_bytes_{0};
};

// `s` with every invalid UTF-8 sequence replaced by U+FFFD (JSON text must be UTF-8).
std::string ValidUtf8(std::string_view s);

}  // namespace volo::worker
