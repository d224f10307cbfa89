// How a chat answer's text becomes content, thinking and tool calls: llama.cpp's parser for the
// template's format (common_chat_parse), or xervo's own tool-call format (tool_format.h). Made by
// ChatTemplate::render for each request; immutable, safe from any thread.
//
// ChatDeltas turns the growing text of a streamed answer into deltas: it parses the text so far
// (partially) after each piece and sends what is new. Its deltas add up to what the final parse
// returns, so a streamed answer reassembles to the same content and calls as a whole one.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "providers/llamacpp/tool_format.h"
#include "xervo/generator.h"

struct common_chat_params;

namespace xervo::llamacpp {

class ChatOutput {
 public:
  // llama.cpp's parser for the format `params` describes; `separate_reasoning` false keeps thinking
  // in the content, `parse_tools` false leaves call markup as content (tool_choice none).
  static std::shared_ptr<const ChatOutput> native(const common_chat_params& params, bool separate_reasoning,
                                                  bool parse_tools);
  // xervo's <tool_call> format.
  static std::shared_ptr<const ChatOutput> tool_format();
  ~ChatOutput();

  // The parse of `text`. A partial text that cannot be parsed yet gives ok = false.
  struct Parsed {
    bool ok = true;
    ParsedOutput output;
  };
  Parsed parse(std::string_view text, bool partial) const;

 private:
  struct Impl;
  explicit ChatOutput(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Fills a whole result from its text: content, reasoning, calls (with ids), finish reason.
void apply_parsed(const ParsedOutput& parsed, GenerateChoice& choice);

// The streaming side: feed every piece, then finish with the final text.
class ChatDeltas {
 public:
  // The deltas of sequence `choice` (GenerateDelta::choice).
  ChatDeltas(std::shared_ptr<const ChatOutput> output, const DeltaCallback& on_delta, int choice = 0);
  // false: the callback asked to stop. `logprobs` (of the piece's tokens) go out with the next delta.
  bool push(std::string_view piece, const std::vector<TokenLogprob>& logprobs = {});
  // Sends what the final parse adds to what was sent, and returns that parse.
  ParsedOutput finish(bool& go_on);

 private:
  bool send_changes(const ParsedOutput& now, bool final);

  std::shared_ptr<const ChatOutput> output_;
  const DeltaCallback& on_delta_;
  int choice_ = 0;
  std::string text_;
  std::vector<TokenLogprob> logprobs_;  // not sent yet
  ParsedOutput sent_;  // what the deltas so far add up to
  std::vector<std::string> ids_;
};

}  // namespace xervo::llamacpp
