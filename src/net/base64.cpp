#include "net/base64.h"

#include <cstdint>

namespace xervo::net {

std::string base64_encode(std::string_view bytes, Base64 alphabet) {
  static constexpr char kStandard[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const char* table = alphabet == Base64::url ? kUrl : kStandard;
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += table[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += table[(acc << (6 - bits)) & 63];
  if (alphabet == Base64::standard)
    while (out.size() % 4 != 0) out += '=';
  return out;
}

}  // namespace xervo::net
