// For unit tests of the planner's HTTP side (rest_test, dashboard_test): a worker link that
// records what it is given and a RestEnv over a fake clock whose timers run when the test
// advances the clock past them. No sockets, no threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "planner/core.h"
#include "planner/rest.h"

namespace volo::planner {

class NullLink : public WorkerLink {
 public:
  void Assign(const Task& t, std::string_view) override { assigned.push_back(t.id.value()); }
  void Cancel(TaskId) override {}
  void Drop(std::string_view) override {}
  std::vector<uint64_t> assigned;
};

class FakeRestEnv : public RestEnv {
 public:
  // With a core, an HTTP worker's enrolment adds it there (on `link`); without, it fails.
  explicit FakeRestEnv(FakeClock& clock, Core* core = nullptr) : clock_(clock), core_(core) {}
  std::function<void()> After(Nanos delay, std::function<void()> fn) override {
    uint64_t id = next_++;
    timers_.emplace(id, Timer{clock_.Now() + delay, std::move(fn)});
    return [this, id] { timers_.erase(id); };
  }
  void Durable(std::function<void(const Status&)> ack) override { ack(Status::Ok()); }
  Status EnrolHttpWorker(const std::string& id, const std::string&,
                         std::vector<std::string> ops) override {
    if (core_ == nullptr) return Unavailable("not here");
    auto r = core_->AddWorker(WorkerId(id), WorkerKind::kHttp, ops, 1, &link);
    return r.ok() ? Status::Ok() : r.status();
  }
  bool stopping() const override { return false; }

  // Advances the clock by `d` in steps of `step`, running the timers due after each.
  void Advance(Nanos d, Nanos step = std::chrono::milliseconds(10)) {
    for (Nanos done{0}; done < d; done += step) {
      clock_.Advance(step);
      // A timer's function may cancel other timers: collect the due ones first.
      std::vector<uint64_t> due;
      for (const auto& [id, t] : timers_) {
        if (t.at <= clock_.Now()) due.push_back(id);
      }
      for (uint64_t id : due) {
        auto it = timers_.find(id);
        if (it == timers_.end()) continue;
        auto fn = std::move(it->second.fn);
        timers_.erase(it);
        fn();
      }
    }
  }
  size_t pending_timers() const { return timers_.size(); }
  NullLink link;

 private:
  struct Timer {
    TimePoint at;
    std::function<void()> fn;
  };
  FakeClock& clock_;
  Core* core_;
  std::map<uint64_t, Timer> timers_;
  uint64_t next_ = 1;
};

}  // namespace volo::planner
