// Content-addressed blobs (FLY programs and data shipped to workers), named by the SHA-256 of
// their bytes, held in memory up to a total size. Used on the planner's io thread only.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/status.h"

namespace volo::planner {

class BlobStore {
 public:
  explicit BlobStore(size_t max_bytes = size_t{256} << 20) : max_bytes_(max_bytes) {}

  // 64 lowercase hex digits.
  static bool ValidName(std::string_view hash);
  // Stores `bytes` as `hash`. InvalidArgument when the bytes' SHA-256 is not `hash`,
  // FailedPrecondition when the store is full. Storing a blob it already holds is a no-op.
  Status Put(const std::string& hash, std::string bytes);
  // Null when absent.
  const std::string* Get(const std::string& hash) const;
  size_t bytes() const { return bytes_; }

 private:
  size_t max_bytes_;
  size_t bytes_ = 0;
  std::unordered_map<std::string, std::string> blobs_;
};

}  // namespace volo::planner
