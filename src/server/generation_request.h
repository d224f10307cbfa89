// The parsers of OpenAI's generation request bodies (chat and text completions), defined in
// generation_routes.cpp and shared by every front door that takes the same fields (the WebSocket
// protocol of websocket_generations.cpp), so that one field means one thing everywhere. Each one
// rejects (400, invalid_input) naming the field. Stateless; safe from any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "xervo/generator.h"
#include "xervo/server.h"

namespace xervo::server {

// `messages`: a non-empty array of {role, content}.
std::vector<ChatMessage> parse_messages(const nlohmann::json& body);
// `prompt`: a string (or an array of exactly one string).
std::string parse_prompt(const nlohmann::json& body);
// Sampling and output options (max_tokens within `limits`, temperature, stop, response_format, ...).
GenerateOptions parse_options(const nlohmann::json& body, const ServerOptions& limits);

}  // namespace xervo::server
