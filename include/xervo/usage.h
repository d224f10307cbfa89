// Token accounting shared by every task result.
#pragma once

#include <cstdint>

namespace xervo {

struct Usage {
  int64_t prompt_tokens = 0;      // tokens read (inputs, query + documents, prompt)
  int64_t completion_tokens = 0;  // tokens generated
  // Answered from the response cache: inputs of an embedding call (whose tokens are then not in
  // prompt_tokens), or 1 for a whole rerank or generation (which reports its stored counts).
  int64_t cached = 0;
  // A generation answered by the semantic cache: the cosine similarity of its prompt to the cached
  // prompt whose answer it got (0 otherwise: computed, or an exact hit).
  double cache_similarity = 0;
  int64_t total() const { return prompt_tokens + completion_tokens; }
};

}  // namespace xervo
