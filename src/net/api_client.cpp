#include "net/api_client.h"

#include <algorithm>
#include <cstdlib>
#include <random>
#include <utility>

#include "core/log.h"
#include "core/trace.h"

namespace xervo::net {
namespace {

std::string env_or_empty(const std::string& name) {
  if (name.empty()) return {};
  const char* v = std::getenv(name.c_str());
  return v ? std::string(v) : std::string();
}

Result<std::chrono::milliseconds> read_ms(const nlohmann::json& j, const char* key,
                                          std::chrono::milliseconds current) {
  auto it = j.find(key);
  if (it == j.end()) return current;
  // At most a week: deadlines are now() plus this, and a value near the int64 limit would overflow
  // (a deadline in the past: every call would fail at once).
  constexpr int64_t kMaxMs = 7LL * 24 * 3600 * 1000;
  if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > kMaxMs)
    return Error(ErrorCode::config_invalid, std::string(key) + " must be an integer from 0 to " +
                                                std::to_string(kMaxMs) + " (milliseconds, a week)");
  return std::chrono::milliseconds(it->get<int64_t>());
}

// JSON text of a request. Invalid UTF-8 in caller text is replaced rather than thrown on.
std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The keys parse_api_settings() itself reads; a provider adds its own in ApiDefaults::keys.
constexpr const char* kSharedKeys[] = {"base_url",        "api_key_env",        "headers",
                                       "timeout_ms",      "connect_timeout_ms", "stream_idle_timeout_ms",
                                       "retry",           "max_in_flight",      "max_queued",
                                       "queue_timeout_ms"};
// The keys of a `retry` table (RetryPolicy::from_json).
constexpr const char* kRetryKeys[] = {"max_attempts", "base_delay_ms", "max_delay_ms", "max_total_ms",
                                      "jitter"};

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// A key nobody reads is a typo that would be silently ignored: refuse it, naming it and where.
Result<void> check_keys(const nlohmann::json& table, const std::vector<std::string>& known,
                        const std::string& where) {
  if (!table.is_object()) return {};
  for (const auto& [key, value] : table.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end())
      return Error(ErrorCode::config_invalid,
                   where + key + ": unknown key (known keys: " + join(known) + ")");
  }
  return {};
}

Result<void> check_all_keys(const nlohmann::json& provider_settings, const nlohmann::json& overrides,
                            const ApiDefaults& defaults) {
  const auto known = api_setting_keys(defaults);
  const std::vector<std::string> retry(std::begin(kRetryKeys), std::end(kRetryKeys));
  const std::string table = "[providers." + defaults.service + "] ";
  for (const auto& [source, where] :
       {std::pair{&provider_settings, table}, std::pair{&overrides, std::string("options.")}}) {
    if (auto r = check_keys(*source, known, where); !r.ok()) return r;
    if (source->is_object() && source->contains("retry")) {
      if (auto r = check_keys((*source)["retry"], retry, where + "retry."); !r.ok()) return r;
    }
  }
  return {};
}

}  // namespace

std::vector<std::string> api_setting_keys(const ApiDefaults& defaults) {
  std::vector<std::string> keys(std::begin(kSharedKeys), std::end(kSharedKeys));
  keys.insert(keys.end(), defaults.keys.begin(), defaults.keys.end());
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

Result<ApiSettings> parse_api_settings(const nlohmann::json& provider_settings,
                                       const nlohmann::json& overrides, const ApiDefaults& defaults) {
  const std::string where = "[providers." + defaults.service + "] or the model's options: ";
  nlohmann::json merged = provider_settings.is_object() ? provider_settings : nlohmann::json::object();
  if (!provider_settings.is_null() && !provider_settings.is_object())
    return Error(ErrorCode::config_invalid, "[providers." + defaults.service + "] must be a table");
  if (auto keys = check_all_keys(provider_settings, overrides, defaults); !keys.ok()) return keys.error();
  if (overrides.is_object()) {
    for (const auto& [key, value] : overrides.items()) {
      if ((key == "headers" || key == "retry") && value.is_object() && merged.contains(key) &&
          merged[key].is_object())
        merged[key].update(value);
      else
        merged[key] = value;
    }
  }

  ApiSettings s;
  auto string_key = [&](const char* key, std::string fallback) -> Result<std::string> {
    auto it = merged.find(key);
    if (it == merged.end()) return fallback;
    if (!it->is_string()) return Error(ErrorCode::config_invalid, where + key + " must be a string");
    return it->get<std::string>();
  };
  std::string default_base = env_or_empty(defaults.base_url_env);
  if (default_base.empty()) default_base = defaults.base_url;
  auto base = string_key("base_url", default_base);
  if (!base) return base.error();
  s.base_url = *base;
  while (!s.base_url.empty() && s.base_url.back() == '/') s.base_url.pop_back();
  if (!s.base_url.starts_with("http://") && !s.base_url.starts_with("https://"))
    return Error(ErrorCode::config_invalid,
                 where + "base_url '" + redact_url(s.base_url) + "' must start with http:// or https://");
  auto key_env = string_key("api_key_env", defaults.api_key_env);
  if (!key_env) return key_env.error();
  s.api_key_env = *key_env;
  s.api_key = env_or_empty(s.api_key_env);

  if (auto it = merged.find("headers"); it != merged.end()) {
    if (!it->is_object())
      return Error(ErrorCode::config_invalid, where + "headers must be a table of strings");
    for (const auto& [name, value] : it->items()) {
      if (!value.is_string())
        return Error(ErrorCode::config_invalid, where + "headers." + name + " must be a string");
      s.headers.add(name, value.get<std::string>());
    }
  }
  auto connect = read_ms(merged, "connect_timeout_ms", s.connect_timeout);
  if (!connect) return Error(ErrorCode::config_invalid, where + connect.error().message());
  auto timeout = read_ms(merged, "timeout_ms", s.timeout);
  if (!timeout) return Error(ErrorCode::config_invalid, where + timeout.error().message());
  auto idle = read_ms(merged, "stream_idle_timeout_ms", s.stream_idle_timeout);
  if (!idle) return Error(ErrorCode::config_invalid, where + idle.error().message());
  s.connect_timeout = *connect;
  s.timeout = *timeout;
  s.stream_idle_timeout = *idle;
  for (const char* key : {"max_in_flight", "max_queued"}) {
    auto it = merged.find(key);
    if (it == merged.end()) continue;
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > 1000000)
      return Error(ErrorCode::config_invalid,
                   where + key + " must be an integer between 0 and 1000000 (0: no limit / no queue)");
    (std::string_view(key) == "max_in_flight" ? s.max_in_flight : s.max_queued) = it->get<int>();
  }
  auto queue_timeout = read_ms(merged, "queue_timeout_ms", s.queue_timeout);
  if (!queue_timeout) return Error(ErrorCode::config_invalid, where + queue_timeout.error().message());
  s.queue_timeout = *queue_timeout;
  auto retry =
      RetryPolicy::from_json(merged.contains("retry") ? merged["retry"] : nlohmann::json(), defaults.retry);
  if (!retry) return Error(ErrorCode::config_invalid, where + retry.error().message());
  s.retry = *retry;
  s.merged = std::move(merged);
  return s;
}

ApiClient::ApiClient(ApiSettings settings, ApiContext context, HttpHeaders auth_headers,
                     std::shared_ptr<HttpClient> http, ErrorClassifier classify)
    : settings_(std::move(settings)),
      context_(std::move(context)),
      auth_headers_(std::move(auth_headers)),
      http_(http ? std::move(http) : HttpClient::shared()),
      classify_(std::move(classify)) {
  if (settings_.max_in_flight > 0)
    in_flight_ = InFlightLimit::shared(context_.service + "|" + settings_.base_url, settings_.max_in_flight,
                                       settings_.max_queued);
}

Result<std::optional<InFlightLimit::Slot>> ApiClient::take_slot(std::stop_token stop) const {
  if (!in_flight_) return std::optional<InFlightLimit::Slot>();
  auto slot =
      in_flight_->acquire(settings_.queue_timeout, stop, context_.service + " at " + context_.base_url);
  if (!slot) return slot.error();
  return std::optional<InFlightLimit::Slot>(std::move(*slot));
}

namespace {

// gen_ai.operation.name of a remote API path (OpenAI's and Gemini's).
std::string_view operation_of(std::string_view path) {
  if (path.find("embed") != std::string_view::npos) return "embeddings";
  if (path.find("rerank") != std::string_view::npos) return "rerank";
  if (path.find("generateContent") != std::string_view::npos ||
      path.find("GenerateContent") != std::string_view::npos)
    return "generate_content";
  if (path.find("chat/completions") != std::string_view::npos) return "chat";
  if (path.find("completions") != std::string_view::npos) return "text_completion";
  return {};
}

// The client span of one call to a remote provider (OpenTelemetry's GenAI client span), and the
// trace context the request carries: the span's own when it is recorded, else the request's as it
// came (tracing off or sampled out), so that the provider's side of the trace joins the client's.
trace::Span start_call_span(const ApiContext& context, std::string_view path, HttpRequest& request) {
  const std::string_view op = operation_of(path);
  trace::Span span =
      trace::start_span(std::string(op.empty() ? "POST" : op) + " " + context.model, trace::SpanKind::client);
  if (span.recording()) {
    if (!op.empty()) span.set("gen_ai.operation.name", std::string(op));
    span.set("gen_ai.provider.name", context.service == "gemini" ? "gcp.gemini" : context.service);
    span.set("gen_ai.request.model", context.model);
    span.set("http.request.method", request.method);
    span.set("url.full", redact_url(request.url));
  }
  if (const std::string tp = trace::outgoing_traceparent(span);
      !tp.empty() && !request.headers.contains("traceparent")) {
    request.headers.add("traceparent", tp);
    if (!span.context().tracestate.empty()) request.headers.add("tracestate", span.context().tracestate);
  }
  return span;
}

void end_call_span(trace::Span& span, const Result<HttpResponse>& response,
                   const std::optional<Error>& error) {
  if (!span.recording()) return;
  if (response) {
    span.set("http.response.status_code", static_cast<int64_t>(response->status));
    if (response->attempts > 1)
      span.set("http.request.resend_count", static_cast<int64_t>(response->attempts - 1));
  }
  if (error) span.set_error(error->message());
  span.end();
}

}  // namespace

std::string ApiClient::url(std::string_view path) const {
  std::string u = settings_.base_url;
  if (!path.starts_with('/')) u += '/';
  u += path;
  return u;
}

HttpRequest ApiClient::make_request(std::string_view path, const nlohmann::json& body) const {
  HttpRequest r;
  r.method = body.is_null() ? "GET" : "POST";
  r.url = url(path);
  r.connect_timeout = settings_.connect_timeout;
  r.timeout = settings_.timeout;
  for (const auto& [name, value] : auth_headers_.entries()) r.headers.add(name, value);
  for (const auto& [name, value] : settings_.headers.entries()) r.headers.add(name, value);
  if (!body.is_null()) {
    r.headers.add("Content-Type", "application/json");
    r.body = dump(body);
  }
  return r;
}

Error ApiClient::map_error(const HttpResponse& response) const {
  std::optional<ErrorCode> code;
  if (classify_) {
    const auto parsed = nlohmann::json::parse(response.body, nullptr, false);
    code = classify_(response.status, parsed.is_discarded() ? nlohmann::json() : parsed);
  }
  return error_from_response(response, context_, code);
}

RetryFilter ApiClient::retry_filter() const {
  if (!classify_) return {};
  // A retryable status whose body names a permanent problem (context too long) is final.
  return [this](const HttpResponse& response) {
    const auto parsed = nlohmann::json::parse(response.body, nullptr, false);
    const auto code = classify_(response.status, parsed.is_discarded() ? nlohmann::json() : parsed);
    return !code || is_retryable(*code);
  };
}

Result<nlohmann::json> ApiClient::post_json(std::string_view path, const nlohmann::json& body,
                                            std::stop_token stop) const {
  return send_for_json(path, make_request(path, body), stop);
}

Result<nlohmann::json> ApiClient::post_form(std::string_view path, const std::vector<FormPart>& parts,
                                            std::stop_token stop) const {
  HttpRequest request = make_request(path, nlohmann::json());
  request.method = "POST";
  // A boundary that occurs in no part: random, checked.
  std::string boundary;
  for (int attempt = 0;; ++attempt) {
    boundary = "----xervo" + std::to_string(std::random_device{}()) + std::to_string(std::random_device{}());
    bool clash = false;
    for (const auto& p : parts) clash = clash || p.data.find(boundary) != std::string::npos;
    if (!clash || attempt > 8) break;
  }
  std::string body;
  for (const auto& p : parts) {
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + p.name + "\"";
    if (p.filename) {
      std::string name;  // quotes and line breaks cannot appear inside the quoted filename
      for (char c : *p.filename)
        if (c != '"' && c != '\r' && c != '\n' && c != '\\') name.push_back(c);
      body += "; filename=\"" + name + "\"\r\nContent-Type: " +
              (p.content_type.empty() ? std::string("application/octet-stream") : p.content_type);
    }
    body += "\r\n\r\n" + p.data + "\r\n";
  }
  body += "--" + boundary + "--\r\n";
  request.headers.add("Content-Type", "multipart/form-data; boundary=" + boundary);
  request.body = std::move(body);
  return send_for_json(path, std::move(request), stop);
}

Result<nlohmann::json> ApiClient::send_for_json(std::string_view path, HttpRequest request,
                                                std::stop_token stop) const {
  auto slot = take_slot(stop);  // max_in_flight, for every request of this client
  if (!slot) return slot.error();
  request.accept_compressed = true;
  request.headers.add("Accept", "application/json");
  trace::Span span = start_call_span(context_, path, request);
  auto response = send_with_retry(*http_, request, settings_.retry, stop, {}, retry_filter());
  if (!response) {
    const Error& e = response.error();
    Error err(e.code(), context_.service + " model '" + context_.model +
                            "': " + redact_secrets(e.message(), context_.secrets));
    end_call_span(span, response, err);
    return err;
  }
  if (!response->success()) {
    Error err = map_error(*response);
    end_call_span(span, response, err);
    return err;
  }
  end_call_span(span, response, std::nullopt);
  auto parsed = nlohmann::json::parse(response->body, nullptr, false);
  if (parsed.is_discarded()) return malformed_response(context_, "a JSON body", response->body);
  return parsed;
}

Result<HttpResponse> ApiClient::get(std::string_view path, std::stop_token stop) const {
  HttpRequest request = make_request(path, nlohmann::json());
  request.headers.add("Accept", "application/json");
  // Health checks answer quickly or not at all: `xervo status` must not hang on a dead host.
  request.connect_timeout = std::min(request.connect_timeout, std::chrono::milliseconds(3000));
  request.timeout = request.timeout.count() > 0 ? std::min(request.timeout, std::chrono::milliseconds(10000))
                                                : std::chrono::milliseconds(10000);
  return http_->send(request, stop);
}

Result<void> ApiClient::post_sse(std::string_view path, const nlohmann::json& body,
                                 const std::function<bool(const SseEvent&)>& on_event,
                                 std::stop_token stop) const {
  auto slot = take_slot(stop);
  if (!slot) return slot.error();
  HttpRequest request = make_request(path, body);
  request.headers.add("Accept", "text/event-stream");
  request.idle_timeout = settings_.stream_idle_timeout;
  trace::Span span = start_call_span(context_, path, request);
  bool refused = false;
  std::string head;  // the first bytes, for a message when the body is not an event stream at all
  SseParser parser([&](const SseEvent& e) {
    if (on_event(e)) return true;
    refused = true;
    return false;
  });
  request.on_body = [&](std::string_view chunk) {
    if (head.size() < 256) head.append(chunk.substr(0, 256 - head.size()));
    return parser.feed(chunk);
  };
  auto response = send_with_retry(*http_, request, settings_.retry, stop, {}, retry_filter());
  // The span covers the whole stream; its status is the call's outcome.
  auto outcome = [&]() -> Result<void> {
    const std::string prefix = context_.service + " model '" + context_.model + "': ";
    if (parser.overflowed())
      return Error(ErrorCode::inference_failed,
                   prefix + "stream event larger than the parser's limit from " + context_.base_url);
    if (!response) {
      const Error& e = response.error();
      if (e.code() == ErrorCode::cancelled || refused || stop.stop_requested())
        return Error(ErrorCode::cancelled, prefix + "stream cancelled");
      std::string msg = redact_secrets(e.message(), context_.secrets);
      if (parser.events() > 0 || !head.empty())
        msg = "the stream broke off after " + std::to_string(parser.events()) + " events: " + msg;
      return Error(e.code(), prefix + msg);
    }
    if (!response->success()) return map_error(*response);
    parser.finish();
    if (parser.events() == 0 && !head.empty() && head.find("data") == std::string::npos)
      return malformed_response(context_, "a text/event-stream body", head);
    return {};
  }();
  end_call_span(span, response, outcome.ok() ? std::nullopt : std::optional<Error>(outcome.error()));
  return outcome;
}

ProviderHealth ApiClient::check_health(std::string_view path) const {
  const std::string where = redact_url(settings_.base_url);
  auto res = get(path);
  if (!res) return {false, where + ": " + redact_secrets(res.error().message(), context_.secrets), 0};
  ProviderHealth h;
  h.ok = res->success();
  h.latency_ms = static_cast<double>(res->elapsed.count());
  h.detail =
      where + ": " + std::to_string(res->status) + " in " + std::to_string(res->elapsed.count()) + " ms";
  return h;
}

}  // namespace xervo::net
