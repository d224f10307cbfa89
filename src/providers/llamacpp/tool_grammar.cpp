#include "providers/llamacpp/tool_grammar.h"

#include <exception>

#include "providers/llamacpp/llama_backend.h"
#include "providers/llamacpp/llama_handles.h"
#include "providers/llamacpp/text.h"

namespace xervo::llamacpp {

Result<llama_sampler*> make_grammar_sampler(const llama_vocab* vocab, const GrammarSpec& spec) {
  LogCapture capture;
  SamplerPtr grammar;
  if (spec.lazy) {
    std::vector<const char*> patterns;
    for (const auto& p : spec.trigger_patterns) patterns.push_back(p.c_str());
    grammar.reset(llama_sampler_init_grammar_lazy_patterns(vocab, spec.gbnf.c_str(), "root", patterns.data(),
                                                           patterns.size(), spec.trigger_tokens.data(),
                                                           spec.trigger_tokens.size()));
  } else {
    grammar.reset(llama_sampler_init_grammar(vocab, spec.gbnf.c_str(), "root"));
  }
  if (!grammar)
    return Error(ErrorCode::invalid_input,
                 "the tool-call grammar was rejected by llama.cpp: " + capture.errors());
  if (!spec.lazy && !spec.prefill.empty()) {
    // The template already wrote the start of the answer (a role header, "<think>"): the grammar
    // covers it, so it must be past it before the model's first token.
    auto tokens = tokenize(vocab, spec.prefill, /*add_special=*/false, /*parse_special=*/true);
    if (!tokens) return tokens.error();
    try {
      for (size_t i = 0; i < tokens->size(); ++i) {
        const std::string piece = token_piece(vocab, (*tokens)[i]);
        // Some tokenizers put a space before a leading special token (llama.cpp skips it too).
        if (i == 0 && !piece.empty() && std::isspace(static_cast<unsigned char>(piece[0])) &&
            !std::isspace(static_cast<unsigned char>(spec.prefill[0])))
          continue;
        llama_sampler_accept(grammar.get(), (*tokens)[i]);
      }
    } catch (const std::exception& e) {
      return Error(
          ErrorCode::invalid_input,
          std::string("the tool-call grammar does not accept the template's answer prefix: ") + e.what());
    }
  }
  return grammar.release();
}

}  // namespace xervo::llamacpp
