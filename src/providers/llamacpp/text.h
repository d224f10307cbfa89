// Text <-> tokens for one vocabulary. Functions only read the vocabulary: safe from any thread.
#pragma once

#include <llama.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "providers/llamacpp/tokens.h"
#include "providers/llamacpp/utf8.h"
#include "xervo/error.h"

namespace xervo::llamacpp {

// The most bytes of text one token of context may stand for before an input is refused without
// tokenizing it (context_overflow): far beyond any real text (English ~4 bytes a token, code with
// deep indentation ~20), so it bounds tokenizing time and memory by the context size, not by what a
// caller sends. Only text made mostly of whitespace a vocabulary drops (BERT's) could fit the
// context and still be refused.
inline constexpr size_t kMaxBytesPerToken = 128;

// add_special: BOS/EOS/SEP as the vocabulary asks; parse_special: "<|im_start|>" text becomes the
// control token. invalid_input for text llama.cpp cannot take (over 2 GiB).
Result<Tokens> tokenize(const llama_vocab* vocab, std::string_view text, bool add_special,
                        bool parse_special);

// The text of one generated token (control tokens render as nothing).
std::string token_piece(const llama_vocab* vocab, llama_token token);

}  // namespace xervo::llamacpp
