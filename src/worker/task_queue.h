// The tasks waiting for an executor's slot threads (command.h, fly_executor.h): first in, first
// out, a queued task dropped by id, and a stop that ends every wait.
//
// It locks the executor's mutex rather than one of its own: that mutex also guards the
// executor's per-slot state, so taking a task and marking a slot busy is one step, and a Cancel
// finds its task either queued or on a slot, never between the two. Methods named *Locked
// need it held.
//
// Threading: any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>

namespace volo::worker {

template <typename Item>  // with a `uint64_t id`
class TaskQueue {
 public:
  explicit TaskQueue(std::mutex& mu) : mu_(mu) {}

  // Queues `item` and wakes a slot thread; dropped once stopped.
  void Push(Item item) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      items_.push_back(std::move(item));
    }
    cv_.notify_one();
  }
  // Drops the queued task `id`; false when none is queued.
  bool DropLocked(uint64_t id) {
    for (auto it = items_.begin(); it != items_.end(); ++it) {
      if (it->id == id) {
        items_.erase(it);
        return true;
      }
    }
    return false;
  }
  // Waits (releasing `lock`, the executor's mutex, meanwhile) for a task to take; nullopt once
  // stopped.
  std::optional<Item> TakeLocked(std::unique_lock<std::mutex>& lock) {
    cv_.wait(lock, [&] { return stop_ || !items_.empty(); });
    if (stop_) return std::nullopt;
    Item item = std::move(items_.front());
    items_.pop_front();
    return item;
  }
  // Drops what is queued and takes no more; WakeAll (after unlocking) ends the waits.
  void StopLocked() {
    stop_ = true;
    items_.clear();
  }
  void WakeAll() { cv_.notify_all(); }
  bool stopped_locked() const { return stop_; }

 private:
  std::mutex& mu_;
  std::condition_variable cv_;
  bool stop_ = false;       // GUARDED_BY(mu_)
  std::deque<Item> items_;  // GUARDED_BY(mu_)
};

}  // namespace volo::worker
