// The generation protocol of GET /v1/ws. on_message runs on the connection's message strand (one at a
// time, in order), so a "cancel" always finds the "generate" that came before it; it only parses,
// checks and registers, and each generation then runs as its own task on the worker pool, holding
// that thread as a streamed HTTP request does. A request is live from its "generate" until just
// before its "done" or "error" is queued, so a client may reuse an id as soon as it sees the end.
#include "server/websocket_generations.h"

#include <map>
#include <mutex>

#include "core/log.h"
#include "server/generation_request.h"
#include "server/json_fields.h"
#include "server/sampling_fields.h"
#include "server/server_state.h"
#include "server/tool_fields.h"

namespace xervo::server {
namespace {

using nlohmann::json;

constexpr size_t kMaxIdBytes = 256;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// A request id echoed in replies: null when the message had none.
json id_json(const std::string& id) { return id.empty() ? json(nullptr) : json(id); }

json error_message(const std::string& id, const Error& error, int retry_after_s = 0) {
  json out = error_body(error);
  out["type"] = "error";
  out["id"] = id_json(id);
  if (retry_after_s > 0) out["retry_after_s"] = retry_after_s;
  return out;
}

json tool_call_deltas(const std::vector<ToolCallDelta>& calls) {
  json out = json::array();
  for (const auto& c : calls) {
    json call = {{"index", c.index}, {"arguments", c.arguments}};
    if (!c.id.empty()) call["id"] = c.id;
    if (!c.name.empty()) call["name"] = c.name;
    out.push_back(std::move(call));
  }
  return out;
}

json logprobs_json(const std::vector<TokenLogprob>& logprobs) {
  json out = json::array();
  for (const auto& lp : logprobs) {
    json top = json::array();
    for (const auto& alt : lp.top) top.push_back({{"token", alt.token}, {"logprob", alt.logprob}});
    out.push_back({{"token", lp.token}, {"logprob", lp.logprob}, {"top_logprobs", std::move(top)}});
  }
  return out;
}

json delta_message(const std::string& id, const GenerateDelta& d, bool several_choices) {
  json out = {{"type", "delta"}, {"id", id}, {"content", d.content}};
  if (several_choices) out["choice"] = d.choice;
  if (!d.reasoning.empty()) out["reasoning"] = d.reasoning;
  if (!d.tool_calls.empty()) out["tool_calls"] = tool_call_deltas(d.tool_calls);
  if (!d.logprobs.empty()) out["logprobs"] = logprobs_json(d.logprobs);
  return out;
}

json done_message(const std::string& id, const std::string& model, const GenerateResult& r, bool cancelled) {
  json usage = {{"prompt_tokens", r.usage.prompt_tokens},
                {"completion_tokens", r.usage.completion_tokens},
                {"total_tokens", r.usage.total()}};
  json out = {{"type", "done"},
              {"id", id},
              {"model", model},
              {"finish_reason", cancelled ? "cancelled" : std::string(to_string(r.finish_reason))},
              {"usage", std::move(usage)}};
  if (!r.served_by.empty()) out["served_by"] = r.served_by;
  if (!r.more.empty()) {
    json choices = json::array();
    for (size_t i = 0; i < r.choice_count(); ++i)
      choices.push_back({{"index", i},
                         {"finish_reason", cancelled ? std::string("cancelled")
                                                     : std::string(to_string(r.choice(i).finish_reason))}});
    out["choices"] = std::move(choices);
  }
  return out;
}

// A generate message, parsed: what its task needs.
struct GenerateCall {
  std::string id;
  std::string model;
  GenerateRequest request;
  std::optional<std::chrono::milliseconds> keep_alive;
  std::optional<trace::SpanContext> trace_parent;  // the message's own `traceparent`, when valid
};

// How one generation ended, for its reply, the access log and the metrics.
struct Outcome {
  int status = 200;  // the HTTP status the same outcome would have had; 499 for a cancelled one
  std::string finish = "error";
};

class GenerationSocket final : public WebSocketHandler,
                               public std::enable_shared_from_this<GenerationSocket> {
 public:
  GenerationSocket(ServerState& state, WebSocketClient client) : state_(state), client_(std::move(client)) {}

  WebSocketLimits limits() const override {
    const auto& o = state_.options;
    WebSocketLimits l;
    l.max_message_bytes = o.websocket.max_message_bytes;
    l.max_send_queue_bytes = o.websocket.max_send_queue_bytes;
    l.ping_interval = o.websocket.ping_interval;
    l.idle_timeout = o.websocket.idle_timeout;
    l.write_timeout = o.write_timeout;
    l.handshake_timeout = o.header_timeout;
    return l;
  }

  void on_open(std::shared_ptr<WebSocketChannel> channel) override {
    channel_ = std::move(channel);
    opened_ = std::chrono::steady_clock::now();
    state_.metrics.websocket_opened();
  }

  void on_message(std::string message, bool binary) override {
    if (!channel_) return;
    if (binary)
      return reply_error(
          {}, Error(ErrorCode::invalid_input, "binary messages are not supported: send JSON text"));
    json msg;
    try {
      msg = parse_json_object(message);
    } catch (const Rejection& r) {
      return reply_error({}, r.error());
    }
    std::string id;
    if (auto it = msg.find("id"); it != msg.end() && !it->is_null()) {
      if (!it->is_string() || it->get_ref<const std::string&>().empty() ||
          it->get_ref<const std::string&>().size() > kMaxIdBytes)
        return reply_error({}, Error(ErrorCode::invalid_input, "'id' must be a string of 1 to 256 bytes"));
      id = it->get<std::string>();
    }
    auto type = msg.find("type");
    if (type == msg.end() || !type->is_string())
      return reply_error(
          id, Error(ErrorCode::invalid_input, "every message needs a 'type': generate, cancel or ping"));
    const auto& kind = type->get_ref<const std::string&>();
    if (kind == "generate")
      start(msg, id);
    else if (kind == "cancel")
      cancel(id);
    else if (kind == "ping")
      reply(id.empty() ? json{{"type", "pong"}} : json{{"type", "pong"}, {"id", id}});
    else
      reply_error(id, Error(ErrorCode::invalid_input, "unknown message type '" + kind.substr(0, 64) +
                                                          "'; expected generate, cancel or ping"));
  }

  void on_close(WebSocketEnd why) override {
    channel_.reset();
    std::vector<std::shared_ptr<std::stop_source>> running;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      for (auto& [id, stop] : live_) running.push_back(stop);
    }
    for (auto& stop : running) stop->request_stop();  // the client is gone: every generation ends
    state_.metrics.websocket_closed();
    if (why != WebSocketEnd::client_closed && why != WebSocketEnd::server_closed &&
        why != WebSocketEnd::idle && why != WebSocketEnd::shutdown)
      state_.metrics.rejected("websocket_" + std::string(to_string(why)));
    if (state_.options.access_log)
      spdlog::info("[{}] websocket closed: {} after {:.1f} s, {} requests, {} cancelled by the close",
                   client_.request_id, to_string(why),
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - opened_).count(),
                   started_, running.size());
  }

 private:
  void reply(const json& message) {
    if (channel_) channel_->send(dump(message));
  }
  void reply_error(const std::string& id, const Error& error, int retry_after_s = 0) {
    reply(error_message(id, error, retry_after_s));
  }

  // Checks, parses and registers one generate message, then starts its task.
  void start(const json& msg, const std::string& id) {
    if (id.empty())
      return reply_error({}, Error(ErrorCode::invalid_input,
                                   "'id' is required on generate: a string that tags the replies to it"));
    if (state_.stopping.load())
      return reply_error(id, Error(ErrorCode::unavailable, "the server is shutting down"), 5);
    const int max_requests = state_.options.websocket.max_requests;
    bool duplicate = false, full = false;
    {
      std::lock_guard lock(mu_);
      duplicate = live_.count(id) > 0;
      full = live_.size() >= static_cast<size_t>(max_requests);
    }
    if (duplicate)
      return reply_error(id, Error(ErrorCode::invalid_input,
                                   "a request with id '" + id + "' is still running on this connection"));
    if (full)
      return reply_error(
          id,
          Error(ErrorCode::unavailable, "this connection already runs " + std::to_string(max_requests) +
                                            " requests ([server.websocket] max_requests); wait for "
                                            "one to end"),
          1);
    if (int wait_s = state_.limiter.admit(client_.client, client_.limit); wait_s > 0) {
      state_.metrics.rejected("rate_limit");
      return reply_error(
          id,
          Error(ErrorCode::rate_limited,
                "rate limit of " + client_.client + " reached; retry in " + std::to_string(wait_s) + " s"),
          wait_s);
    }
    GenerateCall call;
    call.id = id;
    try {
      call.model = require_string(msg, "model");
      bool chat = msg.contains("messages");
      if (chat == msg.contains("prompt"))
        reject_input("a generate message needs 'messages' (chat) or 'prompt' (raw completion), one of them");
      if (chat)
        call.request.messages = parse_messages(msg);
      else
        call.request.prompt = parse_prompt(msg);
      call.request.options = parse_options(msg, state_.options);
      parse_sampling_fields(msg, chat, call.request.options);
      if (chat) parse_tool_fields(msg, call.request);
      call.keep_alive = optional_keep_alive(msg);
      // Like the HTTP header: a malformed one is ignored (the upgrade's trace is used).
      if (auto tp = optional_string(msg, "traceparent")) {
        call.trace_parent = trace::parse_traceparent(*tp);
        if (call.trace_parent)
          call.trace_parent->tracestate =
              trace::parse_tracestate(optional_string(msg, "tracestate").value_or(""));
      }
    } catch (const Rejection& r) {
      return reply_error(id, r.error());
    }
    auto stop = std::make_shared<std::stop_source>();
    {
      std::lock_guard lock(mu_);
      live_.emplace(id, stop);
    }
    const uint64_t seq = ++started_;
    channel_->run([self = shared_from_this(), channel = channel_, call = std::move(call), stop,
                   seq]() mutable { self->generate(*channel, call, *stop, seq); });
  }

  void cancel(const std::string& id) {
    if (id.empty()) return reply_error({}, Error(ErrorCode::invalid_input, "'id' is required on cancel"));
    std::shared_ptr<std::stop_source> stop;
    {
      std::lock_guard lock(mu_);
      if (auto it = live_.find(id); it != live_.end()) stop = it->second;
    }
    if (!stop)
      return reply_error(id, Error(ErrorCode::invalid_input,
                                   "no request with id '" + id + "' is running (it may have just ended)"));
    stop->request_stop();  // its task answers with "done", finish_reason "cancelled"
  }

  // One generation, on a worker thread, with the request context an HTTP request would have.
  void generate(WebSocketChannel& channel, GenerateCall& call, std::stop_source& stop, uint64_t seq) {
    auto& ctx = current_request();
    ctx = RequestContext{};
    ctx.active = true;
    ctx.start = std::chrono::steady_clock::now();
    ctx.request_id = client_.request_id + "-" + std::to_string(seq);
    ctx.route = std::string(kRoute);
    ctx.client = client_.client;
    ctx.client_ip = client_.client_ip;
    ctx.principal = client_.principal;
    ctx.limit = client_.limit;
    ctx.client_gone = stop.get_token();  // a cancel message or the connection closing
    ctx.span = state_.telemetry.start_span_under(call.trace_parent ? call.trace_parent : client_.trace_parent,
                                                 "WS", trace::SpanKind::server);
    if (ctx.span.recording()) ctx.span.set("xervo.ws.message_id", call.id);
    trace::take_queue_wait();
    trace::ScopedSpan scope(ctx.span);
    Outcome outcome;
    std::optional<json> last;
    try {
      last = run_generation(channel, call, outcome);
    } catch (const Rejection& r) {
      if (r.error().code() == ErrorCode::cancelled && stop.stop_requested()) {
        // Stopped by the client before any token (while admitted or loading): ends like any cancel.
        last = cancelled_early(call);
        outcome.status = 499;
        outcome.finish = last ? "cancelled" : "client_gone";
      } else {
        last = error_message(call.id, r.error(), r.retry_after_s());
        outcome.status = http_status(r.error().code());
      }
    } catch (const Exception& e) {
      last = error_message(call.id, e.error());
      outcome.status = http_status(e.error().code());
    } catch (const std::bad_alloc&) {
      Error e(ErrorCode::unavailable, "the server ran out of memory for this request");
      last = error_message(call.id, e, 5);
      outcome.status = http_status(e.code());
    } catch (const std::exception& e) {
      spdlog::error("[{}] unexpected error: {}", ctx.request_id, e.what());
      Error err(ErrorCode::internal,
                "unexpected server error (request " + ctx.request_id + "); see the server log");
      last = error_message(call.id, err);
      outcome.status = 500;
    }
    {
      std::lock_guard lock(mu_);
      live_.erase(call.id);  // before the last reply: the client may reuse the id once it has it
    }
    log(call, outcome);  // before the reply: a client that has it sees the request in the metrics
    if (last) channel.send(dump(*last));
  }

  // Admits, loads and streams; the last message to send (nullopt when the client is gone).
  std::optional<json> run_generation(WebSocketChannel& channel, GenerateCall& call, Outcome& outcome) {
    auto admitted = admit_model(state_, call.model, ModelTask::generate);
    auto cancel = track_call(state_);
    auto generator =
        unwrap(stopped_as(state_.runtime->generator(call.model, bounds(*cancel, call.keep_alive)), *cancel,
                          state_, "loading the model"));
    call.request.cancel = cancel->token();
    const bool several = call.request.options.n > 1;
    const auto start = current_request().start;
    bool alive = true;
    bool first = true;
    auto result = generator->generate_deltas(call.request, [&](const GenerateDelta& delta) {
      if (first) {
        first = false;
        state_.metrics.observe_first_token(
            admitted.spec.alias,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      }
      alive = channel.send(dump(delta_message(call.id, delta, several)));
      return alive;
    });
    if (result.ok()) record_usage(state_, result->usage.prompt_tokens, result->usage.completion_tokens);
    bool stopped = !result.ok() ? result.error().code() == ErrorCode::cancelled
                                : result->finish_reason == FinishReason::cancelled;
    if (stopped && (cancel->timed_out() || cancel->shutting_down()))
      throw Rejection(cancel->error(state_.options.request_timeout, "the generation"));
    if (!alive || (stopped && closed())) {
      outcome.status = 499;  // the client closed the connection (or stopped reading)
      outcome.finish = "client_gone";
      return std::nullopt;
    }
    if (!result.ok()) throw Rejection(result.error());
    outcome.status = stopped ? 499 : 200;
    outcome.finish = stopped ? "cancelled" : std::string(to_string(result->finish_reason));
    return done_message(call.id, admitted.spec.alias, *result, stopped);
  }

  // The reply to a request the client cancelled before it generated anything (none if it left).
  std::optional<json> cancelled_early(const GenerateCall& call) {
    if (closed()) return std::nullopt;
    std::string model = current_request().model.empty() ? call.model : current_request().model;
    return done_message(call.id, model, GenerateResult{}, true);
  }

  // The connection is gone (on_close ran): a generation it stopped has nobody to answer.
  bool closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }

  void log(const GenerateCall& call, const Outcome& outcome) {
    auto& ctx = current_request();
    ctx.active = false;
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx.start).count();
    state_.metrics.observe_request(kRoute, ctx.model, outcome.status, seconds);
    if (auto wait = trace::take_queue_wait())
      state_.metrics.observe_queue_wait(ctx.model, std::chrono::duration<double>(*wait).count());
    end_request_span(
        ctx.span, {"WS", kRoute, ctx.model, ctx.request_id, outcome.status, ctx.tokens_in, ctx.tokens_out});
    if (state_.options.access_log)
      spdlog::info(
          "[{}] {} \"WS\" \"{}\" {} {:.1f} ms client=\"{}\" model=\"{}\" tokens_in={} tokens_out={} "
          "id=\"{}\" "
          "finish={}",
          ctx.request_id, log_escape(client_.remote_addr), kRoute, outcome.status, seconds * 1000.0,
          log_escape(ctx.client), ctx.model.empty() ? "-" : log_escape(ctx.model), ctx.tokens_in,
          ctx.tokens_out, log_escape(call.id), outcome.finish);
  }

  static constexpr std::string_view kRoute = "/v1/ws";

  ServerState& state_;
  const WebSocketClient client_;
  std::shared_ptr<WebSocketChannel> channel_;  // strand only: on_open .. on_close
  std::chrono::steady_clock::time_point opened_;
  uint64_t started_ = 0;  // strand only

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<std::stop_source>> live_;  // GUARDED_BY(mu_): id -> its stop
  bool closed_ = false;                                            // GUARDED_BY(mu_)
};

}  // namespace

std::shared_ptr<WebSocketHandler> make_generation_socket(ServerState& state, WebSocketClient client) {
  return std::make_shared<GenerationSocket>(state, std::move(client));
}

}  // namespace xervo::server
