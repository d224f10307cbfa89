// Text <-> tokens for one vocabulary, and the UTF-8 bookkeeping that streaming needs (a token may
// end inside a multi-byte character). Functions only read the vocabulary: safe from any thread.
#pragma once

#include <llama.h>

#include <string>
#include <string_view>
#include <vector>

#include "xervo/error.h"

namespace xervo::llamacpp {

using Tokens = std::vector<llama_token>;

// add_special: BOS/EOS/SEP as the vocabulary asks; parse_special: "<|im_start|>" text becomes the
// control token. invalid_input for text llama.cpp cannot take (over 2 GiB).
Result<Tokens> tokenize(const llama_vocab* vocab, std::string_view text, bool add_special,
                        bool parse_special);

// The text of one generated token (control tokens render as nothing).
std::string token_piece(const llama_vocab* vocab, llama_token token);

// `s` with every byte that does not start a valid UTF-8 sequence replaced by U+FFFD, so text handed
// to callers (and their JSON encoders) is always valid UTF-8. Random or broken models emit such bytes.
std::string utf8_sanitize(std::string_view s);

// Length of the longest prefix of `s` that does not end inside a UTF-8 sequence.
size_t utf8_complete_prefix(std::string_view s);

}  // namespace xervo::llamacpp
