// The grammar stage of a generation that may call tools (or think first): GBNF text, applied from
// the first token or, when lazy, from the first match of a trigger (llama.cpp's lazy grammars), with
// the part of the answer the prompt already holds (llama.cpp's generation prompt) fed to it first.
// Built per request; a sampler chain owns the llama_sampler it makes.
#pragma once

#include <llama.h>

#include <string>
#include <vector>

#include "xervo/error.h"

namespace xervo::llamacpp {

struct GrammarSpec {
  std::string gbnf;  // empty: no grammar
  bool lazy = false;
  std::vector<std::string> trigger_patterns;  // regular expressions (lazy)
  std::vector<llama_token> trigger_tokens;    // tokens that trigger it (lazy)
  std::string prefill;                        // text the grammar accepts before the first token
  bool empty() const { return gbnf.empty(); }
};

// The grammar sampler; invalid_input when llama.cpp rejects the grammar or the prefill.
Result<llama_sampler*> make_grammar_sampler(const llama_vocab* vocab, const GrammarSpec& spec);

}  // namespace xervo::llamacpp
