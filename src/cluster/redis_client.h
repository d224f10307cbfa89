// RedisClient: the one connection point of a replica to the shared state (hiredis). Every call is
// bounded by a short timeout and never blocks on an outage: after a failure the client is "down",
// calls fail at once (the caller falls back to its local state), and a background thread reconnects
// (PING every 500 ms) until Redis answers again. A small pool of connections serves calls from many
// threads. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "xervo/error.h"

struct redisContext;

namespace xervo::cluster {

// Where Redis is: redis://[:PASSWORD@]HOST[:PORT][/DB] or unix:///PATH.
struct RedisEndpoint {
  std::string host;
  int port = 6379;
  std::string socket;  // unix socket path (then host is empty)
  std::string password;
  int db = 0;
};
// config_invalid naming what is wrong; the password never appears in the message.
Result<RedisEndpoint> parse_redis_url(std::string_view url);

// One reply, converted from hiredis' tree.
struct RedisValue {
  enum class Type { nil, integer, string, status, error, array } type = Type::nil;
  int64_t integer = 0;
  std::string str;  // string, status and error replies
  std::vector<RedisValue> elements;
  bool is_error() const { return type == Type::error; }
};

class RedisClient {
 public:
  RedisClient(RedisEndpoint endpoint, std::chrono::milliseconds timeout, size_t max_connections = 16);
  ~RedisClient();  // ends the reconnect thread, closes every connection
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Runs one command. nullopt when Redis cannot be reached or did not answer within the timeout
  // (the client is then down until the background thread reconnects); an error reply (a script
  // error, a wrong type) is a value of Type::error, not an outage.
  std::optional<RedisValue> command(const std::vector<std::string>& args);

  bool up() const { return up_.load(); }
  uint64_t errors() const { return errors_.load(); }  // calls that found Redis unreachable
  std::string where() const;                          // "HOST:PORT" or the socket path, for messages

 private:
  redisContext* connect();  // nullptr when it fails; authenticated and on its database
  void mark_down(const std::string& why);
  void reconnect_loop(std::stop_token stop);

  const RedisEndpoint endpoint_;
  const std::chrono::milliseconds timeout_;
  const size_t max_connections_;
  std::atomic<bool> up_{false};
  std::atomic<uint64_t> errors_{0};

  std::mutex mu_;
  std::condition_variable_any cv_;
  std::vector<redisContext*> idle_;  // GUARDED_BY(mu_)
  size_t open_ = 0;                  // GUARDED_BY(mu_): idle and in use
  std::jthread reconnect_;
};

}  // namespace xervo::cluster
