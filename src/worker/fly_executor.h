// The worker's `fly` operation: runs chunks of a FLY program's fly instances (src/fly/remote.h)
// on a pool of threads, one chunk per thread at a time.
//
// A `fly` task's args (written by src/cluster):
//   {"program": "<sha256 of the source>", "file": "pi.fly",
//    "spec": "<FlyJob::RemoteSpec() text>"  or  "spec_blob": "<sha256>",
//    "first": i, "count": k, "args": ["<serialized argument>", ...] (optional)}
// The source (and a large spec) is fetched once from the planner's blob store
// (GET /api/v1/blobs/{sha256}) and cached; the program is compiled once per (hash, file).
// The task's result: {"returns": ["<value>", ...] or null when every one is null,
//                     "messages": [[instance, seq, channel, "<value>"], ...], "output": "..."};
// a failed instance fails the task with "instance I: <error>".
//
// Threading: Submit and Cancel from any thread; `done` runs on a pool thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"

namespace volo::fly {
class RemoteProgram;
}

namespace volo::worker {

struct FlyStats {
  int64_t programs_fetched = 0;  // blob GETs (sources and specs)
  int64_t programs_compiled = 0;
  int64_t chunks = 0;
  int64_t instances = 0;
};

class FlyExecutor {
 public:
  using Done = std::function<void(bool ok, std::string value)>;
  // `threads` pool threads (started on the first Submit); blobs come from `planner_url`,
  // fetched with `token` as a bearer token when it is not empty.
  FlyExecutor(int threads, std::string planner_url, std::string token = "");
  // Running chunks stop before their next instance; queued ones are dropped (their `done`
  // never runs).
  ~FlyExecutor();

  // Queues the chunk of task `id`.
  void Submit(uint64_t id, std::string args, Done done);
  // The planner cancelled task `id`: dropped if still queued (its `done` never runs), stopped
  // before its next instance if running. Unknown ids are ignored.
  void Cancel(uint64_t id);
  FlyStats stats() const;

 private:
  struct Item {
    uint64_t id = 0;
    std::string args;
    Done done;
    std::shared_ptr<std::atomic<bool>> stop;
  };
  void Loop();
  void Run(Item& item);
  Result<std::string> Blob(const std::string& hash);
  Result<std::shared_ptr<const fly::RemoteProgram>> Program(const std::string& hash,
                                                            const std::string& file);

  const int threads_;
  std::string planner_url_;
  std::string token_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;  // GUARDED_BY(mu_)
  // The stop flags of the running chunks, by task id. GUARDED_BY(mu_)
  std::map<uint64_t, std::shared_ptr<std::atomic<bool>>> running_;
  std::vector<std::thread> pool_;             // GUARDED_BY(mu_)
  std::mutex cache_mu_;                       // held while fetching, so a blob is fetched once
  std::map<std::string, std::string> blobs_;  // GUARDED_BY(cache_mu_)
  std::map<std::string, std::shared_ptr<const fly::RemoteProgram>> programs_;  // ditto
  std::atomic<int64_t> fetched_{0}, compiled_{0}, chunks_{0}, instances_{0};
};

}  // namespace volo::worker
