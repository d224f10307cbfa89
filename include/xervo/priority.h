// Request priority: whether someone waits for the answer now (interactive, the default) or the
// call is background work that should yield to them (batch: the server's Batch API lines). Model
// calls (embed, rerank, generate, of any provider) made by a thread inside a PriorityScope carry
// its priority. A provider that queues work (the llama.cpp schedulers) starts waiting interactive
// requests before waiting batch ones and keeps batch work to a share of its capacity, without ever
// starving it (docs/providers/llamacpp.md); the others ignore it. Priority never changes an answer,
// so the response cache ignores it too.
//
// The priority belongs to the calling thread: it is read when the call is made, so work an
// application hands to another thread takes that thread's priority. Scopes nest; each restores
// what it found. Thread-safe (each thread has its own).
#pragma once

#include <string_view>

namespace xervo {

enum class Priority { interactive, batch };

constexpr std::string_view to_string(Priority p) { return p == Priority::batch ? "batch" : "interactive"; }

namespace detail {
inline Priority& thread_priority() {
  thread_local Priority priority = Priority::interactive;
  return priority;
}
}  // namespace detail

// The priority of the model calls this thread makes now.
inline Priority current_priority() { return detail::thread_priority(); }

// Sets this thread's priority while it lives:
//   { xervo::PriorityScope background(xervo::Priority::batch); embedder->embed(corpus); }
class PriorityScope {
 public:
  explicit PriorityScope(Priority priority) : saved_(detail::thread_priority()) {
    detail::thread_priority() = priority;
  }
  ~PriorityScope() { detail::thread_priority() = saved_; }
  PriorityScope(const PriorityScope&) = delete;
  PriorityScope& operator=(const PriorityScope&) = delete;

 private:
  Priority saved_;
};

}  // namespace xervo
