// For unit tests: waits for a condition against a deadline, looking every 10 ms, so no test
// stands a fixed sleep in for the condition it needs. (The integration tests have PollUntil in
// tests/integration/harness.h.)
#pragma once

#include <chrono>
#include <thread>

namespace volo::test_util {

// True once `cond()` holds; false when `timeout` passes first.
template <typename Cond>
bool PollUntil(Cond cond, std::chrono::steady_clock::duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace volo::test_util
