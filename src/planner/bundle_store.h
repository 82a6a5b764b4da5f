// Bundles: tar archives of a user's code and data (volo bundle push), named by the SHA-256 of
// their bytes, kept on disk under the planner's data directory (in memory without one) up to a
// total size, and collected once no task has named them for a grace period.
//
// Used on the planner's io thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace volo::planner {

struct BundleEntry {
  std::string id;
  uint64_t bytes = 0;
  double created = 0;    // Unix seconds of the upload (the file's mtime after a restart)
  double last_used = 0;  // the latest of `created` and the last sweep that found it referenced
};

class BundleStore {
 public:
  // `dir` empty: in memory. Otherwise bundles live in `dir` as files named by their id; the
  // directory is created, files already there are adopted (leftover temporaries removed).
  // `now` stamps adopted bundles as used, so a restart starts every grace period afresh.
  static Result<std::unique_ptr<BundleStore>> Open(const std::string& dir, uint64_t max_bytes,
                                                   double now);

  // 64 lowercase hex digits.
  static bool ValidId(std::string_view id);
  // Stores `bytes` as `id`. InvalidArgument when their SHA-256 is not `id`; FailedPrecondition
  // when the store would exceed its limit; IoError when the disk refuses. Storing a bundle it
  // already holds is a no-op.
  Status Put(const std::string& id, std::string bytes, double now);
  bool Has(const std::string& id) const { return entries_.count(id) != 0; }
  // The archive's bytes; NotFound when absent, IoError when its file cannot be read.
  Result<std::string> Read(const std::string& id) const;
  // NotFound when absent.
  Status Remove(const std::string& id);
  // Sorted by id.
  std::vector<BundleEntry> List() const;

  // Marks every bundle `referenced` says yes to as used at `now`, then removes those last used
  // before `now - grace_seconds`. Returns the ids removed.
  std::vector<std::string> Collect(const std::function<bool(const std::string&)>& referenced,
                                   double now, double grace_seconds);

  uint64_t bytes() const { return bytes_; }
  uint64_t max_bytes() const { return max_bytes_; }

 private:
  BundleStore(std::string dir, uint64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {}
  std::string PathOf(const std::string& id) const { return dir_ + "/" + id; }

  std::string dir_;
  uint64_t max_bytes_;
  uint64_t bytes_ = 0;
  std::map<std::string, BundleEntry> entries_;
  std::map<std::string, std::string> memory_;  // id -> bytes, without a directory
};

}  // namespace volo::planner
