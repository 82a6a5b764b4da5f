#include "worker/bundle_cache.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/sha256.h"
#include "net/client.h"
#include "worker/bundle_archive.h"

namespace volo::worker {
namespace fs = std::filesystem;

namespace {

bool ValidId(const std::string& id) {
  return id.size() == 64 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

BundleCache::Fetch BundleCache::FetchFromPlanner(std::string planner_url, std::string join_token) {
  return [url = std::move(planner_url),
          token = std::move(join_token)](const std::string& id) -> Result<std::string> {
    net::Headers headers;
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    auto r =
        net::HttpFetch("GET", url + "/api/v1/bundles/" + id, "", headers, std::chrono::minutes(10));
    if (!r.ok()) return Unavailable("fetching bundle " + id + ": " + r.status().message());
    if (r->status == 404) {
      return NotFound("the planner has no bundle " + id +
                      " (upload it with `volo bundle push DIR`)");
    }
    if (r->status != 200) {
      return Unavailable("fetching bundle " + id + ": HTTP " + std::to_string(r->status) + " " +
                         r->body.substr(0, 200));
    }
    return std::move(r->body);
  };
}

BundleCache::BundleCache(std::string dir, int64_t max_bytes, Fetch fetch)
    : dir_(fs::absolute(dir).lexically_normal().string()),
      max_bytes_(max_bytes),
      fetch_(std::move(fetch)) {
  std::error_code ec;
  // Bundles and task directories of an earlier run: their users are gone.
  if (fs::exists(dir_, ec)) {
    for (const auto& e : fs::directory_iterator(dir_, ec)) {
      // Only what this class makes: the directory may hold other things of the user's.
      std::string name = e.path().filename().string();
      if (ValidId(name) || name == "tasks" ||
          (name.ends_with(".unpacking") && ValidId(name.substr(0, 64)))) {
        RemoveTree(e.path().string());
      }
    }
  }
  fs::create_directories(dir_ + "/tasks", ec);
  if (ec) spdlog::error("bundle cache: cannot create {}: {}", dir_, ec.message());
}

BundleCache::~BundleCache() = default;

BundleCache::Lease::~Lease() { cache_->Release(id_); }

void BundleCache::Release(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  --it->second.users;
  EvictLocked();
}

void BundleCache::EvictLocked() {
  // Oldest first, skipping bundles in use or still being fetched.
  for (auto it = lru_.end(); stats_.bytes > max_bytes_ && it != lru_.begin();) {
    --it;
    auto e = entries_.find(*it);
    if (e->second.users > 0 || !e->second.ready) continue;
    std::string id = *it;
    stats_.bytes -= e->second.bytes;
    --stats_.bundles;
    ++stats_.evictions;
    entries_.erase(e);
    it = lru_.erase(it);
    RemoveTree(dir_ + "/" + id);
    spdlog::info("bundle {} evicted from the cache", id.substr(0, 12));
  }
}

Result<std::unique_ptr<BundleCache::Lease>> BundleCache::Acquire(const std::string& id) {
  if (!ValidId(id)) {
    return InvalidArgument("bundle: must be a SHA-256 (64 lowercase hex digits), not '" + id + "'");
  }
  std::string path = dir_ + "/" + id;
  std::unique_lock lock(mu_);
  for (;;) {
    auto it = entries_.find(id);
    if (it == entries_.end()) break;
    if (!it->second.ready) {
      // Someone else is fetching it; when they fail the entry goes and we try ourselves.
      fetched_.wait(lock);
      continue;
    }
    ++it->second.users;
    ++stats_.hits;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return std::unique_ptr<Lease>(new Lease(this, id, path));
  }
  Entry& entry = entries_[id];
  entry.users = 1;
  lru_.push_front(id);
  entry.lru = lru_.begin();
  lock.unlock();

  auto fail = [&](Status s) -> Result<std::unique_ptr<Lease>> {
    std::lock_guard relock(mu_);
    auto it = entries_.find(id);
    lru_.erase(it->second.lru);
    entries_.erase(it);
    fetched_.notify_all();
    return s;
  };
  auto bytes = fetch_(id);
  if (!bytes.ok()) return fail(bytes.status());
  if (Sha256Hex(*bytes) != id) {
    return fail(Corruption("bundle " + id + " from the planner does not match its SHA-256"));
  }
  std::string tmp = path + ".unpacking";
  RemoveTree(tmp);
  // A bundle unpacks to about its archive's size; the cap keeps a hostile one from filling the
  // disk beyond what the cache may use anyway.
  Status s = UnpackBundle(*bytes, tmp, static_cast<uint64_t>(std::max<int64_t>(max_bytes_, 1)));
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = IoError("cannot rename " + tmp + ": " + std::strerror(errno));
    RemoveTree(tmp);
  }
  if (!s.ok()) return fail(Status(s.code(), "bundle " + id + ": " + s.message()));
  spdlog::info("bundle {} fetched and unpacked ({} bytes)", id.substr(0, 12), bytes->size());

  lock.lock();
  Entry& e = entries_[id];
  e.ready = true;
  e.bytes = static_cast<int64_t>(bytes->size());
  ++stats_.fetches;
  stats_.bytes_fetched += e.bytes;
  ++stats_.bundles;
  stats_.bytes += e.bytes;
  EvictLocked();
  fetched_.notify_all();
  return std::unique_ptr<Lease>(new Lease(this, id, path));
}

Result<std::string> BundleCache::MakeTaskDir() {
  uint64_t n;
  {
    std::lock_guard lock(mu_);
    n = ++next_task_;
  }
  std::string path = dir_ + "/tasks/" + std::to_string(::getpid()) + "-" + std::to_string(n);
  if (::mkdir(path.c_str(), 0700) != 0) {
    return IoError("cannot create the task directory " + path + ": " + std::strerror(errno));
  }
  return path;
}

void BundleCache::RemoveTaskDir(const std::string& path) { RemoveTree(path); }

BundleCacheStats BundleCache::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace volo::worker
