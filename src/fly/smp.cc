// The smp environment: a fixed pool of threads pulling instance indices from launched jobs.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "fly/environment.h"

namespace volo::fly {

namespace {

class SmpEnvironment : public Environment {
 public:
  explicit SmpEnvironment(int threads) : threads_(threads < 1 ? 1 : threads) {}
  ~SmpEnvironment() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : pool_) t.join();
  }

  // Starts the pool. The machine may refuse threads (ulimit -u, memory for their stacks): that
  // is an error for the program, never an abort.
  Status Start() {
    try {
      for (int k = 0; k < threads_; ++k) pool_.emplace_back([this] { WorkerLoop(); });
    } catch (const std::system_error& e) {
      return Unavailable(
          "smp:" + std::to_string(threads_) + ": this machine would start only " +
          std::to_string(pool_.size()) + " of the threads (" + e.what() +
          "); bind fewer, like smp:" + std::to_string(std::max<size_t>(1, pool_.size() / 2)));
    }
    return Status::Ok();
  }

  std::string Describe() const override { return "smp:" + std::to_string(threads_); }
  int parallelism() const override { return threads_; }

  void Launch(std::shared_ptr<FlyJob> job) override {
    if (job->instance_count() == 0) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto entry = std::make_shared<Entry>();
      entry->job = std::move(job);
      jobs_.push_back(std::move(entry));
    }
    cv_.notify_all();
  }

 private:
  struct Entry {
    std::shared_ptr<FlyJob> job;
    std::atomic<size_t> next{0};
  };

  void WorkerLoop() {
    for (;;) {
      std::shared_ptr<Entry> entry;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stopping, nothing left
        entry = jobs_.front();
      }
      size_t n = entry->job->instance_count();
      std::unique_ptr<InstanceRunner> runner;
      for (;;) {
        size_t i = entry->next.fetch_add(1, std::memory_order_relaxed);
        if (i >= n) break;
        if (!runner) runner = entry->job->NewRunner();
        runner->Run(i);
      }
      runner.reset();
      std::lock_guard<std::mutex> lock(mu_);
      if (!jobs_.empty() && jobs_.front() == entry) jobs_.pop_front();
    }
  }

  const int threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Entry>> jobs_;  // GUARDED_BY(mu_)
  bool stop_ = false;                        // GUARDED_BY(mu_)
  std::vector<std::thread> pool_;
};

// smp without threads (kOneThread): launched instances wait in a queue until the program's
// thread would wait for them (Runtime::RunPendingInstance), then run there one at a time, in
// launch order, each on a runner of its own job.
class OneThreadEnvironment : public Environment {
 public:
  explicit OneThreadEnvironment(int threads) : threads_(threads) {}
  // As the pool's destructor: what was launched still runs (a cancelled program's instances
  // only record that they were skipped), so every job hears of each instance's end.
  ~OneThreadEnvironment() override {
    while (RunPending()) {
    }
  }

  std::string Describe() const override { return "smp:" + std::to_string(threads_); }
  int parallelism() const override { return threads_; }

  void Launch(std::shared_ptr<FlyJob> job) override {
    if (job->instance_count() == 0) return;
    auto entry = std::make_shared<Entry>();
    entry->job = std::move(job);
    queue_.push_back(std::move(entry));
  }

  bool RunPending() override {
    if (queue_.empty()) return false;
    std::shared_ptr<Entry> entry = queue_.front();
    size_t index = entry->next++;
    if (entry->next == entry->job->instance_count()) queue_.pop_front();
    // An instance that waits for a message runs the next pending ones from inside its Run, so
    // a runner (one Vm) may be busy further down the stack: those take another one.
    std::unique_ptr<InstanceRunner> runner;
    if (!entry->idle.empty()) {
      runner = std::move(entry->idle.back());
      entry->idle.pop_back();
    } else {
      runner = entry->job->NewRunner();
    }
    runner->Run(index);
    entry->idle.push_back(std::move(runner));
    return true;
  }

 private:
  struct Entry {
    std::shared_ptr<FlyJob> job;
    size_t next = 0;
    std::vector<std::unique_ptr<InstanceRunner>> idle;  // runners not in a Run now
  };

  const int threads_;
  std::deque<std::shared_ptr<Entry>> queue_;
};

}  // namespace

Result<std::unique_ptr<Environment>> MakeSmpEnvironment(int threads) {
  if (threads < 1 || threads > kMaxSmpThreads) {
    return InvalidArgument("smp:" + std::to_string(threads) + ": the thread count must be 1 to " +
                           std::to_string(kMaxSmpThreads));
  }
  if constexpr (kOneThread) return std::unique_ptr<Environment>(new OneThreadEnvironment(threads));
  auto env = std::make_unique<SmpEnvironment>(threads);
  Status s = env->Start();
  if (!s.ok()) return s;  // the destructor joins the threads that did start
  return std::unique_ptr<Environment>(std::move(env));
}

}  // namespace volo::fly
