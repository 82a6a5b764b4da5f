#include "planner/blob_store.h"

#include "common/sha256.h"

namespace volo::planner {

bool BlobStore::ValidName(std::string_view hash) {
  return hash.size() == 64 && hash.find_first_not_of("0123456789abcdef") == std::string::npos;
}

Status BlobStore::Put(const std::string& hash, std::string bytes) {
  if (Sha256Hex(bytes) != hash) return InvalidArgument("the body's SHA-256 is not " + hash);
  if (blobs_.count(hash)) return Status::Ok();
  if (bytes_ + bytes.size() > max_bytes_) return FailedPrecondition("the blob store is full");
  bytes_ += bytes.size();
  blobs_.emplace(hash, std::move(bytes));
  return Status::Ok();
}

const std::string* BlobStore::Get(const std::string& hash) const {
  auto it = blobs_.find(hash);
  return it == blobs_.end() ? nullptr : &it->second;
}

}  // namespace volo::planner
