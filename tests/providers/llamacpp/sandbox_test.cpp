// The sandbox brings back what its child returns, and whatever the child does instead (loops,
// allocates without end, crashes, blocks), the caller gets an answer naming it.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "providers/llamacpp/sandbox.h"

namespace xervo::testing {
namespace {

using llamacpp::run_sandboxed;
using llamacpp::SandboxLimits;
using Outcome = llamacpp::SandboxResult::Outcome;
using namespace std::chrono_literals;

llamacpp::SandboxResult sandboxed(const std::function<std::string()>& fn, SandboxLimits limits = {}) {
  auto r = run_sandboxed(fn, limits);
  EXPECT_TRUE(r.ok()) << r.error().to_string();
  return r.ok() ? *r : llamacpp::SandboxResult{};
}

TEST(Sandbox, BringsBackWhatTheFunctionReturns) {
  const std::string big(10000, 'x');
  auto r = sandboxed([&] { return "hello " + big; });
  EXPECT_EQ(r.outcome, Outcome::returned);
  EXPECT_EQ(r.text, "hello " + big);
}

TEST(Sandbox, AnExceptionComesBackWithItsMessage) {
  auto r = sandboxed([]() -> std::string { throw std::runtime_error("template error at line 3"); });
  EXPECT_EQ(r.outcome, Outcome::threw);
  EXPECT_EQ(r.text, "template error at line 3");
}

TEST(Sandbox, AnEndlessLoopIsEndedByTheCpuLimit) {
  SandboxLimits limits;
  limits.cpu = 1s;
  limits.wall = 300s;  // far beyond: the CPU limit must be what ends it
  auto r = sandboxed(
      []() -> std::string {
        volatile uint64_t spins = 0;
        for (;;) spins = spins + 1;
      },
      limits);
  EXPECT_EQ(r.outcome, Outcome::cpu_exhausted);
}

TEST(Sandbox, AChildThatWaitsForeverIsKilledAtTheDeadline) {
  SandboxLimits limits;
  limits.wall = 200ms;  // it uses no CPU: only the deadline can end it
  auto r = sandboxed(
      []() -> std::string {
        for (;;) ::pause();
      },
      limits);
  EXPECT_EQ(r.outcome, Outcome::timed_out);
}

TEST(Sandbox, AllocatingWithoutEndEndsAsOutOfMemory) {
  SandboxLimits limits;
  limits.extra_address_space = 256ull << 20;
  auto r = sandboxed(
      [] {
        std::vector<std::unique_ptr<char[]>> kept;
        for (;;) kept.emplace_back(new char[16 << 20]);
        return std::string();
      },
      limits);
  EXPECT_EQ(r.outcome, Outcome::out_of_memory);
}

TEST(Sandbox, AFailedAllocationCountsEvenWhenTheFunctionCaughtIt) {
  auto r = sandboxed([] {
    try {
      void* huge = ::operator new (size_t{1} << 40);  // a call, not a new-expression: never elided
      ::operator delete(huge);
      return std::string("allocated");
    } catch (...) {
    }
    return std::string("carried on");
  });
  EXPECT_EQ(r.outcome, Outcome::out_of_memory);
}

TEST(Sandbox, ACrashIsReportedWithItsSignal) {
  auto r = sandboxed([]() -> std::string {
    ::raise(SIGSEGV);
    return "survived";
  });
  EXPECT_EQ(r.outcome, Outcome::crashed);
  EXPECT_NE(r.text.find("signal 11"), std::string::npos) << r.text;
}

TEST(Sandbox, AReplyBeyondTheLimitIsReportedAsTooLong) {
  SandboxLimits limits;
  limits.max_reply = 16;
  auto r = sandboxed([] { return std::string(1000, 'y'); }, limits);
  EXPECT_EQ(r.outcome, Outcome::reply_too_long);
}

TEST(Sandbox, TheCallerKeepsWorkingAfterEachChild) {
  for (int i = 0; i < 3; ++i) {
    auto r = sandboxed([]() -> std::string { std::abort(); });
    EXPECT_EQ(r.outcome, Outcome::crashed);
  }
  EXPECT_EQ(sandboxed([] { return std::string("still here"); }).text, "still here");
}

}  // namespace
}  // namespace xervo::testing
