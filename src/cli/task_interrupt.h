// Ctrl-C during a generation: the first SIGINT cancels the running request through its stop token
// (the engine stops at the next token and the command ends cleanly); a second one ends the process
// at once. One InterruptScope at a time, on the main thread.
#pragma once

#include <atomic>
#include <stop_token>
#include <thread>

namespace xervo::cli {

class InterruptScope {
 public:
  InterruptScope();   // installs the handler and starts the watcher
  ~InterruptScope();  // restores the previous handler
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

  std::stop_token token() const { return source_.get_token(); }
  bool interrupted() const;

 private:
  std::stop_source source_;
  std::jthread watcher_;  // turns the signal flag into request_stop() (not async-signal-safe itself)
};

}  // namespace xervo::cli
