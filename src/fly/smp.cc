// The smp environment: a fixed pool of threads pulling instance indices from launched jobs.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
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

  std::string Describe() const override { return "smp:" + std::to_string(threads_); }
  int parallelism() const override { return threads_; }

  void Launch(std::shared_ptr<FlyJob> job) override {
    if (job->instance_count() == 0) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (pool_.empty()) {
        for (int k = 0; k < threads_; ++k) pool_.emplace_back([this] { WorkerLoop(); });
      }
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

}  // namespace

std::unique_ptr<Environment> MakeSmpEnvironment(int threads) {
  return std::make_unique<SmpEnvironment>(threads);
}

}  // namespace volo::fly
