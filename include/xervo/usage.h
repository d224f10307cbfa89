// Token accounting shared by every task result.
#pragma once

#include <cstdint>

namespace xervo {

struct Usage {
  int64_t prompt_tokens = 0;      // tokens read (inputs, query + documents, prompt)
  int64_t completion_tokens = 0;  // tokens generated
  int64_t total() const { return prompt_tokens + completion_tokens; }
};

}  // namespace xervo
