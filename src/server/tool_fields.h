// The tool-calling and reasoning fields of OpenAI's chat API: request fields (tools, tool_choice,
// parallel_tool_calls, reasoning_format; assistant tool_calls and tool messages) into
// GenerateRequest, and calls back into OpenAI's JSON (whole and as stream deltas). Every parser
// rejects (400, invalid_input) naming the field. Stateless; safe from any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "xervo/generator.h"

namespace xervo::server {

inline constexpr size_t kMaxTools = 128;
inline constexpr size_t kMaxToolSchemaBytes = 64 * 1024;
inline constexpr size_t kMaxToolCallsPerMessage = 64;

// tools, tool_choice, parallel_tool_calls and reasoning_format ("none" keeps thinking inline, as
// llama-server does; "auto", "deepseek" or "parsed" return it as reasoning_content).
void parse_tool_fields(const nlohmann::json& body, GenerateRequest& request);

// The tool parts of messages[index]: an assistant's tool_calls, a tool message's tool_call_id
// and name, an assistant's reasoning_content.
void parse_message_tool_fields(const nlohmann::json& message, size_t index, ChatMessage& out);

// OpenAI's message.tool_calls array.
nlohmann::json tool_calls_json(const std::vector<ToolCall>& calls);
// OpenAI's delta.tool_calls array: index, and id / type / function.name on a call's first delta.
nlohmann::json tool_call_deltas_json(const std::vector<ToolCallDelta>& deltas);

}  // namespace xervo::server
