// Reference cycles: a map or an array that holds itself, directly or through others, keeps its
// own count above zero, so reference counting alone never frees it. Rather than a tracing
// collector, each run (a Runtime) keeps a Heap: a registry of every array and map made while
// the run's code executes, and when the run ends Heap::Collect frees the cycles that nothing
// outside the registry refers to any more.
//
// Registration: an array or map (ContainerObj) links itself into the Heap that is current on
// its thread (HeapScope; Vm::Call and the executors set it) and unlinks itself when freed. A
// Heap keeps one shard per thread, each a list with its own lock, so threads of one run never
// contend on allocation; an object freed on another thread (a fly result, a channel message)
// takes its shard's lock. Objects made with no current Heap are not registered.
//
// Collect (trial deletion, as in Bacon and Rajan's synchronous cycle collection): each
// registered container's count minus the references other registered containers hold to it
// is what the outside (stacks, globals, channels, C++ code) holds. Containers with an outside
// reference, and everything they reach, stay alive; the rest can only be reached from each
// other, so they are garbage: their contents are released and they are freed. Survivors are
// detached from the Heap, so values that outlive the run (results handed on, the REPL's
// globals) stay valid and are freed by their counts as before. Collect runs when no code of
// the run executes any more (Runtime's destructor), so nothing changes under it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace volo::fly {

struct ContainerObj;

// One thread's registered containers in one Heap: an intrusive doubly linked list.
class HeapShard {
 public:
  void Link(ContainerObj* o);
  void Unlink(ContainerObj* o);

 private:
  friend class Heap;
  std::mutex mu_;
  ContainerObj* head_ = nullptr;  // GUARDED_BY(mu_)
  size_t count_ = 0;              // GUARDED_BY(mu_)
};

class Heap {
 public:
  Heap();
  ~Heap();
  Heap(const Heap&) = delete;
  Heap& operator=(const Heap&) = delete;

  // Frees the registered containers that only other registered containers refer to and
  // detaches the rest; returns how many it freed. No thread may run code of this Heap's run
  // meanwhile. Afterwards the Heap is empty and can register again.
  size_t Collect();
  // Containers registered now (for tests and diagnostics).
  size_t Registered();

  // The calling thread's shard (made on first use).
  HeapShard* ShardForThisThread();

 private:
  void Detach();

  const uint64_t id_;
  std::mutex mu_;
  std::unordered_map<std::thread::id, std::unique_ptr<HeapShard>> shards_;  // GUARDED_BY(mu_)
};

// The Heap containers made on this thread register in (null: none).
Heap* CurrentHeap();

// While alive, `heap` is the calling thread's current Heap. Scopes nest; each restores what it
// found.
class HeapScope {
 public:
  explicit HeapScope(Heap* heap);
  ~HeapScope();
  HeapScope(const HeapScope&) = delete;
  HeapScope& operator=(const HeapScope&) = delete;

 private:
  Heap* saved_;
};

}  // namespace volo::fly
