#include "providers/llamacpp/chat_output.h"

#include <chat.h>

#include <exception>

#include "core/log.h"

namespace xervo::llamacpp {

struct ChatOutput::Impl {
  bool own_format = false;
  common_chat_parser_params params;
};

ChatOutput::ChatOutput(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ChatOutput::~ChatOutput() = default;

std::shared_ptr<const ChatOutput> ChatOutput::native(const common_chat_params& params,
                                                     bool separate_reasoning, bool parse_tools) {
  auto impl = std::make_unique<Impl>();
  impl->params = common_chat_parser_params(params);
  impl->params.reasoning_format =
      separate_reasoning ? COMMON_REASONING_FORMAT_DEEPSEEK : COMMON_REASONING_FORMAT_NONE;
  impl->params.parse_tool_calls = parse_tools;
  if (!params.parser.empty()) impl->params.parser.load(params.parser);
  return std::shared_ptr<const ChatOutput>(new ChatOutput(std::move(impl)));
}

std::shared_ptr<const ChatOutput> ChatOutput::tool_format() {
  auto impl = std::make_unique<Impl>();
  impl->own_format = true;
  return std::shared_ptr<const ChatOutput>(new ChatOutput(std::move(impl)));
}

ChatOutput::Parsed ChatOutput::parse(std::string_view text, bool partial) const {
  Parsed out;
  if (impl_->own_format) {
    out.output = parse_tool_format(text, partial);
    return out;
  }
  try {
    common_chat_msg msg = common_chat_parse(std::string(text), partial, impl_->params);
    out.output.content = std::move(msg.content);
    out.output.reasoning = std::move(msg.reasoning_content);
    for (auto& c : msg.tool_calls)
      out.output.calls.push_back({std::move(c.id), std::move(c.name), std::move(c.arguments)});
  } catch (const std::exception& e) {
    if (partial) {
      out.ok = false;
      return out;
    }
    // An answer the format's parser rejects (cut short by max_tokens, say) is returned as text.
    spdlog::debug("the chat output parser rejected the answer ({}); returned as text", e.what());
    out.output = ParsedOutput{};
    out.output.content = std::string(text);
  }
  return out;
}

void apply_parsed(const ParsedOutput& parsed, GenerateChoice& choice) {
  choice.text = parsed.content;
  choice.reasoning = parsed.reasoning;
  choice.tool_calls = parsed.calls;
  for (auto& c : choice.tool_calls)
    if (c.id.empty()) c.id = new_tool_call_id();
  if (!choice.tool_calls.empty() && choice.finish_reason == FinishReason::stop)
    choice.finish_reason = FinishReason::tool_calls;
}

ChatDeltas::ChatDeltas(std::shared_ptr<const ChatOutput> output, const DeltaCallback& on_delta, int choice)
    : output_(std::move(output)), on_delta_(on_delta), choice_(choice) {}

bool ChatDeltas::push(std::string_view piece, const std::vector<TokenLogprob>& logprobs) {
  text_ += piece;
  logprobs_.insert(logprobs_.end(), logprobs.begin(), logprobs.end());
  auto parsed = output_->parse(text_, /*partial=*/true);
  if (!parsed.ok) return true;  // not parseable yet: wait for more text
  return send_changes(parsed.output, false);
}

ParsedOutput ChatDeltas::finish(bool& go_on) {
  auto parsed = output_->parse(text_, /*partial=*/false);
  go_on = send_changes(parsed.output, true);
  for (size_t i = 0; i < parsed.output.calls.size(); ++i) {
    if (i >= ids_.size())
      ids_.push_back(parsed.output.calls[i].id.empty() ? new_tool_call_id() : parsed.output.calls[i].id);
    parsed.output.calls[i].id = ids_[i];
  }
  return std::move(parsed.output);
}

namespace {

// The part of `now` after `sent`, when `now` extends it; nullopt when it does not (a partial parse
// that a later one revises: nothing is sent until the text extends what was sent again).
std::optional<std::string> extension(const std::string& sent, const std::string& now) {
  if (now.size() < sent.size() || now.compare(0, sent.size(), sent) != 0) return std::nullopt;
  return now.substr(sent.size());
}

}  // namespace

bool ChatDeltas::send_changes(const ParsedOutput& now, bool final) {
  GenerateDelta delta;
  delta.choice = choice_;
  if (auto more = extension(sent_.reasoning, now.reasoning)) {
    delta.reasoning = std::move(*more);
    sent_.reasoning = now.reasoning;
  } else if (final) {
    spdlog::warn("streamed reasoning differs from the final parse of the answer");
  }
  if (auto more = extension(sent_.content, now.content)) {
    delta.content = std::move(*more);
    sent_.content = now.content;
  } else if (final) {
    spdlog::warn("streamed content differs from the final parse of the answer");
  }
  for (size_t i = 0; i < now.calls.size(); ++i) {
    const ToolCall& call = now.calls[i];
    if (i >= sent_.calls.size()) {
      // A call is announced once its name is whole: when its arguments have begun, a later call
      // exists, or the answer is over.
      const bool name_whole = final || i + 1 < now.calls.size() || !call.arguments.empty();
      if (call.name.empty() || !name_whole) break;
      ids_.push_back(call.id.empty() ? new_tool_call_id() : call.id);
      sent_.calls.push_back({ids_.back(), call.name, ""});
      delta.tool_calls.push_back({static_cast<int>(i), ids_.back(), call.name, ""});
    }
    auto more = extension(sent_.calls[i].arguments, call.arguments);
    if (!more) {
      if (final) spdlog::warn("streamed arguments of tool call {} differ from the final parse", i);
      break;
    }
    if (more->empty()) continue;
    sent_.calls[i].arguments = call.arguments;
    if (!delta.tool_calls.empty() && delta.tool_calls.back().index == static_cast<int>(i))
      delta.tool_calls.back().arguments = std::move(*more);
    else
      delta.tool_calls.push_back({static_cast<int>(i), "", "", std::move(*more)});
  }
  if (delta.content.empty() && delta.reasoning.empty() && delta.tool_calls.empty() && logprobs_.empty())
    return true;
  delta.logprobs = std::move(logprobs_);
  logprobs_.clear();
  return on_delta_(delta);
}

}  // namespace xervo::llamacpp
