// Base64 (RFC 4648): the standard alphabet with padding, for binary data inside JSON bodies such as
// Gemini's inlineData, and the URL-safe alphabet without padding (JWTs, JWKs). Stateless.
#pragma once

#include <string>
#include <string_view>

namespace xervo::net {

enum class Base64 { standard, url };

std::string base64_encode(std::string_view bytes, Base64 alphabet = Base64::standard);

}  // namespace xervo::net
