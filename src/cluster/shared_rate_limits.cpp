#include "cluster/shared_rate_limits.h"

#include <cmath>
#include <cstdlib>

namespace xervo::cluster {
namespace {

// KEYS[1]: the client's bucket. ARGV: requests per minute, tokens per minute, tokens to charge
// (0: admit one request). Returns the seconds to wait as a string (0: admitted / charged).
constexpr const char* kBucketScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rpm, tpm, charge = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'r', 't', 'u')
local r, tk, u = tonumber(b[1]), tonumber(b[2]), tonumber(b[3])
if not u then
  r, tk, u = rpm, tpm, now
end
local m = (now - u) / 60
if m > 0 then
  r = math.min(rpm, r + m * rpm)
  tk = math.min(tpm, tk + m * tpm)
end
local wait = 0
if charge > 0 then
  tk = tk - charge
else
  if rpm > 0 and r < 1 then wait = math.max(wait, (1 - r) * 60 / rpm) end
  if tpm > 0 and tk <= 0 then wait = math.max(wait, (1 - tk) * 60 / tpm) end
  if wait == 0 and rpm > 0 then r = r - 1 end
end
redis.call('HSET', KEYS[1], 'r', tostring(r), 't', tostring(tk), 'u', tostring(now))
redis.call('EXPIRE', KEYS[1], 180)
return tostring(wait)
)lua";

}  // namespace

std::optional<RedisValue> SharedRateLimits::eval(const std::string& client, const server::RateLimit& limit,
                                                 int64_t tokens) {
  return redis_.command({"EVAL", kBucketScript, "1", prefix_ + "rl:" + client,
                         std::to_string(std::max<int64_t>(0, limit.requests_per_minute)),
                         std::to_string(std::max<int64_t>(0, limit.tokens_per_minute)),
                         std::to_string(tokens)});
}

std::optional<int> SharedRateLimits::admit(const std::string& client, const server::RateLimit& limit) {
  if (limit.unlimited()) return 0;
  auto v = eval(client, limit, 0);
  if (!v || v->type != RedisValue::Type::string) return std::nullopt;  // an error reply: decide locally
  double wait_s = std::strtod(v->str.c_str(), nullptr);
  if (!(wait_s > 0)) return 0;
  return std::max(1, static_cast<int>(std::ceil(std::min(wait_s, 86400.0))));
}

bool SharedRateLimits::charge_tokens(const std::string& client, const server::RateLimit& limit,
                                     int64_t tokens) {
  if (limit.tokens_per_minute <= 0 || tokens <= 0) return true;
  auto v = eval(client, limit, tokens);
  return v && v->type == RedisValue::Type::string;
}

}  // namespace xervo::cluster
