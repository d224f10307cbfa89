// Small text helpers for protocol fields (HTTP headers, config values, trace headers): ASCII only,
// never locale-dependent. Stateless.
#pragma once

#include <string>
#include <string_view>

namespace xervo::text {

// `s` without leading and trailing spaces and tabs (HTTP's optional whitespace).
std::string_view trim(std::string_view s);
// `s` with A-Z as a-z; other bytes unchanged.
std::string ascii_lower(std::string_view s);

}  // namespace xervo::text
