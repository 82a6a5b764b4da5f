// Time as the planner sees it. The core takes a Clock& so tests can drive time by hand.
#pragma once

#include <chrono>
#include <cstdint>

namespace volo {

using Nanos = std::chrono::nanoseconds;
using TimePoint = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class SteadyClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
};

// A clock that only moves when told. Not thread-safe; for single-threaded tests.
class FakeClock final : public Clock {
 public:
  TimePoint Now() const override { return now_; }
  void Advance(Nanos d) { now_ += d; }

 private:
  TimePoint now_{std::chrono::seconds(1000)};
};

// Seconds since the Unix epoch, as a double (for JSON timestamps).
double WallSeconds();

}  // namespace volo
