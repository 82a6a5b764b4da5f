#include "fly/memory.h"

#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace volo::fly {

namespace {

constexpr int64_t kFoldBytes = 256 << 10;

std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_used{0};
std::atomic<uint64_t> g_limit{0};

// Trivially constructible, so reaching it costs no TLS initialisation guard.
struct ThreadCount {
  int64_t delta;  // bytes allocated (negative: freed) not yet folded into g_used
  bool armed;
};
thread_local ThreadCount t_count;

int64_t Fold(ThreadCount& t) {
  int64_t now = g_used.fetch_add(t.delta, std::memory_order_relaxed) + t.delta;
  t.delta = 0;
  return now;
}

// Would `more` bytes pass the limit? For large requests, checked before allocating.
bool Passes(const ThreadCount& t, uint64_t more) {
  uint64_t limit = g_limit.load(std::memory_order_relaxed);
  int64_t used = g_used.load(std::memory_order_relaxed) + t.delta;
  return limit != 0 && static_cast<uint64_t>(used < 0 ? 0 : used) + more > limit;
}

// After an allocation of `bytes` at p: count it; false if it passed the limit on an armed
// thread (the caller frees p and refuses).
bool Count(void* p, size_t* counted) {
  ThreadCount& t = t_count;
  *counted = malloc_usable_size(p);
  t.delta += static_cast<int64_t>(*counted);
  if (t.delta < kFoldBytes) return true;
  int64_t now = Fold(t);
  uint64_t limit = g_limit.load(std::memory_order_relaxed);
  return !(t.armed && limit != 0 && now > static_cast<int64_t>(limit));
}

void Uncount(size_t bytes) {
  ThreadCount& t = t_count;
  t.delta -= static_cast<int64_t>(bytes);
  if (t.delta <= -kFoldBytes) Fold(t);
}

void* Allocate(size_t n, bool nothrow) {
  if (n == 0) n = 1;
  if (!g_counting.load(std::memory_order_relaxed)) {
    void* p = std::malloc(n);
    if (p == nullptr && !nothrow) throw std::bad_alloc();
    return p;
  }
  ThreadCount& t = t_count;
  if (t.armed && n >= static_cast<size_t>(kFoldBytes) && Passes(t, n)) {
    if (nothrow) return nullptr;
    throw MemoryLimitExceeded();
  }
  void* p = std::malloc(n);
  if (p == nullptr) {
    if (nothrow) return nullptr;
    throw std::bad_alloc();
  }
  size_t counted;
  if (!Count(p, &counted)) {
    Uncount(counted);
    std::free(p);
    if (nothrow) return nullptr;
    throw MemoryLimitExceeded();
  }
  return p;
}

void Deallocate(void* p) {
  if (p == nullptr) return;
  if (g_counting.load(std::memory_order_relaxed)) Uncount(malloc_usable_size(p));
  std::free(p);
}

uint64_t ReadCgroupLimit() {
  // cgroup v2, then v1; "max" or a huge v1 value means none.
  for (const char* path :
       {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream in(path);
    std::string text;
    if (in >> text && !text.empty() && std::isdigit(static_cast<unsigned char>(text[0]))) {
      uint64_t v = std::strtoull(text.c_str(), nullptr, 10);
      if (v > 0 && v < (uint64_t{1} << 60)) return v;
    }
  }
  return 0;
}

}  // namespace

void SetMemoryLimit(uint64_t bytes) {
  g_limit.store(bytes, std::memory_order_relaxed);
  g_counting.store(bytes != 0, std::memory_order_relaxed);
}

uint64_t MemoryLimit() { return g_limit.load(std::memory_order_relaxed); }

uint64_t MemoryInUse() {
  int64_t used = g_used.load(std::memory_order_relaxed) + t_count.delta;
  return used < 0 ? 0 : static_cast<uint64_t>(used);
}

bool MemoryFits(uint64_t bytes) {
  uint64_t limit = MemoryLimit();
  if (limit == 0) limit = MachineMemory();
  uint64_t used = MemoryInUse();
  return used <= limit && bytes <= limit - used;
}

std::string OutOfMemoryMessage() {
  uint64_t limit = MemoryLimit();
  if (limit == 0) return "out of memory: an allocation failed";
  return "out of memory: the program used more than " + FormatByteSize(limit) + " (--max-memory)";
}

MemoryLimitScope::MemoryLimitScope(bool armed) : saved_(t_count.armed) { t_count.armed = armed; }
MemoryLimitScope::~MemoryLimitScope() { t_count.armed = saved_; }

void* CountedRealloc(void* p, size_t bytes) {
  if (!g_counting.load(std::memory_order_relaxed)) {
    void* q = std::realloc(p, bytes);
    if (q == nullptr) throw std::bad_alloc();
    return q;
  }
  ThreadCount& t = t_count;
  size_t old = p != nullptr ? malloc_usable_size(p) : 0;
  if (t.armed && bytes > old && bytes - old >= static_cast<size_t>(kFoldBytes) &&
      Passes(t, bytes - old)) {
    throw MemoryLimitExceeded();
  }
  void* q = std::realloc(p, bytes);
  if (q == nullptr) throw std::bad_alloc();
  Uncount(old);
  // The buffer moved or grew already, so it is kept even past the limit (throwing now would
  // leave the caller holding the old pointer); the next allocation is refused instead.
  size_t counted;
  Count(q, &counted);
  return q;
}

void CountedFree(void* p) { Deallocate(p); }

bool SplitNumberAndUnit(std::string_view text, double* value, std::string_view* unit) {
  size_t k = 0;
  while (k < text.size() && (std::isdigit(static_cast<unsigned char>(text[k])) || text[k] == '.')) {
    ++k;
  }
  if (k == 0) return false;
  std::string number(text.substr(0, k));
  char* end = nullptr;
  *value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || !(*value >= 0)) return false;
  *unit = text.substr(k);
  return true;
}

bool ParseByteSize(std::string_view text, uint64_t* out) {
  double v;
  std::string_view suffix;
  if (!SplitNumberAndUnit(text, &v, &suffix)) return false;
  std::string unit;
  for (char c : suffix) unit += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!unit.empty() && unit[0] == ' ') unit.erase(0, 1);
  double scale;
  if (unit.empty() || unit == "b") {
    scale = 1;
  } else if (unit == "k" || unit == "kb" || unit == "kib") {
    scale = 1024.0;
  } else if (unit == "m" || unit == "mb" || unit == "mib") {
    scale = 1024.0 * 1024;
  } else if (unit == "g" || unit == "gb" || unit == "gib") {
    scale = 1024.0 * 1024 * 1024;
  } else if (unit == "t" || unit == "tb" || unit == "tib") {
    scale = 1024.0 * 1024 * 1024 * 1024;
  } else {
    return false;
  }
  double bytes = std::round(v * scale);
  if (bytes >= 1.8e19) return false;
  *out = static_cast<uint64_t>(bytes);
  return true;
}

std::string FormatByteSize(uint64_t bytes) {
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  double v = static_cast<double>(bytes);
  int u = -1;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (std::fabs(v - std::round(v)) < 0.05) {
    std::snprintf(buf, sizeof buf, "%.0f %s", v, kUnits[u]);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  }
  return buf;
}

uint64_t MachineMemory() {
  static const uint64_t memory = [] {
    long pages = sysconf(_SC_PHYS_PAGES);
    long page = sysconf(_SC_PAGESIZE);
    uint64_t ram = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * page : uint64_t{4} << 30;
    uint64_t cgroup = ReadCgroupLimit();
    return cgroup != 0 && cgroup < ram ? cgroup : ram;
  }();
  return memory;
}

uint64_t DefaultMemoryLimit() { return MachineMemory() / 4 * 3; }

}  // namespace volo::fly

// ---- The global allocation functions (counted once a limit is set) ----
// Aligned forms are left to the library: FLY allocates none, and their pairs stay consistent.

void* operator new(size_t n) { return volo::fly::Allocate(n, false); }
void* operator new[](size_t n) { return volo::fly::Allocate(n, false); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  try {
    return volo::fly::Allocate(n, true);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  try {
    return volo::fly::Allocate(n, true);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { volo::fly::Deallocate(p); }
void operator delete[](void* p) noexcept { volo::fly::Deallocate(p); }
void operator delete(void* p, size_t) noexcept { volo::fly::Deallocate(p); }
void operator delete[](void* p, size_t) noexcept { volo::fly::Deallocate(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { volo::fly::Deallocate(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { volo::fly::Deallocate(p); }
