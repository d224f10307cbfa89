#include "cli/task_interrupt.h"

#include <signal.h>

#include <chrono>

namespace xervo::cli {
namespace {

std::atomic<int> g_interrupts{0};
struct sigaction g_previous {};

void on_sigint(int) {
  if (g_interrupts.fetch_add(1) >= 1) {  // second Ctrl-C: give up waiting
    ::signal(SIGINT, SIG_DFL);
    ::raise(SIGINT);
  }
}

}  // namespace

InterruptScope::InterruptScope() {
  g_interrupts = 0;
  struct sigaction action {};
  action.sa_handler = on_sigint;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, &g_previous);
  watcher_ = std::jthread([this](std::stop_token done) {
    while (!done.stop_requested()) {
      if (g_interrupts.load() > 0) {
        source_.request_stop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
}

InterruptScope::~InterruptScope() {
  watcher_.request_stop();
  watcher_.join();
  ::sigaction(SIGINT, &g_previous, nullptr);
}

bool InterruptScope::interrupted() const { return g_interrupts.load() > 0; }

}  // namespace xervo::cli
