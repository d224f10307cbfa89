// Waits for a condition that another thread makes true, without sleeping: yields until it holds,
// and gives up (returning false, so the test fails instead of hanging) after a generous deadline.
// For state only visible by asking (a scheduler's queue length), where no event can be waited on.
#pragma once

#include <chrono>
#include <thread>

namespace xervo::testing {

template <typename Predicate>
bool wait_until(Predicate done, std::chrono::seconds give_up = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + give_up;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace xervo::testing
