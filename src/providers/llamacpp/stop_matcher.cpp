#include "providers/llamacpp/stop_matcher.h"

#include <algorithm>

namespace xervo::llamacpp {

StopMatcher::StopMatcher(std::vector<std::string> stops) {
  for (auto& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
}

StopMatcher::Step StopMatcher::push(std::string_view text) {
  pending_.append(text);
  Step step;
  size_t first = std::string::npos;
  const std::string* matched = nullptr;
  for (const auto& s : stops_) {
    const size_t at = pending_.find(s);
    if (at < first) {
      first = at;
      matched = &s;
    }
  }
  if (matched) {
    step.emit = pending_.substr(0, first);
    step.stopped = true;
    step.matched = *matched;
    pending_.clear();
    return step;
  }
  // Hold back the longest tail of pending_ that is a proper prefix of some stop string.
  size_t hold = 0;
  for (const auto& s : stops_) {
    const size_t max_len = std::min(s.size() - 1, pending_.size());
    for (size_t len = max_len; len > hold; --len) {
      if (std::string_view(pending_).substr(pending_.size() - len) == std::string_view(s).substr(0, len)) {
        hold = len;
        break;
      }
    }
  }
  step.emit = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return step;
}

std::string StopMatcher::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace xervo::llamacpp
