#include "cluster/redis_client.h"

#include <hiredis/hiredis.h>

#include <charconv>
#include <csignal>

#include "core/log.h"

namespace xervo::cluster {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

constexpr size_t kMaxDepth = 8;  // replies we ask for are at most two levels deep

RedisValue convert(const redisReply* r, size_t depth = 0) {
  RedisValue v;
  if (!r) return v;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      v.type = RedisValue::Type::integer;
      v.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      v.type = r->type == REDIS_REPLY_STRING   ? RedisValue::Type::string
               : r->type == REDIS_REPLY_STATUS ? RedisValue::Type::status
                                               : RedisValue::Type::error;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      v.type = RedisValue::Type::array;
      if (depth < kMaxDepth)
        for (size_t i = 0; i < r->elements; ++i) v.elements.push_back(convert(r->element[i], depth + 1));
      break;
    default:
      break;
  }
  return v;
}

std::optional<RedisValue> run(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* reply =
      static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (!reply) return std::nullopt;  // I/O error or timeout: c->err says which; c is unusable now
  RedisValue v = convert(reply);
  freeReplyObject(reply);
  return v;
}

}  // namespace

Result<RedisEndpoint> parse_redis_url(std::string_view url) {
  auto bad = [](const std::string& why) {
    return Error(ErrorCode::config_invalid, "[cluster] redis_url: " + why +
                                                " (expected redis://[:PASSWORD@]HOST[:PORT][/DB] or "
                                                "unix:///PATH)");
  };
  RedisEndpoint e;
  if (url.size() > 4096) return bad("is too long");
  if (url.starts_with("unix://")) {
    e.socket = std::string(url.substr(7));
    if (e.socket.empty() || e.socket[0] != '/') return bad("a unix socket path must be absolute");
    return e;
  }
  if (!url.starts_with("redis://")) return bad("must start with redis:// or unix://");
  std::string_view rest = url.substr(8);
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view auth = rest.substr(0, at);
    if (size_t colon = auth.find(':'); colon != std::string_view::npos) auth = auth.substr(colon + 1);
    e.password = std::string(auth);
    rest = rest.substr(at + 1);
  }
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty()) {
      auto [p, ec] = std::from_chars(db.data(), db.data() + db.size(), e.db);
      if (ec != std::errc() || p != db.data() + db.size() || e.db < 0 || e.db > 1000)
        return bad("the database after '/' must be a number");
    }
  }
  std::string_view host = rest;
  if (!rest.empty() && rest[0] == '[') {  // [::1]:6379
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad("an IPv6 address must end with ']'");
    host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest[0] != ':') return bad("expected ':PORT' after the IPv6 address");
    rest = rest.empty() ? rest : rest.substr(1);
  } else if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    rest = rest.substr(colon + 1);
  } else {
    rest = {};
  }
  if (!rest.empty()) {
    auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), e.port);
    if (ec != std::errc() || p != rest.data() + rest.size() || e.port < 1 || e.port > 65535)
      return bad("the port must be a number between 1 and 65535");
  }
  if (host.empty()) return bad("no host");
  e.host = std::string(host);
  return e;
}

RedisClient::RedisClient(RedisEndpoint endpoint, std::chrono::milliseconds timeout, size_t max_connections)
    : endpoint_(std::move(endpoint)),
      timeout_(timeout),
      max_connections_(std::max<size_t>(1, max_connections)) {
  // A write to a Redis that went away must fail that call, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  if (redisContext* c = connect()) {
    std::lock_guard lock(mu_);
    idle_.push_back(c);
    open_ = 1;
    up_ = true;
  } else {
    spdlog::warn("cluster: Redis at {} is unreachable; serving with local limits until it answers", where());
  }
  reconnect_ = std::jthread([this](std::stop_token stop) { reconnect_loop(stop); });
}

RedisClient::~RedisClient() {
  reconnect_.request_stop();
  cv_.notify_all();
  if (reconnect_.joinable()) reconnect_.join();
  std::lock_guard lock(mu_);
  for (auto* c : idle_) redisFree(c);
  idle_.clear();
}

std::string RedisClient::where() const {
  return endpoint_.socket.empty() ? endpoint_.host + ":" + std::to_string(endpoint_.port) : endpoint_.socket;
}

redisContext* RedisClient::connect() {
  const timeval tv = to_timeval(timeout_);
  redisContext* c = endpoint_.socket.empty()
                        ? redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, tv)
                        : redisConnectUnixWithTimeout(endpoint_.socket.c_str(), tv);
  if (!c) return nullptr;
  if (c->err || redisSetTimeout(c, tv) != REDIS_OK) {
    redisFree(c);
    return nullptr;
  }
  auto ok = [&](const std::vector<std::string>& args) {
    auto v = run(c, args);
    return v && !v->is_error();
  };
  if ((!endpoint_.password.empty() && !ok({"AUTH", endpoint_.password})) ||
      (endpoint_.db != 0 && !ok({"SELECT", std::to_string(endpoint_.db)})) || !ok({"PING"})) {
    redisFree(c);
    return nullptr;
  }
  return c;
}

void RedisClient::mark_down(const std::string& why) {
  errors_++;
  if (up_.exchange(false)) {
    spdlog::warn(
        "cluster: Redis at {} failed ({}); serving with local limits, reconnecting in the background",
        where(), why);
    cv_.notify_all();  // the reconnect thread and callers waiting for a connection
  }
}

std::optional<RedisValue> RedisClient::command(const std::vector<std::string>& args) {
  if (!up_.load()) {
    errors_++;
    return std::nullopt;
  }
  redisContext* c = nullptr;
  bool fresh = false;
  {
    std::unique_lock lock(mu_);
    // A free connection, or room for one more; at the pool's size wait (bounded) for one.
    cv_.wait_for(lock, timeout_, [&] { return !idle_.empty() || open_ < max_connections_ || !up_.load(); });
    if (!up_.load()) {
      errors_++;
      return std::nullopt;
    }
    if (!idle_.empty()) {
      c = idle_.back();
      idle_.pop_back();
    } else if (open_ < max_connections_) {
      open_++;
      fresh = true;
    } else {
      errors_++;
      return std::nullopt;  // every connection busy for a whole timeout: treat as no answer
    }
  }
  if (fresh && !(c = connect())) {
    {
      std::lock_guard lock(mu_);
      open_--;
    }
    mark_down("cannot connect");
    return std::nullopt;
  }
  auto v = run(c, args);
  if (!v) {
    std::string why = c->err ? c->errstr : "no answer";
    redisFree(c);
    {
      std::lock_guard lock(mu_);
      open_--;
    }
    mark_down(why);
    return std::nullopt;
  }
  {
    std::lock_guard lock(mu_);
    idle_.push_back(c);
  }
  cv_.notify_one();
  return v;
}

void RedisClient::reconnect_loop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, stop, std::chrono::milliseconds(500), [] { return false; });
      if (stop.stop_requested()) return;
      if (up_.load()) continue;
      // Connections opened before the outage are dead too: drop them.
      for (auto* c : idle_) redisFree(c);
      open_ -= idle_.size();
      idle_.clear();
    }
    redisContext* c = connect();
    if (!c) continue;
    {
      std::lock_guard lock(mu_);
      idle_.push_back(c);
      open_++;
      up_ = true;
    }
    cv_.notify_all();
    spdlog::info("cluster: Redis at {} answers again; shared limits, cache and batch leases are back",
                 where());
  }
}

}  // namespace xervo::cluster
