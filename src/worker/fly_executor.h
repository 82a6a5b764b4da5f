// The worker's `fly` operation: runs chunks of a FLY program's fly instances (src/fly/remote.h)
// in runner processes (fly_runner.h), one per slot, one chunk per runner at a time.
//
// A `fly` task's args (written by src/cluster):
//   {"program": "<sha256 of the source>", "file": "pi.fly",
//    "spec": "<FlyJob::RemoteSpec() text>"  or  "spec_blob": "<sha256>",
//    "first": i, "count": k, "args": ["<serialized argument>", ...] (optional)}
// The source (and a large spec) is fetched once per worker from the planner's blob store
// (GET /api/v1/blobs/{sha256}) and cached; each runner compiles a program once per (hash, file).
// The task's result: {"returns": ["<value>", ...] or null when every one is null,
//                     "messages": [[instance, seq, channel, "<value>"], ...], "output": "...",
//                     "output_offset": N};
// a failed instance fails the task with "instance I: <error>". What the instances print goes
// out live (Submit's `output`, as whole lines, while the chunk runs); the result's `output`
// holds only the rest, an unterminated last line, which starts at byte `output_offset` of the
// chunk's output (the field is absent when 0).
//
// Crash containment: a runner that dies while it runs a chunk (a signal, an exit, the
// out-of-memory killer) fails that chunk with `crashed` set and an error naming the instance
// it was running ("instance 3: killed by SIGFPE"); a new runner takes its slot. The worker
// process, its connection and its other chunks are untouched. A runner found dead before it
// took a chunk is replaced and the chunk sent to the new one.
//
// Threading: the constructor starts one thread per slot, each owning its runner (so the
// runner's parent-death signal is tied to a thread that lives as long as the executor).
// Submit and Cancel from any thread; `done` runs on a slot thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "worker/task_queue.h"

namespace volo::worker {

struct FlyStats {
  int64_t programs_fetched = 0;   // blob GETs (sources and specs)
  int64_t programs_compiled = 0;  // compilations, summed over runners
  int64_t chunks = 0;
  int64_t instances = 0;
  int64_t crashes = 0;  // runners that died running a chunk
  int64_t runners_started = 0;
};

// How a chunk ended.
struct FlyOutcome {
  bool ok = false;
  bool crashed = false;  // its runner died: `value` says how ("instance 3: killed by SIGSEGV")
  std::string value;     // ok: the result JSON; else the error
};

struct FlyExecutorOptions {
  int slots = 1;
  std::string planner_url;  // blobs come from here ...
  std::string token;        // ... fetched with this bearer token when not empty
  // The runner's program and arguments; the worker's pid is appended. Default: this binary,
  // re-executed (so an upgraded binary on disk never mixes versions), shown as `volo`.
  // Heap bytes FLY code may use in one runner (fly/memory.h); past it the instance fails with
  // "out of memory". 0: three quarters of the machine's memory shared among the slots.
  uint64_t runner_max_memory = 0;
  std::string runner_path = "/proc/self/exe";
  std::vector<std::string> runner_argv = {"volo", "__fly-runner"};
};

class FlyExecutor {
 public:
  using Done = std::function<void(FlyOutcome)>;
  // Output of the chunk as it is printed: `text` at byte `offset` of the chunk's output.
  using Output = std::function<void(uint64_t offset, std::string text)>;
  // Starts the slot threads, each of which starts its runner at once.
  explicit FlyExecutor(FlyExecutorOptions options);
  // Kills the runners; queued and running chunks are dropped (their `done` never runs).
  ~FlyExecutor();

  // Queues the chunk of task `id`. `output` (optional) and then `done` run on a slot thread;
  // every `output` of the chunk runs before its `done`.
  void Submit(uint64_t id, std::string args, Done done, Output output = nullptr);
  // The planner cancelled task `id`, or the worker gave it up: dropped if still queued (its
  // `done` never runs); if running, its runner is killed at once (whatever it is doing) and
  // replaced. Unknown ids are ignored.
  void Cancel(uint64_t id);
  FlyStats stats() const;

 private:
  struct Item {
    uint64_t id = 0;
    std::string args;
    Done done;
    Output output;
  };
  struct Slot;
  // A chunk's program, spec and arguments, ready to send to a runner.
  struct Chunk {
    std::string hash, file, source, spec;
    int64_t first = 0, count = 0;
    std::vector<std::string> args;
  };
  void Loop(Slot& slot);
  FlyOutcome Run(Slot& slot, const Item& item);
  Result<Chunk> Prepare(const std::string& args);
  Result<std::string> Blob(const std::string& hash);

  FlyExecutorOptions options_;
  std::mutex mu_;
  TaskQueue<Item> queue_{mu_};
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::thread> threads_;
  std::mutex cache_mu_;                       // held while fetching, so a blob is fetched once
  std::map<std::string, std::string> blobs_;  // GUARDED_BY(cache_mu_)
  std::atomic<int64_t> fetched_{0}, compiled_{0}, chunks_{0}, instances_{0}, crashes_{0},
      started_{0};
};

}  // namespace volo::worker
