#include "hub_server.h"

#include <httplib.h>
#include <openssl/sha.h>

#include <chrono>

namespace xervo::testing {

std::string FakeHub::sha256_hex(const std::string& data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : digest) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 15]);
  }
  return out;
}

FakeHub::FakeHub() : server_(std::make_unique<httplib::Server>()) {
  auto& s = *server_;
  // One request per connection: stop() then never waits for an idle keep-alive connection.
  s.set_keep_alive_max_count(1);
  auto failing = [this](httplib::Response& res) {
    int st = fail_status.load();
    if (st == 0) return false;
    res.status = st;
    if (st == 429) res.set_header("Retry-After", "0");
    res.set_content(R"({"error":"fault injected"})", "application/json");
    return true;
  };
  s.Get("/api/models", [this, failing](const httplib::Request& req, httplib::Response& res) {
    ++search_requests;
    if (failing(res)) return;
    std::lock_guard lock(mutex_);
    res.set_content(search_result_.dump(), "application/json");
  });
  s.Get(R"(/api/models/([^/]+)/([^/]+)/revision/([^/]+))",
        [this, failing](const httplib::Request& req, httplib::Response& res) {
          ++listing_requests;
          {
            std::lock_guard lock(mutex_);
            auth_.push_back(req.get_header_value("Authorization"));
          }
          if (failing(res)) return;
          std::string repo = std::string(req.matches[1]) + "/" + std::string(req.matches[2]);
          std::lock_guard lock(mutex_);
          if (auto it = listings_.find(repo); it != listings_.end()) {
            res.set_content(it->second.dump(), "application/json");
            return;
          }
          auto files = files_.find(repo);
          if (files == files_.end()) {
            res.status = 404;
            res.set_content(R"({"error":"Repository not found"})", "application/json");
            return;
          }
          nlohmann::json siblings = nlohmann::json::array();
          for (const auto& [name, content] : files->second)
            siblings.push_back(
                {{"rfilename", name},
                 {"size", content.size()},
                 {"blobId", "b10b"},
                 {"lfs", {{"sha256", sha256_hex(content)}, {"size", content.size()}, {"pointerSize", 134}}}});
          res.set_content(
              nlohmann::json{
                  {"id", repo}, {"sha", "c0ffee0000000000000000000000000000000001"}, {"siblings", siblings}}
                  .dump(),
              "application/json");
        });
  // resolve -> redirect to the blob route, as the Hub redirects to its CDN.
  s.Get(R"(/([^/]+)/([^/]+)/resolve/([^/]+)/(.+))",
        [this, failing](const httplib::Request& req, httplib::Response& res) {
          ++resolve_requests;
          std::string repo = std::string(req.matches[1]) + "/" + std::string(req.matches[2]);
          {
            std::lock_guard lock(mutex_);
            resolve_times_.push_back(std::chrono::steady_clock::now());
            if (repo == redirect_loop_repo_) {
              res.set_redirect(req.path);
              return;
            }
          }
          if (int after = rate_limit_once_retry_after.exchange(-1); after >= 0) {
            res.status = 429;
            res.set_header("Retry-After", std::to_string(after));
            res.set_content(R"({"error":"slow down"})", "application/json");
            return;
          }
          if (failing(res)) return;
          res.set_redirect("/blobs/" + repo + "/" + std::string(req.matches[4]));
        });
  s.Get(R"(/blobs/([^/]+)/([^/]+)/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
    int n = ++blob_requests;
    std::string repo = std::string(req.matches[1]) + "/" + std::string(req.matches[2]);
    std::string file = req.matches[3];
    std::string content;
    {
      std::lock_guard lock(mutex_);
      ranges_.push_back(req.get_header_value("Range"));
      auto it = files_.find(repo);
      if (it == files_.end() || !it->second.count(file)) {
        res.status = 404;
        return;
      }
      content = it->second[file];
    }
    if (corrupt.load() && !content.empty()) content[content.size() / 2] ^= 0x5a;
    int drop = n == 1 ? drop_after_bytes.load() : -1;
    auto shared = std::make_shared<std::string>(std::move(content));
    res.set_content_provider(shared->size(), "application/octet-stream",
                             [this, shared, drop](size_t offset, size_t length, httplib::DataSink& sink) {
                               size_t chunk = std::min<size_t>(length, 4096);
                               if (drop >= 0 && offset + chunk > static_cast<size_t>(drop)) {
                                 // Send up to the drop point, then cut the connection.
                                 size_t rest = static_cast<size_t>(drop) > offset ? drop - offset : 0;
                                 if (rest) sink.write(shared->data() + offset, rest);
                                 blob_bytes_sent += rest;
                                 return false;
                               }
                               if (int d = blob_delay_ms.load())
                                 std::this_thread::sleep_for(std::chrono::milliseconds(d));
                               {
                                 std::unique_lock lock(hold_mutex_);
                                 if (hold_at_ >= 0 && offset >= static_cast<size_t>(hold_at_)) {
                                   ++held_;
                                   hold_cv_.notify_all();
                                   hold_cv_.wait(lock, [&] { return hold_at_ < 0 || stopping_; });
                                   --held_;
                                 } else if (hold_at_ >= 0) {
                                   chunk = std::min(chunk, static_cast<size_t>(hold_at_) - offset);
                                 }
                               }
                               sink.write(shared->data() + offset, chunk);
                               blob_bytes_sent += chunk;
                               return true;
                             });
  });
  // Bound and listening once this returns: connections queue until the loop below accepts them.
  port_ = s.bind_to_any_port("127.0.0.1");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

FakeHub::~FakeHub() {
  {
    std::lock_guard lock(hold_mutex_);
    stopping_ = true;
  }
  hold_cv_.notify_all();
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

void FakeHub::add_file(const std::string& repo, const std::string& file, std::string content) {
  std::lock_guard lock(mutex_);
  files_[repo][file] = std::move(content);
}

void FakeHub::hold_blobs_after(size_t bytes) {
  std::lock_guard lock(hold_mutex_);
  hold_at_ = static_cast<long>(bytes);
}

void FakeHub::wait_until_held() {
  std::unique_lock lock(hold_mutex_);
  hold_cv_.wait(lock, [&] { return held_ > 0; });
}

void FakeHub::release_blobs() {
  {
    std::lock_guard lock(hold_mutex_);
    hold_at_ = -1;
  }
  hold_cv_.notify_all();
}

void FakeHub::set_listing(const std::string& repo, nlohmann::json listing) {
  std::lock_guard lock(mutex_);
  listings_[repo] = std::move(listing);
}

}  // namespace xervo::testing
