#include "planner/logs.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <filesystem>

#include "planner/core.h"

namespace volo::planner {
namespace fs = std::filesystem;

Result<std::unique_ptr<LogStore>> LogStore::Open(std::string dir, LogLimits limits) {
  std::unique_ptr<LogStore> store(new LogStore(dir, limits));
  if (dir.empty()) return store;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return IoError("cannot create the log directory " + dir + ": " + ec.message());
  // Files are ID.out and ID.err; the attempt they belong to is unknown after a restart (the
  // next chunk of a new attempt replaces them).
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    uint64_t id = 0;
    auto [ptr, err] = std::from_chars(name.data(), name.data() + name.size(), id);
    std::string_view ext(ptr, static_cast<size_t>(name.data() + name.size() - ptr));
    if (err != std::errc() || (ext != ".out" && ext != ".err")) continue;
    Entry& e = store->entries_[id];
    e.attempt = -1;
    Stream& s = e.s[ext == ".out" ? 0 : 1];
    s.size = entry.file_size(ec);
    store->total_ += s.size;
  }
  if (ec) return IoError("cannot read the log directory " + dir + ": " + ec.message());
  return store;
}

std::string LogStore::PathOf(uint64_t id, int stream) const {
  return dir_ + "/" + std::to_string(id) + (stream == 1 ? ".out" : ".err");
}

void LogStore::Reset(uint64_t id, Entry& e) {
  for (int k = 0; k < 2; ++k) {
    total_ -= e.s[k].size;
    e.s[k] = Stream{};
    if (!dir_.empty()) ::unlink(PathOf(id, k + 1).c_str());
  }
}

void LogStore::Append(uint64_t id, int attempt, int stream, std::string_view data) {
  if (stream != 1 && stream != 2) return;
  Entry& e = entries_[id];
  if (e.attempt != attempt) {
    Reset(id, e);
    e.attempt = attempt;
  }
  Stream& s = e.s[stream - 1];
  uint64_t used = e.s[0].size + e.s[1].size;
  uint64_t room = std::min(limits_.per_task > used ? limits_.per_task - used : 0,
                           limits_.total > total_ ? limits_.total - total_ : 0);
  if (data.size() > room) {
    s.truncated = true;
    data = data.substr(0, room);
  }
  if (!data.empty()) {
    if (dir_.empty()) {
      s.data.append(data);
    } else {
      int fd = ::open(PathOf(id, stream).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      size_t off = 0;
      while (fd >= 0 && off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
      }
      if (fd < 0 || off < data.size()) {
        spdlog::warn("logs: cannot write {}: {}", PathOf(id, stream), strerror(errno));
        s.truncated = true;
      }
      if (fd >= 0) ::close(fd);
      data = data.substr(0, off);
    }
    s.size += data.size();
    total_ += data.size();
  }
  Notify(id);
}

LogStore::Slice LogStore::Read(uint64_t id, int stream, uint64_t offset, size_t max) const {
  Slice out;
  auto it = entries_.find(id);
  if (it == entries_.end() || (stream != 1 && stream != 2)) return out;
  const Stream& s = it->second.s[stream - 1];
  out.size = s.size;
  out.truncated = s.truncated;
  if (offset >= s.size) return out;
  size_t n = static_cast<size_t>(std::min<uint64_t>(max, s.size - offset));
  if (dir_.empty()) {
    out.data = s.data.substr(static_cast<size_t>(offset), n);
    return out;
  }
  int fd = ::open(PathOf(id, stream).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  out.data.resize(n);
  ssize_t got = ::pread(fd, out.data.data(), n, static_cast<off_t>(offset));
  ::close(fd);
  out.data.resize(got > 0 ? static_cast<size_t>(got) : 0);
  return out;
}

uint64_t LogStore::Size(uint64_t id, int stream) const {
  auto it = entries_.find(id);
  if (it == entries_.end() || (stream != 1 && stream != 2)) return 0;
  return it->second.s[stream - 1].size;
}

size_t LogStore::DropMissing(const Core& core) {
  size_t n = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (core.Find(TaskId(it->first))) {
      ++it;
      continue;
    }
    Reset(it->first, it->second);
    watches_.erase(it->first);
    it = entries_.erase(it);
    ++n;
  }
  return n;
}

std::function<void()> LogStore::WatchOnce(uint64_t id, std::function<void()> fn) {
  uint64_t w = next_watch_++;
  watches_[id].emplace_back(w, std::move(fn));
  return [this, id, w] {
    auto it = watches_.find(id);
    if (it == watches_.end()) return;
    std::erase_if(it->second, [w](const auto& p) { return p.first == w; });
    if (it->second.empty()) watches_.erase(it);
  };
}

void LogStore::Notify(uint64_t id) {
  auto it = watches_.find(id);
  if (it == watches_.end()) return;
  auto fns = std::move(it->second);
  watches_.erase(it);
  for (auto& [w, fn] : fns) fn();
}

}  // namespace volo::planner
