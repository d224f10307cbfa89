#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <mutex>

namespace xervo {

void init_logging() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Logs go to stderr so that stdout stays clean for results (CLI pipes, JSON).
    auto logger = spdlog::stderr_color_mt("xervo");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    const char* level = std::getenv("XERVO_LOG");
    spdlog::set_level(level && *level ? spdlog::level::from_str(level) : spdlog::level::info);
  });
}

namespace {

constexpr char kHex[] = "0123456789abcdef";

// Length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF) and its code point; 0 when the first byte starts none.
size_t utf8_sequence(std::string_view s, uint32_t& code_point) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(0);
  size_t length = 0;
  uint32_t min = 0;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2, min = 0x80, code_point = lead & 0x1f;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3, min = 0x800, code_point = lead & 0x0f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4, min = 0x10000, code_point = lead & 0x07;
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(i) & 0x3f);
  }
  if (code_point < min || code_point > 0x10ffff || (code_point >= 0xd800 && code_point <= 0xdfff)) return 0;
  return length;
}

// Code points that are valid text but change how a line reads: C1 controls (U+0085 is a newline to
// some readers), line and paragraph separators, bidirectional embeddings, overrides and isolates.
bool deceptive(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0x061c || cp == 0x200e || cp == 0x200f || cp == 0xfeff;
}

// The escaped form of the character or byte at the start of `s`; `consumed` says how many bytes.
std::string escape_one(std::string_view s, size_t& consumed) {
  const unsigned char c = static_cast<unsigned char>(s[0]);
  consumed = 1;
  switch (c) {
    case '\\':
      return "\\\\";
    case '"':
      return "\\\"";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    default:
      break;
  }
  if (c < 0x20 || c == 0x7f) return {'\\', 'x', kHex[c >> 4], kHex[c & 0xf]};
  if (c < 0x80) return std::string(1, static_cast<char>(c));
  uint32_t cp = 0;
  const size_t length = utf8_sequence(s, cp);
  if (length == 0) return {'\\', 'x', kHex[c >> 4], kHex[c & 0xf]};
  consumed = length;
  if (!deceptive(cp)) return std::string(s.substr(0, length));
  std::string out = "\\u{";
  for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(cp >> shift) & 0xf];
  return out + "}";
}

}  // namespace

std::string log_escape(std::string_view text) {
  std::string out;
  out.reserve(std::min(text.size(), kLogEscapeMaxBytes) + 16);
  for (size_t i = 0; i < text.size();) {
    size_t consumed = 0;
    std::string piece = escape_one(text.substr(i), consumed);
    if (out.size() + piece.size() > kLogEscapeMaxBytes)
      return out + "\xe2\x80\xa6[" + std::to_string(text.size()) + " bytes]";
    out += piece;
    i += consumed;
  }
  return out;
}

}  // namespace xervo
