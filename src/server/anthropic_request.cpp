// Parsing of Anthropic Messages requests into a GenerateRequest (see anthropic_json.h). Every
// field is checked for type and range; a message names the field as a JSON path
// ("messages[2].content[0].tool_use_id") so a client learns exactly what to fix.
#include <cctype>
#include <cstdint>
#include <map>
#include <set>

#include "server/anthropic_json.h"
#include "server/api_error.h"
#include "server/json_fields.h"

namespace xervo::server {
namespace {

constexpr size_t kMaxStopSequences = 16;
constexpr size_t kMaxTools = 128;
constexpr size_t kMaxToolNameBytes = 64;

std::string at(const std::string& where, size_t i) { return where + "[" + std::to_string(i) + "]"; }

const nlohmann::json* field(const nlohmann::json& object, const char* name) {
  auto it = object.find(name);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

std::string string_field(const nlohmann::json& object, const char* name, const std::string& where) {
  const auto* v = field(object, name);
  if (!v || !v->is_string()) reject_input("'" + where + "." + name + "' is required: a string");
  return v->get<std::string>();
}

// "Blocks we cannot take": named, with what to do instead.
[[noreturn]] void refuse_block(const std::string& type, const std::string& where) {
  if (type == "image" || type == "document")
    reject_input("'" + where + "' is a " + type +
                 " block; this server serves text models only: send text, tool_use and tool_result blocks");
  reject_input("'" + where + "' has type '" + type +
               "'; supported content blocks are text, thinking, tool_use (assistant) and tool_result (user)");
}

std::string block_type(const nlohmann::json& block, const std::string& where) {
  if (!block.is_object()) reject_input("'" + where + "' must be a content block object");
  const auto* t = field(block, "type");
  if (!t || !t->is_string()) reject_input("'" + where + ".type' is required: a string");
  return t->get<std::string>();
}

// A string, or an array of text blocks joined by newlines (system prompts, tool results).
std::string text_of(const nlohmann::json& value, const std::string& where) {
  if (value.is_string()) return value.get<std::string>();
  if (!value.is_array()) reject_input("'" + where + "' must be a string or an array of text blocks");
  std::string text;
  for (size_t i = 0; i < value.size(); ++i) {
    std::string type = block_type(value[i], at(where, i));
    if (type != "text") refuse_block(type, at(where, i));
    if (!text.empty()) text += "\n";
    text += string_field(value[i], "text", at(where, i));
  }
  return text;
}

// Conversation state while the turns are read: the tool calls made so far, by id, so that a
// tool_result can name its tool (Gemini's functionResponse needs it) and a stray id is refused.
struct Conversation {
  std::vector<ChatMessage> messages;
  std::map<std::string, std::string> tool_names;  // tool_use id -> name
};

void read_assistant_blocks(const nlohmann::json& blocks, const std::string& where, Conversation& c) {
  ChatMessage m("assistant", "");
  for (size_t i = 0; i < blocks.size(); ++i) {
    const std::string here = at(where, i);
    const std::string type = block_type(blocks[i], here);
    if (type == "text") {
      m.content += string_field(blocks[i], "text", here);
    } else if (type == "thinking") {
      m.reasoning_content += string_field(blocks[i], "thinking", here);
    } else if (type == "redacted_thinking") {
      continue;  // encrypted by another service: nothing a local template can show
    } else if (type == "tool_use") {
      ToolCall call;
      call.id = string_field(blocks[i], "id", here);
      call.name = string_field(blocks[i], "name", here);
      if (call.id.empty() || call.name.empty()) reject_input("'" + here + "' needs a non-empty id and name");
      const auto* input = field(blocks[i], "input");
      if (!input || !input->is_object()) reject_input("'" + here + ".input' is required: an object");
      call.arguments = input->dump();
      c.tool_names[call.id] = call.name;
      m.tool_calls.push_back(std::move(call));
    } else {
      refuse_block(type, here);
    }
  }
  c.messages.push_back(std::move(m));
}

void read_user_blocks(const nlohmann::json& blocks, const std::string& where, Conversation& c) {
  std::string text;
  bool has_text = false;
  auto flush_text = [&] {
    if (has_text) c.messages.emplace_back("user", std::move(text));
    text.clear();
    has_text = false;
  };
  for (size_t i = 0; i < blocks.size(); ++i) {
    const std::string here = at(where, i);
    const std::string type = block_type(blocks[i], here);
    if (type == "text") {
      if (has_text) text += "\n";
      text += string_field(blocks[i], "text", here);
      has_text = true;
    } else if (type == "tool_result") {
      flush_text();
      ChatMessage m("tool", "");
      m.tool_call_id = string_field(blocks[i], "tool_use_id", here);
      auto named = c.tool_names.find(m.tool_call_id);
      if (named == c.tool_names.end())
        reject_input("'" + here + ".tool_use_id' is '" + m.tool_call_id +
                     "', which no earlier assistant tool_use block has");
      m.name = named->second;
      if (const auto* content = field(blocks[i], "content")) m.content = text_of(*content, here + ".content");
      // The chat templates have no error flag on tool messages: the model reads it in the text.
      if (auto failed = optional_bool(blocks[i], "is_error"); failed && *failed)
        m.content = "Error: " + m.content;
      c.messages.push_back(std::move(m));
    } else {
      refuse_block(type, here);
    }
  }
  flush_text();
}

std::vector<ChatMessage> parse_conversation(const nlohmann::json& body) {
  Conversation c;
  if (const auto* system = field(body, "system")) {
    std::string text = text_of(*system, "system");
    if (!text.empty()) c.messages.emplace_back("system", std::move(text));
  }
  const auto* turns = field(body, "messages");
  if (!turns || !turns->is_array() || turns->empty())
    reject_input("'messages' is required: a non-empty array of {\"role\", \"content\"} objects");
  for (size_t i = 0; i < turns->size(); ++i) {
    const auto& turn = (*turns)[i];
    const std::string where = at("messages", i);
    if (!turn.is_object()) reject_input("'" + where + "' must be an object");
    const std::string role = string_field(turn, "role", where);
    if (role != "user" && role != "assistant")
      reject_input("'" + where + ".role' is '" + role +
                   "'; it must be user or assistant (a system prompt goes in the top-level 'system')");
    const auto* content = field(turn, "content");
    if (!content || !(content->is_string() || content->is_array()))
      reject_input("'" + where + ".content' is required: a string or an array of content blocks");
    if (content->is_string())
      c.messages.emplace_back(role, content->get<std::string>());
    else if (role == "assistant")
      read_assistant_blocks(*content, where + ".content", c);
    else
      read_user_blocks(*content, where + ".content", c);
  }
  // The chat templates always open a new assistant turn: continuing a given one is not possible.
  if ((*turns)[turns->size() - 1].value("role", "") == "assistant")
    reject_input(
        "the last message is an assistant turn (a prefill); this server cannot continue one: "
        "end with a user turn");
  return std::move(c.messages);
}

bool valid_tool_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxToolNameBytes) return false;
  for (char ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-') return false;
  return true;
}

std::vector<ToolDefinition> parse_tools(const nlohmann::json& body) {
  std::vector<ToolDefinition> tools;
  const auto* list = field(body, "tools");
  if (!list) return tools;
  if (!list->is_array() || list->size() > kMaxTools)
    reject_input("'tools' must be an array of at most " + std::to_string(kMaxTools) + " tools");
  std::set<std::string> names;
  for (size_t i = 0; i < list->size(); ++i) {
    const auto& t = (*list)[i];
    const std::string where = at("tools", i);
    if (!t.is_object()) reject_input("'" + where + "' must be an object");
    if (auto type = optional_string(t, "type"); type && *type != "custom")
      reject_input("'" + where + ".type' is '" + *type +
                   "': Anthropic's own tools are not available here; define the tool with name, "
                   "description and input_schema");
    ToolDefinition def;
    def.name = string_field(t, "name", where);
    if (!valid_tool_name(def.name))
      reject_input("'" + where + ".name' must be 1-64 characters of A-Z a-z 0-9 _ -");
    if (!names.insert(def.name).second)
      reject_input("'" + where + ".name': tool '" + def.name + "' is defined twice");
    if (const auto* d = field(t, "description")) {
      if (!d->is_string()) reject_input("'" + where + ".description' must be a string");
      def.description = d->get<std::string>();
    }
    const auto* schema = field(t, "input_schema");
    if (!schema || !schema->is_object())
      reject_input("'" + where + ".input_schema' is required: a JSON Schema object");
    def.parameters = schema->dump();
    tools.push_back(std::move(def));
  }
  return tools;
}

void parse_tool_choice(const nlohmann::json& body, GenerateRequest& r) {
  const auto* choice = field(body, "tool_choice");
  if (!choice) return;
  if (!choice->is_object()) reject_input("'tool_choice' must be an object like {\"type\": \"auto\"}");
  const std::string type = string_field(*choice, "type", "tool_choice");
  if (type == "auto") {
    r.tool_choice.mode = ToolChoice::Mode::automatic;
  } else if (type == "any") {
    r.tool_choice.mode = ToolChoice::Mode::required;
  } else if (type == "none") {
    r.tool_choice.mode = ToolChoice::Mode::none;
  } else if (type == "tool") {
    r.tool_choice.mode = ToolChoice::Mode::function;
    r.tool_choice.name = string_field(*choice, "name", "tool_choice");
    bool known = false;
    for (const auto& t : r.tools) known = known || t.name == r.tool_choice.name;
    if (!known) reject_input("'tool_choice.name' is '" + r.tool_choice.name + "', which is not in 'tools'");
  } else {
    reject_input("'tool_choice.type' must be auto, any, tool or none, not '" + type + "'");
  }
  if ((type == "any" || type == "tool") && r.tools.empty())
    reject_input("'tool_choice' of type " + type + " needs 'tools'");
  if (auto single = optional_bool(*choice, "disable_parallel_tool_use")) r.parallel_tool_calls = !*single;
}

// Extended thinking: on (the default) returns a template's thinking as thinking blocks; off leaves
// it in the text as the model wrote it. budget_tokens is checked but not enforced: thinking counts
// against max_tokens.
void parse_thinking(const nlohmann::json& body, GenerateOptions& o) {
  const auto* thinking = field(body, "thinking");
  if (!thinking) return;
  if (!thinking->is_object())
    reject_input("'thinking' must be an object like {\"type\": \"enabled\", \"budget_tokens\": 1024}");
  const std::string type = string_field(*thinking, "type", "thinking");
  if (type == "enabled") {
    if (!optional_int(*thinking, "budget_tokens", 1, INT32_MAX))
      reject_input("'thinking.budget_tokens' is required when thinking is enabled: a positive integer");
    o.separate_reasoning = true;
  } else if (type == "disabled") {
    o.separate_reasoning = false;
  } else {
    reject_input("'thinking.type' must be enabled or disabled, not '" + type + "'");
  }
}

std::vector<std::string> parse_stop_sequences(const nlohmann::json& body) {
  std::vector<std::string> stops;
  const auto* list = field(body, "stop_sequences");
  if (!list) return stops;
  if (!list->is_array() || list->size() > kMaxStopSequences)
    reject_input("'stop_sequences' must be an array of at most " + std::to_string(kMaxStopSequences) +
                 " strings");
  for (size_t i = 0; i < list->size(); ++i) {
    if (!(*list)[i].is_string() || (*list)[i].get<std::string>().empty())
      reject_input("'" + at("stop_sequences", i) + "' must be a non-empty string");
    stops.push_back((*list)[i].get<std::string>());
  }
  return stops;
}

GenerateOptions parse_sampling(const nlohmann::json& body, const ServerOptions& limits) {
  GenerateOptions o;
  const auto* max = field(body, "max_tokens");
  if (!max) reject_input("'max_tokens' is required: the most tokens to generate");
  o.max_tokens = static_cast<int>(*optional_int(body, "max_tokens", 1, limits.max_tokens));
  if (auto t = optional_number(body, "temperature", 0, 1)) o.temperature = static_cast<float>(*t);
  if (auto p = optional_number(body, "top_p", 0, 1)) o.top_p = static_cast<float>(*p);
  if (auto k = optional_int(body, "top_k", 0, 100000)) o.top_k = static_cast<int>(*k);
  o.stop = parse_stop_sequences(body);
  return o;
}

}  // namespace

MessagesRequest parse_messages_request(const nlohmann::json& body, const ServerOptions& limits,
                                       bool counting) {
  MessagesRequest out;
  out.model = require_string(body, "model");
  auto& r = out.generate;
  if (!counting) {
    r.options = parse_sampling(body, limits);
    out.stream = optional_bool(body, "stream").value_or(false);
  }
  parse_thinking(body, r.options);
  r.messages = parse_conversation(body);
  r.tools = parse_tools(body);
  parse_tool_choice(body, r);
  out.keep_alive = optional_keep_alive(body);
  // metadata (user_id), service_tier and cache_control have no meaning for this server: ignored.
  return out;
}

}  // namespace xervo::server
