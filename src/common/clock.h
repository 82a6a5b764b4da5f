// Time as the planner sees it. The core takes a Clock& so tests can drive time by hand.
#pragma once

#include <chrono>
#include <cstdint>

namespace volo {

using Nanos = std::chrono::nanoseconds;
using TimePoint = std::chrono::steady_clock::time_point;

// Seconds since the Unix epoch, as a double (for JSON timestamps).
double WallSeconds();

// Two clocks in one: a monotonic one for deadlines and backoff, and wall time for the
// timestamps users see (submitted, started, finished, the latency histogram).
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
  virtual double Wall() const { return WallSeconds(); }
};

class SteadyClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
};

// A clock that only moves when told, both kinds of time together. Not thread-safe; for
// single-threaded tests.
class FakeClock final : public Clock {
 public:
  TimePoint Now() const override { return now_; }
  double Wall() const override { return wall_; }
  void Advance(Nanos d) {
    now_ += d;
    wall_ += std::chrono::duration<double>(d).count();
  }

 private:
  TimePoint now_{std::chrono::seconds(1000)};
  double wall_ = 1'700'000'000;
};

}  // namespace volo
