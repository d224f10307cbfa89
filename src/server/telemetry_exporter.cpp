#include "server/telemetry_exporter.h"

#include <algorithm>
#include <iterator>
#include <optional>
#include <vector>

#include "core/log.h"
#include "net/http_client.h"
#include "server/otlp_proto.h"

namespace xervo::server {

SpanExporter::SpanExporter(TelemetryOptions options, Send send)
    : options_(std::move(options)),
      resource_{options_.service_name, options_.resource_attributes},
      protobuf_(options_.protocol == "http/protobuf"),
      send_(std::move(send)) {
  thread_ = std::thread([this] { run(); });
}

SpanExporter::~SpanExporter() { stop(); }

void SpanExporter::submit(trace::SpanRecord span) {
  bool full_batch = false;
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= options_.queue_size) {
      ++(stopping_ ? stats_.dropped_shutdown : stats_.dropped_queue_full);
      return;
    }
    queue_.push_back(std::move(span));
    full_batch = queue_.size() >= options_.batch_size;
  }
  if (full_batch) cv_.notify_one();
}

void SpanExporter::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

SpanExporter::Stats SpanExporter::stats() const {
  std::lock_guard lock(mu_);
  Stats s = stats_;
  s.queued = queue_.size();
  return s;
}

void SpanExporter::run() {
  std::unique_lock lock(mu_);
  auto due = std::chrono::steady_clock::now() + options_.export_interval;
  std::optional<std::chrono::steady_clock::time_point> shutdown_deadline;
  for (;;) {
    cv_.wait_until(lock, due, [&] { return stopping_ || queue_.size() >= options_.batch_size; });
    if (stopping_ && !shutdown_deadline)
      shutdown_deadline = std::chrono::steady_clock::now() + options_.export_timeout;
    if (shutdown_deadline && (queue_.empty() || std::chrono::steady_clock::now() >= *shutdown_deadline)) {
      stats_.dropped_shutdown += queue_.size();
      queue_.clear();
      return;
    }
    const bool batch_ready = queue_.size() >= options_.batch_size;
    if (!batch_ready && !stopping_ && std::chrono::steady_clock::now() < due) continue;  // spurious wake-up
    if (queue_.empty()) {
      due = std::chrono::steady_clock::now() + options_.export_interval;
      continue;
    }
    const size_t n = std::min(queue_.size(), options_.batch_size);
    std::vector<trace::SpanRecord> batch(std::make_move_iterator(queue_.begin()),
                                         std::make_move_iterator(queue_.begin() + static_cast<ptrdiff_t>(n)));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
    lock.unlock();
    export_batch(std::move(batch));
    lock.lock();
    if (queue_.size() < options_.batch_size)
      due = std::chrono::steady_clock::now() + options_.export_interval;
  }
}

void SpanExporter::export_batch(std::vector<trace::SpanRecord> batch) {
  const std::string body =
      protobuf_ ? encode_export_request_proto(batch, resource_) : encode_export_request(batch, resource_);
  Result<uint64_t> sent = send_ ? send_(body) : post(body);
  std::lock_guard lock(mu_);
  ++stats_.export_requests;
  if (!sent.ok()) {
    ++stats_.export_failures;
    stats_.dropped_export += batch.size();
    // A collector that is down fails every export: say so once a minute, not once a batch.
    const auto now = std::chrono::steady_clock::now();
    if (last_warning_ == std::chrono::steady_clock::time_point{} ||
        now - last_warning_ >= std::chrono::minutes(1)) {
      last_warning_ = now;
      spdlog::warn("telemetry: exporting {} spans to {} failed ({}); spans are dropped until it answers",
                   batch.size(), net::redact_url(options_.traces_endpoint), sent.error().message());
    }
    return;
  }
  const uint64_t rejected = std::min<uint64_t>(*sent, batch.size());
  stats_.dropped_rejected += rejected;
  stats_.exported += batch.size() - rejected;
}

Result<uint64_t> SpanExporter::post(const std::string& body) const {
  // Its own client: a slow collector never holds a connection slot a remote provider's call needs.
  static const std::shared_ptr<net::HttpClient> client = std::make_shared<net::HttpClient>();
  net::HttpRequest request;
  request.method = "POST";
  request.url = options_.traces_endpoint;
  request.body = body;
  request.headers.add("Content-Type", protobuf_ ? "application/x-protobuf" : "application/json");
  for (const auto& [name, value] : options_.headers) request.headers.add(name, value);
  request.connect_timeout = options_.export_timeout;
  request.timeout = options_.export_timeout;
  request.follow_redirects = false;
  request.max_body_bytes = 1 << 20;
  auto response = client->send(request);
  if (!response.ok()) return response.error();
  if (!response->success())
    return Error(ErrorCode::unavailable, "the collector answered HTTP " + std::to_string(response->status));
  // A collector answers in the encoding it was sent (OTLP/HTTP); an empty body is a full success.
  const std::string type = response->headers.get("Content-Type").value_or("");
  return type.starts_with("application/x-protobuf") ? rejected_spans_proto(response->body)
                                                    : rejected_spans(response->body);
}

}  // namespace xervo::server
