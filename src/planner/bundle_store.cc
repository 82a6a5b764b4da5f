#include "planner/bundle_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/sha256.h"

namespace volo::planner {
namespace fs = std::filesystem;

namespace {

Status Errno(const std::string& what) { return IoError(what + ": " + std::strerror(errno)); }

// Writes and syncs `path.tmp`, then renames it over `path`: a crash leaves either no bundle or
// the whole one, never a truncated file under a valid name.
Status WriteAtomically(const std::string& path, const std::string& bytes) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create " + tmp);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = Errno("cannot write " + tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    Status s = Errno("cannot write " + tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = Errno("cannot rename " + tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  return Status::Ok();
}

}  // namespace

bool BundleStore::ValidId(std::string_view id) {
  return id.size() == 64 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

Result<std::unique_ptr<BundleStore>> BundleStore::Open(const std::string& dir, uint64_t max_bytes,
                                                       double now) {
  std::unique_ptr<BundleStore> store(new BundleStore(dir, max_bytes));
  if (dir.empty()) return store;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return IoError("cannot create " + dir + ": " + ec.message());
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (!ValidId(name) || !e.is_regular_file()) {
      // An upload cut short by a crash; nothing refers to it.
      if (name.ends_with(".tmp")) fs::remove(e.path(), ec);
      continue;
    }
    struct stat st;
    if (::stat(e.path().c_str(), &st) != 0) continue;
    BundleEntry b{name, static_cast<uint64_t>(st.st_size), static_cast<double>(st.st_mtime), now};
    store->bytes_ += b.bytes;
    store->entries_.emplace(name, std::move(b));
  }
  if (ec) return IoError("cannot list " + dir + ": " + ec.message());
  return store;
}

Status BundleStore::Put(const std::string& id, std::string bytes, double now) {
  if (Sha256Hex(bytes) != id) {
    return InvalidArgument("the body's SHA-256 is " + Sha256Hex(bytes) + ", not " + id);
  }
  if (auto it = entries_.find(id); it != entries_.end()) {
    it->second.last_used = now;
    return Status::Ok();
  }
  if (bytes_ + bytes.size() > max_bytes_) {
    return FailedPrecondition("the bundle store is full: " + std::to_string(bytes_) + " of " +
                              std::to_string(max_bytes_) + " bytes used, this bundle needs " +
                              std::to_string(bytes.size()) +
                              " (remove bundles with `volo bundle rm`, or raise "
                              "--max-bundle-bytes)");
  }
  BundleEntry b{id, bytes.size(), now, now};
  if (dir_.empty()) {
    memory_.emplace(id, std::move(bytes));
  } else {
    VOLO_RETURN_IF_ERROR(WriteAtomically(PathOf(id), bytes));
  }
  bytes_ += b.bytes;
  entries_.emplace(id, std::move(b));
  return Status::Ok();
}

Result<std::string> BundleStore::Read(const std::string& id) const {
  if (!entries_.count(id)) return NotFound("no bundle " + id);
  if (dir_.empty()) return memory_.at(id);
  std::string path = PathOf(id);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open " + path);
  std::string out;
  struct stat st;
  if (::fstat(fd, &st) == 0) out.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = Errno("cannot read " + path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Status BundleStore::Remove(const std::string& id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return NotFound("no bundle " + id);
  if (dir_.empty()) {
    memory_.erase(id);
  } else if (::unlink(PathOf(id).c_str()) != 0 && errno != ENOENT) {
    return Errno("cannot remove " + PathOf(id));
  }
  bytes_ -= it->second.bytes;
  entries_.erase(it);
  return Status::Ok();
}

std::vector<BundleEntry> BundleStore::List() const {
  std::vector<BundleEntry> out;
  out.reserve(entries_.size());
  for (const auto& [id, b] : entries_) out.push_back(b);
  return out;
}

std::vector<std::string> BundleStore::Collect(
    const std::function<bool(const std::string&)>& referenced, double now, double grace_seconds) {
  std::vector<std::string> stale;
  for (auto& [id, b] : entries_) {
    if (referenced(id)) {
      b.last_used = now;
    } else if (b.last_used < now - grace_seconds) {
      stale.push_back(id);
    }
  }
  std::vector<std::string> removed;
  for (const auto& id : stale) {
    if (Remove(id).ok()) removed.push_back(id);
  }
  return removed;
}

}  // namespace volo::planner
