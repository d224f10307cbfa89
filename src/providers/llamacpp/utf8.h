// The UTF-8 bookkeeping that streaming needs: a token may end inside a multi-byte character, and
// random or broken models emit bytes that are not UTF-8 at all. Pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace xervo::llamacpp {

// `s` with every byte that does not start a valid UTF-8 sequence replaced by U+FFFD, so text handed
// to callers (and their JSON encoders) is always valid UTF-8.
std::string utf8_sanitize(std::string_view s);

// Length of the longest prefix of `s` that does not end inside a UTF-8 sequence.
size_t utf8_complete_prefix(std::string_view s);

// The longest prefix of `s` of at most `max_bytes` that does not cut a UTF-8 sequence in two.
std::string_view utf8_prefix(std::string_view s, size_t max_bytes);

}  // namespace xervo::llamacpp
