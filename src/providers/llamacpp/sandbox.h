// Runs a function on untrusted input (a model file's chat template) in a forked child process under
// a CPU-time limit, an address-space limit and a wall-clock deadline, and brings back the string it
// returns. Whatever the function does (loop forever, allocate without end, overflow its stack), the
// caller gets an answer within the deadline and its own process is untouched.
//
// The child is a fork of a process that may have other threads: it inherits none of them, and a lock
// one of them held at the fork stays held in the child. The function must therefore use only what
// glibc keeps usable across fork (malloc, stdio) and state of its own: no logging, no llama.cpp
// calls that log. A child stuck on such a lock ends at the deadline like a runaway one.
// Safe to call from any number of threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "xervo/error.h"

namespace xervo::llamacpp {

struct SandboxLimits {
  std::chrono::milliseconds wall{10000};  // the child is killed after this long
  std::chrono::seconds cpu{10};           // RLIMIT_CPU of the child (whole seconds, at least 1)
  // Address space the child may map beyond what the process had mapped when it forked (RLIMIT_AS).
  uint64_t extra_address_space = uint64_t{1} << 30;
  size_t max_reply = 64 * 1024;  // bytes of reply read back; a longer one counts as too long
};

struct SandboxResult {
  enum class Outcome {
    returned,       // text: what the function returned
    threw,          // text: the exception's what()
    out_of_memory,  // std::bad_alloc: the address-space limit was reached
    timed_out,      // still running at the wall deadline: killed
    cpu_exhausted,  // killed by the CPU-time limit
    crashed,        // died of a signal (text names it) or exited without a reply
    reply_too_long,
  };
  Outcome outcome = Outcome::crashed;
  std::string text;
};

// internal when no child can be started (fork or pipe failed).
Result<SandboxResult> run_sandboxed(const std::function<std::string()>& fn, const SandboxLimits& limits);

}  // namespace xervo::llamacpp
