// The worker's cache of unpacked bundles: each bundle is fetched from the planner once
// (GET /api/v1/bundles/{id} with the join token), its SHA-256 checked, and unpacked read-only
// under `dir/<id>`. Tasks hold a Lease while they run; when the cache is over its size, the least
// recently used bundles that no task holds are removed. Each task runs in a fresh writable
// directory beside the bundles (`dir/tasks/...`), removed when the task is done.
//
// Threading: every method may be called from any thread. Two tasks asking for the same bundle
// at once share one fetch.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"

namespace volo::worker {

struct BundleCacheStats {
  int64_t fetches = 0;        // bundles transferred from the planner
  int64_t bytes_fetched = 0;  // their archive bytes
  int64_t hits = 0;           // tasks that found their bundle already unpacked
  int64_t evictions = 0;      // bundles removed to stay under the size cap
  int64_t bundles = 0;        // unpacked now
  int64_t bytes = 0;          // archive bytes of those (the cap counts these)
};

class BundleCache {
 public:
  // Fetches a bundle's archive: NotFound when the planner has no such bundle, Unavailable when
  // it cannot be reached.
  using Fetch = std::function<Result<std::string>(const std::string& id)>;
  // The fetch from a planner at `planner_url` with `join_token`.
  static Fetch FetchFromPlanner(std::string planner_url, std::string join_token);

  // Removes whatever an earlier process left in `dir` (it is created when missing).
  BundleCache(std::string dir, int64_t max_bytes, Fetch fetch);
  ~BundleCache();
  BundleCache(const BundleCache&) = delete;
  BundleCache& operator=(const BundleCache&) = delete;

  // Keeps a bundle from eviction while held.
  class Lease {
   public:
    ~Lease();
    const std::string& dir() const { return dir_; }  // absolute, read-only

   private:
    friend class BundleCache;
    Lease(BundleCache* cache, std::string id, std::string dir)
        : cache_(cache), id_(std::move(id)), dir_(std::move(dir)) {}
    BundleCache* cache_;
    std::string id_, dir_;
  };
  // The unpacked bundle `id`, fetched first when absent. InvalidArgument for a malformed id or
  // an archive that is refused; NotFound ("the planner has no bundle ..."); Corruption when the
  // bytes do not match the id; Unavailable when the planner cannot be reached.
  Result<std::unique_ptr<Lease>> Acquire(const std::string& id);

  // A fresh, empty, writable directory for one task (absolute path). RemoveTaskDir deletes it
  // with everything the task left in it.
  Result<std::string> MakeTaskDir();
  static void RemoveTaskDir(const std::string& path);

  BundleCacheStats stats() const;
  const std::string& dir() const { return dir_; }

 private:
  struct Entry {
    int64_t bytes = 0;
    int users = 0;
    bool ready = false;                    // unpacked; false while its fetch runs
    std::list<std::string>::iterator lru;  // position in lru_ (front: most recent)
  };
  void Release(const std::string& id);
  void EvictLocked();  // needs mu_

  const std::string dir_;
  const int64_t max_bytes_;
  const Fetch fetch_;
  mutable std::mutex mu_;
  std::condition_variable fetched_;
  std::map<std::string, Entry> entries_;  // GUARDED_BY(mu_)
  std::list<std::string> lru_;            // GUARDED_BY(mu_)
  BundleCacheStats stats_;                // GUARDED_BY(mu_)
  uint64_t next_task_ = 0;                // GUARDED_BY(mu_)
};

}  // namespace volo::worker
