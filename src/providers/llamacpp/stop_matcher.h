// Stop strings for streamed generation: text that might be the start of a stop string is held
// back until it is known not to be one, so a stop string is never emitted, even in part. One per
// generation; not thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace xervo::llamacpp {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  struct Step {
    std::string emit;      // text now safe to pass on
    bool stopped = false;  // a stop string was found; generation must end (it is not in emit)
    std::string matched;   // which one, when stopped
  };
  // Adds newly generated text.
  Step push(std::string_view text);
  // At the end of generation (no stop found): the text held back.
  std::string flush();

 private:
  std::vector<std::string> stops_;
  std::string pending_;
};

}  // namespace xervo::llamacpp
