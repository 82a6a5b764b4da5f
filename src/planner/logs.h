// The full output of command tasks (the exec operation), as workers stream it while the tasks
// run (docs/protocol.md, `logs`), for GET /api/v1/tasks/{id}/logs and `volo logs`.
//
// Each task has two streams, stdout (1) and stderr (2), kept byte for byte (binary and invalid
// UTF-8 included) for its latest attempt: the first chunk of a new attempt replaces the earlier
// attempt's output. With a directory (the planner's --data) streams are files there and survive
// a restart; without one they live in memory. Limits: bytes per task (both streams together)
// and in total; past either, further output is dropped and the stream marked truncated. A
// task's logs go when Core prunes the task (DropMissing).
//
// Threading: the planner's io thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"

namespace volo::planner {

class Core;

struct LogLimits {
  uint64_t per_task = 64ull << 20;
  uint64_t total = 1ull << 30;
};

class LogStore {
 public:
  // `dir` empty: in memory. Otherwise created if missing, and what it holds is indexed.
  static Result<std::unique_ptr<LogStore>> Open(std::string dir, LogLimits limits);

  // Output of `attempt` of task `id` on `stream` (1 or 2).
  void Append(uint64_t id, int attempt, int stream, std::string_view data);

  struct Slice {
    std::string data;
    uint64_t size = 0;  // bytes of the stream kept so far
    bool truncated = false;
  };
  // Up to `max` bytes of the stream from `offset`.
  Slice Read(uint64_t id, int stream, uint64_t offset, size_t max) const;
  uint64_t Size(uint64_t id, int stream) const;

  // Drops the logs of tasks Core no longer knows (pruned); returns how many.
  size_t DropMissing(const Core& core);
  // Runs `fn` once, at the next output of task `id`. Returns a function that forgets it.
  std::function<void()> WatchOnce(uint64_t id, std::function<void()> fn);
  uint64_t total_bytes() const { return total_; }

 private:
  struct Stream {
    uint64_t size = 0;
    bool truncated = false;
    std::string data;  // in memory only
  };
  struct Entry {
    int attempt = 0;
    Stream s[2];
  };
  LogStore(std::string dir, LogLimits limits) : dir_(std::move(dir)), limits_(limits) {}
  std::string PathOf(uint64_t id, int stream) const;
  void Reset(uint64_t id, Entry& e);
  void Notify(uint64_t id);

  std::string dir_;
  LogLimits limits_;
  uint64_t total_ = 0;
  std::unordered_map<uint64_t, Entry> entries_;
  uint64_t next_watch_ = 1;
  std::unordered_map<uint64_t, std::vector<std::pair<uint64_t, std::function<void()>>>> watches_;
};

}  // namespace volo::planner
