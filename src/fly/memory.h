// FLY's memory limit (`volo run --max-memory`): a program that allocates more than the limit
// fails with "out of memory: the program used more than 2 GiB (--max-memory)" instead of dying
// of std::bad_alloc or being killed by the kernel.
//
// How: once a limit is set, memory.cc's replacement of the global operator new/delete counts
// the heap bytes the process holds (malloc_usable_size; each thread folds its count into the
// shared total every 256 KiB, so the check costs a thread-local add). OrderedMap's raw buffers
// go through CountedRealloc/CountedFree. An allocation made on a thread that holds a
// MemoryLimitScope (the VM holds one while it runs FLY code) and that would pass the limit
// throws MemoryLimitExceeded; Vm::Call turns it into a runtime error. Allocations on other
// threads (the runtime's own bookkeeping, error reporting) are counted but never refused.
// Without a limit nothing is counted and operator new is malloc.
//
// The limit is process-wide: one program per process (volo run, a worker's chunk runner).
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <string_view>

namespace volo::fly {

// Sets the limit in bytes; 0 removes it. Call before the program starts allocating (memory
// allocated before is not counted, and its release is clamped away).
void SetMemoryLimit(uint64_t bytes);
uint64_t MemoryLimit();
// Heap bytes the process holds now, as counted (0 without a limit).
uint64_t MemoryInUse();
// Whether `bytes` more fit: under the limit, or without one under the machine's memory.
bool MemoryFits(uint64_t bytes);
// "out of memory: the program used more than 2 GiB (--max-memory)".
std::string OutOfMemoryMessage();

// Thrown by operator new on a thread with a live MemoryLimitScope when the limit is passed.
class MemoryLimitExceeded : public std::bad_alloc {
 public:
  const char* what() const noexcept override { return "FLY memory limit exceeded"; }
};

// While alive, allocations on this thread that pass the limit throw (armed) or never do
// (unarmed: error reporting, destructors). Scopes nest; each restores what it found.
class MemoryLimitScope {
 public:
  explicit MemoryLimitScope(bool armed);
  ~MemoryLimitScope();
  MemoryLimitScope(const MemoryLimitScope&) = delete;
  MemoryLimitScope& operator=(const MemoryLimitScope&) = delete;

 private:
  bool saved_;
};

// realloc/free that count (OrderedMap's buffers). CountedRealloc throws as operator new does.
void* CountedRealloc(void* p, size_t bytes);
void CountedFree(void* p);

// The non-negative decimal number (digits and dots: "12", "1.5") that `text` starts with in
// *value and what follows it in *unit; false when there is none. ParseByteSize's and
// ParseDuration's (interpreter.h) first step.
bool SplitNumberAndUnit(std::string_view text, double* value, std::string_view* unit);
// "2G", "512M", "1.5GiB", "64k", "1000000" (bytes); units are binary (K = 1024).
bool ParseByteSize(std::string_view text, uint64_t* out);
// "2 GiB", "512 MiB", "1.5 GiB", "900 bytes".
std::string FormatByteSize(uint64_t bytes);
// The machine's memory, or the cgroup's limit if lower.
uint64_t MachineMemory();
// `volo run`'s default: three quarters of MachineMemory().
uint64_t DefaultMemoryLimit();

}  // namespace volo::fly
