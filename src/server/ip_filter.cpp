#include "server/ip_filter.h"

#include <arpa/inet.h>

#include <cstring>
#include "core/text.h"

namespace xervo::server {
namespace {

constexpr int kV4Offset = 96;  // bits before an IPv4 address in its mapped form

using text::trim;

std::optional<IpAddress> parse_plain(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  std::string s(text);
  IpAddress ip;
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    ip.bytes[10] = ip.bytes[11] = 0xff;
    std::memcpy(ip.bytes.data() + 12, &v4, 4);
    ip.v4 = true;
    return ip;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) != 1) return std::nullopt;
  std::memcpy(ip.bytes.data(), &v6, 16);
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  ip.v4 = std::memcmp(ip.bytes.data(), kMapped, 12) == 0;
  return ip;
}

}  // namespace

std::optional<IpAddress> parse_ip(std::string_view text) {
  text = trim(text);
  if (text.starts_with('[')) {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    return parse_plain(text.substr(1, close - 1));
  }
  if (auto ip = parse_plain(text)) return ip;
  // "a.b.c.d:port": exactly one colon (an IPv6 address has several).
  if (size_t colon = text.find(':');
      colon != std::string_view::npos && text.find(':', colon + 1) == std::string_view::npos) {
    auto ip = parse_plain(text.substr(0, colon));
    if (ip && ip->v4) return ip;
  }
  return std::nullopt;
}

std::string to_string(const IpAddress& ip) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ip.v4)
    inet_ntop(AF_INET, ip.bytes.data() + 12, buf, sizeof buf);
  else
    inet_ntop(AF_INET6, ip.bytes.data(), buf, sizeof buf);
  return buf;
}

Result<Cidr> parse_cidr(std::string_view text, const std::string& where) {
  auto invalid = [&](const std::string& what) {
    return Error(ErrorCode::config_invalid, where + ": '" + std::string(text).substr(0, 64) + "' " + what);
  };
  std::string_view address = text;
  std::optional<int> bits;
  if (size_t slash = text.find('/'); slash != std::string_view::npos) {
    address = text.substr(0, slash);
    std::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return invalid("has a malformed prefix length");
    int n = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return invalid("has a malformed prefix length");
      n = n * 10 + (c - '0');
    }
    bits = n;
  }
  auto ip = parse_plain(address);
  if (!ip) return invalid("is not an IPv4 or IPv6 address or CIDR range");
  Cidr range;
  range.network = *ip;
  const int max = ip->v4 ? 32 : 128;
  if (bits && *bits > max) return invalid("has a prefix longer than " + std::to_string(max) + " bits");
  range.prefix = (ip->v4 ? kV4Offset : 0) + bits.value_or(max);
  // Host bits are cleared, so "10.1.2.3/8" means 10.0.0.0/8 as most tools read it.
  for (int i = range.prefix; i < 128; ++i)
    range.network.bytes[i / 8] &= static_cast<uint8_t>(~(0x80 >> (i % 8)));
  return range;
}

Result<std::vector<Cidr>> parse_cidrs(const std::vector<std::string>& texts, const std::string& where) {
  std::vector<Cidr> out;
  for (const auto& t : texts) {
    auto c = parse_cidr(t, where);
    if (!c.ok()) return c.error();
    out.push_back(*c);
  }
  return out;
}

bool contains(const Cidr& range, const IpAddress& ip) {
  const int full = range.prefix / 8;
  if (std::memcmp(range.network.bytes.data(), ip.bytes.data(), full) != 0) return false;
  if (const int rest = range.prefix % 8; rest) {
    const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
    return (range.network.bytes[full] & mask) == (ip.bytes[full] & mask);
  }
  return true;
}

bool any_contains(const std::vector<Cidr>& ranges, const IpAddress& ip) {
  for (const auto& r : ranges)
    if (contains(r, ip)) return true;
  return false;
}

std::optional<IpAddress> client_address(std::string_view peer, std::string_view forwarded_for,
                                        const std::vector<Cidr>& trusted_proxies) {
  auto client = parse_ip(peer);
  if (!client) return std::nullopt;
  // At most this many hops are read: a header of thousands of entries costs nothing more.
  constexpr int kMaxHops = 32;
  int hops = 0;
  while (any_contains(trusted_proxies, *client) && !forwarded_for.empty() && hops++ < kMaxHops) {
    size_t comma = forwarded_for.rfind(',');
    std::string_view last = comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1);
    forwarded_for = comma == std::string_view::npos ? std::string_view() : forwarded_for.substr(0, comma);
    auto hop = parse_ip(last);
    if (!hop) break;  // a proxy we trust passed garbage: the proxy itself is the best we know
    client = hop;
  }
  return client;
}

}  // namespace xervo::server
