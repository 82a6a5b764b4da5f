#include "fly/heap.h"

#include <atomic>
#include <unordered_set>
#include <vector>

#include "fly/memory.h"
#include "fly/value.h"

namespace volo::fly {

namespace {

thread_local Heap* current_heap = nullptr;

// The last shard this thread used, by Heap id (ids are never reused, so a Heap made at the
// address of a destroyed one cannot pick up its stale shard).
struct ShardCache {
  uint64_t heap_id = 0;
  HeapShard* shard = nullptr;
};
thread_local ShardCache shard_cache;

std::atomic<uint64_t> next_heap_id{1};

bool IsContainer(Value v) {
  return v.tag == Tag::kObj && (v.o->kind == ObjKind::kArray || v.o->kind == ObjKind::kMap);
}

// Calls fn(ContainerObj*) for every array or map `o` holds (map keys included).
template <typename Fn>
void EachChild(ContainerObj* o, Fn&& fn) {
  if (o->kind == ObjKind::kArray) {
    for (Value v : static_cast<ArrayObj*>(o)->v) {
      if (IsContainer(v)) fn(static_cast<ContainerObj*>(v.o));
    }
    return;
  }
  for (const auto& e : static_cast<MapObj*>(o)->m.entries()) {
    if (e.key.IsNull()) continue;  // a removed entry
    if (IsContainer(e.key)) fn(static_cast<ContainerObj*>(e.key.o));
    if (IsContainer(e.val)) fn(static_cast<ContainerObj*>(e.val.o));
  }
}

}  // namespace

Heap* CurrentHeap() { return current_heap; }

HeapScope::HeapScope(Heap* heap) : saved_(current_heap) { current_heap = heap; }
HeapScope::~HeapScope() { current_heap = saved_; }

ContainerObj::ContainerObj(ObjKind k) : Obj(k) {
  if (Heap* heap = current_heap) {
    shard = heap->ShardForThisThread();
    shard->Link(this);
  }
}

ContainerObj::~ContainerObj() {
  if (shard != nullptr) shard->Unlink(this);
}

void HeapShard::Link(ContainerObj* o) {
  std::lock_guard<std::mutex> lock(mu_);
  o->prev = nullptr;
  o->next = head_;
  if (head_ != nullptr) head_->prev = o;
  head_ = o;
  ++count_;
}

void HeapShard::Unlink(ContainerObj* o) {
  std::lock_guard<std::mutex> lock(mu_);
  if (o->prev != nullptr) {
    o->prev->next = o->next;
  } else {
    head_ = o->next;
  }
  if (o->next != nullptr) o->next->prev = o->prev;
  o->prev = o->next = nullptr;
  --count_;
}

Heap::Heap() : id_(next_heap_id.fetch_add(1, std::memory_order_relaxed)) {}

Heap::~Heap() { Detach(); }

HeapShard* Heap::ShardForThisThread() {
  ShardCache& cache = shard_cache;
  if (cache.heap_id == id_) return cache.shard;
  MemoryLimitScope never_refuse(false);  // bookkeeping, not the program's memory
  std::lock_guard<std::mutex> lock(mu_);
  auto& shard = shards_[std::this_thread::get_id()];
  if (!shard) shard = std::make_unique<HeapShard>();
  cache = {id_, shard.get()};
  return shard.get();
}

size_t Heap::Registered() {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (auto& [thread, shard] : shards_) {
    std::lock_guard<std::mutex> shard_lock(shard->mu_);
    n += shard->count_;
  }
  return n;
}

size_t Heap::Collect() {
  MemoryLimitScope never_refuse(false);
  std::vector<ContainerObj*> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [thread, shard] : shards_) {
      std::lock_guard<std::mutex> shard_lock(shard->mu_);
      for (ContainerObj* o = shard->head_; o != nullptr; o = o->next) all.push_back(o);
    }
  }
  std::vector<ContainerObj*> garbage;
  if (!all.empty()) {
    // What the outside holds of each: its count less the references from registered ones.
    std::unordered_map<ContainerObj*, int64_t> outside;
    outside.reserve(all.size());
    for (ContainerObj* o : all) outside[o] = o->immortal ? 1 : static_cast<int64_t>(o->rc);
    for (ContainerObj* o : all) {
      EachChild(o, [&](ContainerObj* c) {
        auto it = outside.find(c);
        if (it != outside.end()) --it->second;
      });
    }
    // Alive: held from outside, or reachable from something that is.
    std::unordered_set<ContainerObj*> alive;
    std::vector<ContainerObj*> todo;
    for (ContainerObj* o : all) {
      if (outside[o] > 0) todo.push_back(o);
    }
    while (!todo.empty()) {
      ContainerObj* o = todo.back();
      todo.pop_back();
      if (!alive.insert(o).second) continue;
      EachChild(o, [&](ContainerObj* c) {
        if (outside.count(c) != 0 && alive.count(c) == 0) todo.push_back(c);
      });
    }
    for (ContainerObj* o : all) {
      if (alive.count(o) == 0) garbage.push_back(o);
    }
  }
  // Hold every garbage container while emptying them all, so none is freed half-way; then
  // each one's last reference is the one taken here.
  for (ContainerObj* o : garbage) ++o->rc;
  for (ContainerObj* o : garbage) {
    if (o->kind == ObjKind::kArray) {
      std::vector<Value> elems;
      elems.swap(static_cast<ArrayObj*>(o)->v);
      for (Value v : elems) Release(v);
    } else {
      static_cast<MapObj*>(o)->m.Clear();
    }
  }
  for (ContainerObj* o : garbage) Release(Value::Object(o));
  Detach();
  return garbage.size();
}

void Heap::Detach() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [thread, shard] : shards_) {
    std::lock_guard<std::mutex> shard_lock(shard->mu_);
    for (ContainerObj* o = shard->head_; o != nullptr;) {
      ContainerObj* next = o->next;
      o->shard = nullptr;
      o->prev = o->next = nullptr;
      o = next;
    }
    shard->head_ = nullptr;
    shard->count_ = 0;
  }
}

}  // namespace volo::fly
