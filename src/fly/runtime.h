// The Runtime: what every Vm of one program run shares — the compiled Program, the output
// stream, channels, environments, the seed, and the accounting that turns a receive that can
// never be satisfied into an error (FLY.md Part A 9).
//
// Deadlock detection: `active_` counts the executors (the top-level code and every fly
// instance from launch to end) that are not blocked. A receive on an empty channel blocks
// only while some other executor is active; when the count drops to zero every blocked
// receiver wakes and fails with "no instance that could send is running".
//
// Thread-safety: all public methods may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

#include "fly/chunk.h"
#include "fly/environment.h"
#include "fly/heap.h"
#include "fly/interpreter.h"
#include "fly/value.h"

namespace volo::fly {

class Channel {
 public:
  Channel(int id, std::string name) : id(id), name(std::move(name)) {}
  ~Channel() {
    for (Value v : queue) Release(v);
  }
  const int id;
  const std::string name;   // the variable it was declared as ("" when none), for messages
  std::deque<Value> queue;  // transfer copies; GUARDED_BY(Runtime::mu_)
  int waiters = 0;          // receivers blocked here; GUARDED_BY(Runtime::mu_)
  int granted = 0;          // waiters a sender already counted active again
};

class Runtime {
 public:
  Runtime(const Program& program, const RunOptions& options, std::ostream& out, std::ostream& err);
  ~Runtime();

  const Program& program() const { return program_; }
  // The registry of this run's arrays and maps; its cycles are freed when the Runtime ends.
  Heap& heap() { return heap_; }
  void Write(std::string_view text);
  void Warn(std::string_view text);

  // Channels live as long as the Runtime. `name`: the variable declared with it.
  Channel* NewChannel(std::string name = "");
  // The channel with this id (Channel::id), or null. For remote messages (FlyJob::Deliver).
  Channel* FindChannel(int id);
  // Takes over `message` (a transfer copy).
  void Send(Channel* ch, Value message);
  // Blocks until a message arrives; false (with *error) when none ever can.
  bool Receive(Channel* ch, Value* out, std::string* error);

  // Executor accounting (see the header comment).
  void AddActive(int n);
  void RemoveActive();
  // Blocks until pred() is true; the caller is not active meanwhile. pred runs under the lock.
  template <typename Pred>
  void WaitInactive(Pred pred) {
    std::unique_lock<std::mutex> lock(mu_);
    if (pred()) return;
    DecActiveLocked();
    if constexpr (kOneThread) {
      // No other thread will make pred() true: the instances waiting for one run here, the
      // caller counted inactive meanwhile as if it were blocked.
      while (!pred()) {
        lock.unlock();
        bool ran = RunPendingInstance();
        lock.lock();
        if (!ran) break;
      }
      ++active_;
      return;
    }
    cv_.wait(lock, pred);
    ++active_;
  }
  // For state changes that waiters check: call under mu(), then NotifyAll() after unlocking.
  void RemoveActiveLocked() { DecActiveLocked(); }
  void NotifyAll() { cv_.notify_all(); }
  std::mutex& mu() { return mu_; }

  // Runs one instance an environment holds for lack of threads (Environment::RunPending) on the
  // calling thread; false when none waits. Call without holding mu().
  bool RunPendingInstance();

  // Async fly jobs, waited for (and their errors reported) when the program ends.
  void AddAsyncJob(std::shared_ptr<FlyJob> job);
  std::vector<std::shared_ptr<FlyJob>> TakeAsyncJobs();

  // The environment declared as `name` with type and thread count from its declaration,
  // unless --env rebinds it. Owned by the Runtime. `address`: a declared cluster's url=.
  // A declared thread count (threads > 0) stays the environment's nthread() wherever it is
  // bound (docs/placement.md, "Decomposition and placement"); 0: none was declared.
  Result<Environment*> GetEnvironment(const std::string& name, const std::string& type, int threads,
                                      const std::string& address = "");
  // Validates --env bindings against the program's declarations before it starts.
  Status CheckEnvironments();

  // Set when the program failed: instances not yet started are skipped.
  void Cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }

  // Stops the whole program from outside (volo run --timeout): every Vm of this Runtime fails
  // with `reason` at its next loop turn or call, and blocked receives fail with it at once.
  void Stop(std::string reason);
  const std::atomic<bool>& stop_flag() const { return stopped_; }
  bool stopped() const { return stopped_.load(std::memory_order_relaxed); }
  std::string stop_reason();
  // Ctrl-C at the REPL: every Vm of this Runtime fails with "cancelled" at its next loop turn
  // (Vm polls interrupt_flag()) and instances not yet started are skipped, until
  // ClearInterrupt. Interrupt is async-signal-safe.
  void Interrupt() { interrupted_.store(true, std::memory_order_relaxed); }
  void ClearInterrupt() { interrupted_.store(false, std::memory_order_relaxed); }
  bool interrupted() const { return interrupted_.load(std::memory_order_relaxed); }
  const std::atomic<bool>* interrupt_flag() const { return &interrupted_; }

  // The REPL: the environment `name` was declared again; the next GetEnvironment for it makes
  // a new one. The old one stays alive (values may still refer to it) until the Runtime ends.
  void ForgetEnvironment(const std::string& name);
  // The environments made so far: name and Environment::Describe(), by name.
  std::vector<std::pair<std::string, std::string>> Environments();
  // The --env binding of `name` ("smp:4"), or "".
  std::string BindingOf(const std::string& name) const;

  uint64_t SeedFor(bool has_decl_seed, uint64_t decl_seed) const;
  uint64_t seed() const { return seed_; }
  // Whether --seed forced the seed (then declarations' seed= are ignored; SeedFor).
  bool seed_forced() const { return options_.has_seed; }
  // Remote executors: behave as the launching Runtime did (its seed() and seed_forced()).
  void AdoptSeed(uint64_t seed, bool forced) {
    seed_ = seed;
    options_.has_seed = forced;
  }

 private:
  void DecActiveLocked();
  // kOneThread's receive on an empty channel: runs one pending instance with the receiver
  // counted blocked; false when there was none. Called and returns with `lock` held.
  bool ReceiveOnOneThread(Channel* ch, std::unique_lock<std::mutex>& lock);

  Heap heap_;  // first: destroyed last, after every member that may still hold values
  const Program& program_;
  RunOptions options_;
  std::ostream& out_;
  std::ostream& err_;
  std::mutex out_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  int active_ = 1;   // GUARDED_BY(mu_): the top-level code starts active
  int waiting_ = 0;  // GUARDED_BY(mu_): receivers blocked on an empty channel
  std::vector<std::unique_ptr<Channel>> channels_;  // GUARDED_BY(mu_)
  std::mutex env_mu_;
  std::map<std::string, std::unique_ptr<Environment>> envs_;  // GUARDED_BY(env_mu_)
  std::vector<std::unique_ptr<Environment>> forgotten_envs_;  // GUARDED_BY(env_mu_)
  std::map<std::string, std::string> bindings_;               // NAME -> spec from --env
  std::vector<std::shared_ptr<FlyJob>> async_jobs_;           // GUARDED_BY(mu_)
  uint64_t seed_;
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> stopped_{false};
  std::string stop_reason_;  // GUARDED_BY(mu_)
  std::atomic<bool> interrupted_{false};
};

}  // namespace volo::fly
