// Anthropic's Messages API over the same aliases and runtime calls as the OpenAI routes:
// POST /v1/messages, whole or streamed as Anthropic's server-sent events, and
// POST /v1/messages/count_tokens. A stream runs inside the response's stream function on the
// worker thread; a failed write (client gone) cancels the generation in the engine. Errors take
// Anthropic's shape: the handlers throw like every route, and finish_anthropic_response
// (server.cpp calls it for these paths) reshapes the answer.
#include <map>

#include "core/log.h"
#include "server/anthropic_json.h"
#include "server/json_fields.h"
#include "server/server_state.h"

namespace xervo::server {
namespace {

// One Messages call, parsed and admitted; shared by the handler and the stream function.
struct MessageCall {
  explicit MessageCall(ServerState& s) : state(s) {}

  ServerState& state;
  MessagesRequest parsed;
  std::string id;  // "msg_" + the request id
  AdmittedModel admitted;
  std::shared_ptr<GeneratorModel> generator;
  std::unique_ptr<CancellationTracker::Handle> cancel;
  GenerationTimer timer;  // TTFT and TPOT

  void note_piece() { timer.piece(state.metrics, admitted.spec.alias); }
  void account(const Usage& usage) {
    record_usage(state, usage.prompt_tokens, usage.completion_tokens);
    if (!usage.cached) timer.finish(state.metrics, admitted.spec.alias, usage.completion_tokens);
  }
  Error cancellation_error() const { return cancel->error(state.options.request_timeout, "the generation"); }
  const std::vector<std::string>& stops() const { return parsed.generate.options.stop; }
};

// The events of one streamed message, in Anthropic's order: message_start, then per content block
// content_block_start, its deltas and content_block_stop (a ping after the first start), then
// message_delta with the stop reason and usage, and message_stop. A block is open until a delta of
// another kind arrives; a tool call's arguments stream as input_json_delta pieces.
class EventStream {
 public:
  EventStream(StreamSink& sink, const MessageCall& call) : sink_(sink), call_(call) {}

  bool alive() const { return alive_; }

  bool start(int64_t input_tokens) {
    return send("message_start", {{"type", "message_start"},
                                  {"message",
                                   {{"id", call_.id},
                                    {"type", "message"},
                                    {"role", "assistant"},
                                    {"model", call_.parsed.model},
                                    {"content", nlohmann::json::array()},
                                    {"stop_reason", nullptr},
                                    {"stop_sequence", nullptr},
                                    {"usage", usage_json(input_tokens, 0)}}}});
  }

  bool on_delta(const GenerateDelta& d) {
    if (d.choice != 0) return alive_;
    if (!d.reasoning.empty()) {
      if (open_ != Block::thinking)
        open(Block::thinking, {{"type", "thinking"}, {"thinking", ""}, {"signature", ""}});
      delta({{"type", "thinking_delta"}, {"thinking", d.reasoning}});
      streamed_reasoning_ = true;
    }
    if (!d.content.empty()) {
      if (open_ != Block::text) open(Block::text, {{"type", "text"}, {"text", ""}});
      delta({{"type", "text_delta"}, {"text", d.content}});
      streamed_text_ = true;
    }
    for (const auto& piece : d.tool_calls) tool_piece(piece);
    return alive_;
  }

  // The end of a generation that succeeded: what the deltas did not carry (a provider that
  // streams content only still reports its tool calls and thinking in the result), the last
  // block's stop, then message_delta and message_stop. Rejects when a call's arguments are not a
  // JSON object.
  void finish(const GenerateResult& r) {
    if (!streamed_reasoning_ && !r.reasoning.empty()) {
      open(Block::thinking, {{"type", "thinking"}, {"thinking", ""}, {"signature", ""}});
      delta({{"type", "thinking_delta"}, {"thinking", r.reasoning}});
    }
    if (!streamed_text_ && !r.text.empty()) {
      open(Block::text, {{"type", "text"}, {"text", ""}});
      delta({{"type", "text_delta"}, {"text", r.text}});
    }
    for (size_t i = calls_.size(); i < r.tool_calls.size(); ++i)
      tool_piece({static_cast<int>(i) + kUnstreamedCall, r.tool_calls[i].id, r.tool_calls[i].name,
                  r.tool_calls[i].arguments});
    for (const auto& call : calls_) tool_input(call.arguments, call.name);
    if (blocks_ == 0) open(Block::text, {{"type", "text"}, {"text", ""}});
    close();
    const StopReason stop = stop_reason_of(r, call_.stops());
    send(
        "message_delta",
        {{"type", "message_delta"},
         {"delta", {{"stop_reason", stop.reason}, {"stop_sequence", stop.sequence}}},
         {"usage", {{"input_tokens", r.usage.prompt_tokens}, {"output_tokens", r.usage.completion_tokens}}}});
    send("message_stop", {{"type", "message_stop"}});
  }

  void fail(const Error& error) { send("error", anthropic_error_body(error)); }

 private:
  enum class Block { none, text, thinking, tool };
  // Calls found only in the final result get indexes of their own, apart from streamed ones.
  static constexpr int kUnstreamedCall = 1 << 20;
  struct Call {
    int block = 0;
    std::string name;
    std::string arguments;
  };

  bool send(std::string_view event, const nlohmann::json& data) {
    if (!alive_) return false;
    std::string text = "event: " + std::string(event) +
                       "\ndata: " + data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                       "\n\n";
    alive_ = sink_.write(text);
    return alive_;
  }

  void open(Block kind, nlohmann::json content_block) {
    close();
    open_ = kind;
    index_ = blocks_++;
    send("content_block_start",
         {{"type", "content_block_start"}, {"index", index_}, {"content_block", std::move(content_block)}});
    if (blocks_ == 1) send("ping", {{"type", "ping"}});
  }

  void close() {
    if (open_ == Block::none) return;
    send("content_block_stop", {{"type", "content_block_stop"}, {"index", index_}});
    open_ = Block::none;
  }

  void delta(nlohmann::json body) { delta_at(index_, std::move(body)); }
  void delta_at(int index, nlohmann::json body) {
    send("content_block_delta",
         {{"type", "content_block_delta"}, {"index", index}, {"delta", std::move(body)}});
  }

  // The first piece of a call opens its tool_use block; later pieces add to its input. A piece
  // of a call whose block another kind of delta already closed still goes to that block's index.
  void tool_piece(const ToolCallDelta& piece) {
    auto known = call_index_.find(piece.index);
    if (known == call_index_.end()) {
      ToolCall named{piece.id, piece.name, ""};
      const std::string id = tool_use_id(named, call_.id, calls_.size());
      open(Block::tool,
           {{"type", "tool_use"}, {"id", id}, {"name", piece.name}, {"input", nlohmann::json::object()}});
      known = call_index_.emplace(piece.index, calls_.size()).first;
      calls_.push_back({index_, piece.name, ""});
    }
    Call& call = calls_[known->second];
    if (piece.arguments.empty()) return;
    call.arguments += piece.arguments;
    delta_at(call.block, {{"type", "input_json_delta"}, {"partial_json", piece.arguments}});
  }

  StreamSink& sink_;
  const MessageCall& call_;
  bool alive_ = true;
  Block open_ = Block::none;
  int index_ = -1;
  int blocks_ = 0;
  bool streamed_text_ = false;
  bool streamed_reasoning_ = false;
  std::vector<Call> calls_;
  std::map<int, size_t> call_index_;  // ToolCallDelta::index -> calls_
};

// Runs the whole stream into `sink`; false when the client went away (the generation is cancelled).
bool stream_message(MessageCall& call, int64_t input_tokens, StreamSink& sink) {
  EventStream events(sink, call);
  if (!events.start(input_tokens)) return false;  // gone before the first byte
  auto result = call.generator->generate_deltas(call.parsed.generate, [&](const GenerateDelta& d) {
    call.note_piece();
    return events.on_delta(d);
  });
  if (!events.alive()) {
    call.cancel->cancel();
    spdlog::info("[{}] client disconnected; generation cancelled", current_request().request_id);
    return false;
  }
  if (!result.ok()) {
    events.fail(result.error());
    return events.alive();
  }
  call.account(result->usage);
  if (result->finish_reason == FinishReason::cancelled) {
    events.fail(call.cancellation_error());
    return events.alive();
  }
  try {
    events.finish(*result);
  } catch (const Rejection& r) {
    events.fail(r.error());
  }
  return events.alive();
}

// Parses, admits and acquires the generator: what both routes do before any work.
std::shared_ptr<MessageCall> begin_call(ServerState& state, const HttpRequest& req, bool counting) {
  auto body = parse_json_object(req.body);
  auto call = std::make_shared<MessageCall>(state);
  call->parsed = parse_messages_request(body, state.options, counting);
  call->id = "msg_" + current_request().request_id;
  call->admitted = admit_model(state, call->parsed.model, ModelTask::generate);
  call->cancel = track_call(state);
  call->generator = unwrap(
      stopped_as(state.runtime->generator(call->parsed.model, bounds(*call->cancel, call->parsed.keep_alive)),
                 *call->cancel, state, "loading the model"));
  call->parsed.generate.cancel = call->cancel->token();
  return call;
}

void create_message(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  auto call = begin_call(state, req, false);
  if (call->parsed.stream) {
    // message_start tells the prompt's size where the provider can count it before generating
    // (llama.cpp; otherwise 0, and message_delta carries it). Counting also renders the prompt, so
    // a conversation the chat template refuses gets its 400 here rather than as a stream error.
    auto counted = call->generator->count_prompt_tokens(call->parsed.generate);
    if (!counted.ok() && counted.error().code() != ErrorCode::capability_mismatch)
      throw Rejection(counted.error());
    const int64_t input_tokens = counted.ok() ? *counted : 0;
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_stream("text/event-stream", [call, input_tokens](StreamSink& sink) {
      return stream_message(*call, input_tokens, sink);
    });
    return;
  }
  auto result = call->generator->generate_deltas(call->parsed.generate, [&](const GenerateDelta&) {
    call->note_piece();
    return true;
  });
  if (!result.ok()) {
    if (call->cancel->timed_out() || call->cancel->shutting_down())
      throw Rejection(call->cancellation_error());
    throw Rejection(result.error());
  }
  call->account(result->usage);
  if (result->finish_reason == FinishReason::cancelled) throw Rejection(call->cancellation_error());
  if (!result->served_by.empty()) res.set_header("X-Served-By", result->served_by);
  send_json(res, 200, message_json(call->id, call->parsed.model, *result, call->stops()));
}

void count_tokens(ServerState& state, const HttpRequest& req, HttpResponse& res) {
  auto call = begin_call(state, req, true);
  auto counted = call->generator->count_prompt_tokens(call->parsed.generate);
  if (!counted.ok()) {
    const auto& spec = call->admitted.spec;
    if (counted.error().code() == ErrorCode::capability_mismatch)
      throw Rejection(Error(ErrorCode::capability_mismatch,
                            "count_tokens cannot count for '" + log_escape(spec.alias) + "' (provider " +
                                spec.provider + "): " + counted.error().message() +
                                "; it counts for models served from local files (llama.cpp)"));
    throw Rejection(counted.error());
  }
  send_json(res, 200, {{"input_tokens", *counted}});
}

}  // namespace

void add_anthropic_routes(Router& router, ServerState& state) {
  router.post("/v1/messages",
              [&state](const HttpRequest& req, HttpResponse& res) { create_message(state, req, res); });
  router.post("/v1/messages/count_tokens",
              [&state](const HttpRequest& req, HttpResponse& res) { count_tokens(state, req, res); });
}

}  // namespace xervo::server
