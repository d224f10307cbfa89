#include "providers/llamacpp/text.h"

#include <exception>
#include <limits>

namespace xervo::llamacpp {

Result<Tokens> tokenize(const llama_vocab* vocab, std::string_view text, bool add_special,
                        bool parse_special) {
  if (text.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max() / 2))
    return Error(ErrorCode::invalid_input,
                 "input text of " + std::to_string(text.size()) + " bytes is too long");
  Tokens tokens(text.size() + 8);
  int32_t n = 0;
  try {  // llama.cpp's tokenizers are C++ inside and may throw on malformed text
    n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                       static_cast<int32_t>(tokens.size()), add_special, parse_special);
    if (n < 0 && n != std::numeric_limits<int32_t>::min()) {
      tokens.resize(static_cast<size_t>(-n));
      n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                         static_cast<int32_t>(tokens.size()), add_special, parse_special);
    }
  } catch (const std::exception& e) {
    return Error(ErrorCode::invalid_input, std::string("the input text could not be tokenized: ") + e.what());
  }
  if (n < 0) return Error(ErrorCode::invalid_input, "the input text could not be tokenized");
  tokens.resize(static_cast<size_t>(n));
  return tokens;
}

std::string token_piece(const llama_vocab* vocab, llama_token token) {
  std::string out(32, '\0');
  int32_t n = llama_token_to_piece(vocab, token, out.data(), static_cast<int32_t>(out.size()), 0, false);
  if (n < 0) {
    out.resize(static_cast<size_t>(-n));
    n = llama_token_to_piece(vocab, token, out.data(), static_cast<int32_t>(out.size()), 0, false);
  }
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

}  // namespace xervo::llamacpp
