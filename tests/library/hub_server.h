// A Hugging Face Hub look-alike on 127.0.0.1 for the library tests (cpp-httplib): model search,
// revision listings with LFS sha256, resolve URLs that redirect to a blob route honouring Range,
// and faults on demand (drop a connection halfway, serve wrong bytes, answer 401/404/429, hold a
// download at a byte until released, redirect in a loop).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace xervo::testing {

class FakeHub {
 public:
  FakeHub();
  ~FakeHub();

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Publishes `content` as repo/file at revision "main" (commit "c0ffee...").
  void add_file(const std::string& repo, const std::string& file, std::string content);
  // Replaces the listing of a repo by raw JSON (for hostile listings).
  void set_listing(const std::string& repo, nlohmann::json listing);
  void set_search_result(nlohmann::json result) {
    std::lock_guard lock(mutex_);
    search_result_ = std::move(result);
  }

  // Faults.
  std::atomic<int> drop_after_bytes{-1};  // first blob response closes after this many bytes
  std::atomic<bool> corrupt{false};       // serve bytes that differ from the listed hash
  std::atomic<int> fail_status{0};        // every route answers this status when non-zero
  std::atomic<int> blob_delay_ms{0};      // sleep per chunk (keeps a download in flight)
  // The next resolve request answers 429 with this Retry-After (seconds) when >= 0.
  std::atomic<int> rate_limit_once_retry_after{-1};
  // Resolve URLs of this repo redirect to themselves.
  void set_redirect_loop(const std::string& repo) {
    std::lock_guard lock(mutex_);
    redirect_loop_repo_ = repo;
  }
  // Blob responses stop after `bytes` bytes and wait (the download stays in flight) until
  // release_blobs(); wait_until_held() returns once a response is waiting there.
  void hold_blobs_after(size_t bytes);
  void wait_until_held();
  void release_blobs();

  // Observations.
  std::atomic<int> search_requests{0};
  std::atomic<int> listing_requests{0};
  std::atomic<int> blob_requests{0};
  std::atomic<uint64_t> blob_bytes_sent{0};
  std::atomic<int> resolve_requests{0};
  // When each resolve request arrived, as the server saw it.
  std::vector<std::chrono::steady_clock::time_point> resolve_times() {
    std::lock_guard lock(mutex_);
    return resolve_times_;
  }
  std::vector<std::string> ranges() {
    std::lock_guard lock(mutex_);
    return ranges_;
  }
  std::vector<std::string> auth_headers() {
    std::lock_guard lock(mutex_);
    return auth_;
  }

  static std::string sha256_hex(const std::string& data);

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;
  std::map<std::string, std::map<std::string, std::string>> files_;  // repo -> file -> content
  std::map<std::string, nlohmann::json> listings_;
  nlohmann::json search_result_ = nlohmann::json::array();
  std::vector<std::string> ranges_;
  std::vector<std::string> auth_;
  std::vector<std::chrono::steady_clock::time_point> resolve_times_;
  std::string redirect_loop_repo_;
  // Hold of blob responses.
  std::mutex hold_mutex_;
  std::condition_variable hold_cv_;
  long hold_at_ = -1;  // GUARDED_BY(hold_mutex_)
  int held_ = 0;       // responses waiting at the hold
  bool stopping_ = false;
};

}  // namespace xervo::testing
