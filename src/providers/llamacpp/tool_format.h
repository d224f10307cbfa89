// xervo's own tool-call format, for what llama.cpp's chat layer does not cover: templates with no
// tool support (tools go into the system prompt in this format) and `required` / named-function
// tool choices whose native grammar lets the answer start with free text. A call is
//   <tool_call>
//   {"name": "get_weather", "arguments": {"city": "Paris"}}
//   </tool_call>
// (the Hermes / Qwen shape, which many models know); several calls follow one another. The grammar
// built here forces that shape, and the arguments to the tool's JSON Schema, from the first token
// (or from the trigger, when lazy). Stateless functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "xervo/error.h"
#include "xervo/generator.h"

namespace xervo::llamacpp {

inline constexpr std::string_view kToolCallOpen = "<tool_call>";
inline constexpr std::string_view kToolCallClose = "</tool_call>";

struct ToolLimits {
  size_t max_tools = 128;
  size_t max_schema_bytes = 64 * 1024;  // one tool's parameters
  size_t max_total_bytes = 512 * 1024;  // every tool's name, description and parameters
};

// invalid_input for a request whose tools cannot be used: a name that is not [A-Za-z0-9_.-]{1,64},
// duplicate names, parameters that are not a JSON object schema, sizes beyond the limits, or a
// tool_choice naming a function that is not among the tools (or any choice but auto/none without
// tools).
Result<void> check_tools(const GenerateRequest& request, const ToolLimits& limits = {});

// The tools a choice leaves the model: all of them, or only the named one.
std::vector<ToolDefinition> tools_for_choice(const GenerateRequest& request);

// The system-prompt text that describes `tools` and this format (for templates without tools).
std::string tools_system_prompt(const std::vector<ToolDefinition>& tools);

// The conversation with tools described in the system prompt, assistant tool calls written as
// <tool_call> blocks and tool results as user turns in <tool_response> blocks: what a template
// that knows only system / user / assistant can render.
std::vector<ChatMessage> messages_with_tool_text(const GenerateRequest& request);

// A GBNF grammar whose root is one call (or, with `parallel`, one or more) of these tools in this
// format; invalid_input when a schema cannot become a grammar.
Result<std::string> tool_call_grammar(const std::vector<ToolDefinition>& tools, bool parallel);

struct ParsedOutput {
  std::string content;
  std::string reasoning;
  std::vector<ToolCall> calls;  // complete calls, plus (when partial) the one being written
};

// Splits generated text into content and calls in this format. With `partial` the text may stop
// anywhere: a possible start of "<tool_call>" is held back from the content, and the call being
// written is returned with the name once complete and the arguments written so far (raw text of
// the arguments value, so later parses extend it). A block that is not a well-formed call stays
// content.
ParsedOutput parse_tool_format(std::string_view text, bool partial);

}  // namespace xervo::llamacpp
