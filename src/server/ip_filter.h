// Client addresses for access control: CIDR ranges (IPv4 and IPv6), and the client a request came
// from when it passed through reverse proxies (X-Forwarded-For, believed only from trusted peers).
// Plain values and pure functions; safe from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xervo/error.h"

namespace xervo::server {

// An address as 16 bytes; IPv4 (and IPv4-mapped IPv6, ::ffff:a.b.c.d) as ::ffff:a.b.c.d, so that
// "10.0.0.0/8" matches a client the socket reports either way.
struct IpAddress {
  std::array<uint8_t, 16> bytes{};
  bool v4 = false;
};

// "1.2.3.4", "::1", "[::1]", "[::1]:8080", "1.2.3.4:80" (a port is dropped); nullopt otherwise.
std::optional<IpAddress> parse_ip(std::string_view text);
std::string to_string(const IpAddress& ip);

struct Cidr {
  IpAddress network;
  int prefix = 128;  // in bits of the 16-byte form (an IPv4 /8 is /104 here)
};

// "10.0.0.0/8", "2001:db8::/32", or a bare address (one host); config_invalid naming `where` otherwise.
Result<Cidr> parse_cidr(std::string_view text, const std::string& where);
Result<std::vector<Cidr>> parse_cidrs(const std::vector<std::string>& texts, const std::string& where);
bool contains(const Cidr& range, const IpAddress& ip);
bool any_contains(const std::vector<Cidr>& ranges, const IpAddress& ip);

// The client of a request whose TCP peer is `peer`: the peer itself, unless the peer is a trusted
// proxy, then the right-most X-Forwarded-For address that is not a trusted proxy (the one the
// nearest untrusted hop handed over; anything left of it may be forged). A malformed entry stops the
// walk at the proxy that passed it. Empty `peer` that is not an address ("batch"): nullopt.
std::optional<IpAddress> client_address(std::string_view peer, std::string_view forwarded_for,
                                        const std::vector<Cidr>& trusted_proxies);

}  // namespace xervo::server
