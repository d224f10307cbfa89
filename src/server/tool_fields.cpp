#include "server/tool_fields.h"

#include <algorithm>
#include <set>

#include "server/api_error.h"
#include "server/json_fields.h"

namespace xervo::server {
namespace {

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-' || c == '.'; });
}

ToolDefinition parse_tool(const nlohmann::json& tool, size_t i) {
  const std::string where = "'tools[" + std::to_string(i) + "]'";
  if (!tool.is_object())
    reject_input(where + " must be an object like {\"type\": \"function\", \"function\": {...}}");
  const std::string type = optional_string(tool, "type").value_or("function");
  if (type != "function") reject_input(where + " has type '" + type + "'; only function tools are supported");
  auto fn = tool.find("function");
  if (fn == tool.end() || !fn->is_object())
    reject_input(where + " needs 'function': {\"name\", \"description\", \"parameters\"}");
  ToolDefinition out;
  out.name = optional_string(*fn, "name").value_or("");
  if (!valid_name(out.name))
    reject_input(where + ": 'function.name' must be 1 to 64 letters, digits, '_', '-' or '.'");
  out.description = optional_string(*fn, "description").value_or("");
  if (auto p = fn->find("parameters"); p != fn->end() && !p->is_null()) {
    if (!p->is_object() || (p->contains("type") && (*p)["type"] != "object"))
      reject_input(
          where + ": 'function.parameters' must be a JSON Schema of an object ({\"type\": \"object\", ...})");
    out.parameters = p->dump();
    if (out.parameters.size() > kMaxToolSchemaBytes)
      reject_input(where + ": 'function.parameters' is " + std::to_string(out.parameters.size()) +
                   " bytes; at most " + std::to_string(kMaxToolSchemaBytes) + " are accepted");
  }
  return out;
}

ToolChoice parse_tool_choice(const nlohmann::json& body, const std::vector<ToolDefinition>& tools) {
  ToolChoice choice;
  auto it = body.find("tool_choice");
  if (it == body.end() || it->is_null()) return choice;
  if (it->is_string()) {
    const auto s = it->get<std::string>();
    if (s == "auto")
      choice.mode = ToolChoice::Mode::automatic;
    else if (s == "none")
      choice.mode = ToolChoice::Mode::none;
    else if (s == "required")
      choice.mode = ToolChoice::Mode::required;
    else
      reject_input(
          "'tool_choice' must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", "
          "\"function\": {\"name\": ...}}, not \"" +
          s.substr(0, 80) + "\"");
  } else if (it->is_object()) {
    auto fn = it->find("function");
    if (optional_string(*it, "type").value_or("function") != "function" || fn == it->end() ||
        !fn->is_object())
      reject_input(
          "'tool_choice' as an object must be {\"type\": \"function\", \"function\": {\"name\": ...}}");
    choice.mode = ToolChoice::Mode::function;
    choice.name = optional_string(*fn, "name").value_or("");
    const bool known = std::any_of(tools.begin(), tools.end(),
                                   [&](const ToolDefinition& t) { return t.name == choice.name; });
    if (!known)
      reject_input("'tool_choice' names the function '" + choice.name.substr(0, 80) +
                   "', which is not among 'tools'");
  } else {
    reject_input("'tool_choice' must be a string or an object, not " + json_type_name(*it));
  }
  if ((choice.mode == ToolChoice::Mode::required || choice.mode == ToolChoice::Mode::function) &&
      tools.empty())
    reject_input("'tool_choice' asks for a tool call but 'tools' is empty");
  return choice;
}

}  // namespace

void parse_tool_fields(const nlohmann::json& body, GenerateRequest& request) {
  if (auto it = body.find("tools"); it != body.end() && !it->is_null()) {
    if (!it->is_array()) reject_input("'tools' must be an array of function definitions");
    if (it->size() > kMaxTools)
      reject_input("'tools' has " + std::to_string(it->size()) + " entries; at most " +
                   std::to_string(kMaxTools));
    std::set<std::string> names;
    for (size_t i = 0; i < it->size(); ++i) {
      auto tool = parse_tool((*it)[i], i);
      if (!names.insert(tool.name).second)
        reject_input("'tools[" + std::to_string(i) + "]': the function name '" + tool.name +
                     "' is used twice");
      request.tools.push_back(std::move(tool));
    }
  }
  request.tool_choice = parse_tool_choice(body, request.tools);
  if (auto p = optional_bool(body, "parallel_tool_calls")) request.parallel_tool_calls = *p;
  if (auto f = optional_string(body, "reasoning_format")) {
    if (*f == "none")
      request.options.separate_reasoning = false;
    else if (*f == "auto" || *f == "deepseek" || *f == "parsed")
      request.options.separate_reasoning = true;
    else
      reject_input("'reasoning_format' must be \"none\" (thinking stays in the content) or \"auto\"");
  }
}

void parse_message_tool_fields(const nlohmann::json& m, size_t index, ChatMessage& out) {
  const std::string where = "'messages[" + std::to_string(index) + "]";
  if (out.role == "tool") {
    auto id = optional_string(m, "tool_call_id");
    if (!id || id->empty()) reject_input(where + "' is a tool message without 'tool_call_id'");
    out.tool_call_id = *id;
    out.name = optional_string(m, "name").value_or("");
  }
  if (out.role == "assistant") {
    if (auto r = optional_string(m, "reasoning_content")) out.reasoning_content = *r;
    auto calls = m.find("tool_calls");
    if (calls == m.end() || calls->is_null()) return;
    if (!calls->is_array()) reject_input(where + ".tool_calls' must be an array");
    if (calls->size() > kMaxToolCallsPerMessage)
      reject_input(where + ".tool_calls' has more than " + std::to_string(kMaxToolCallsPerMessage) +
                   " calls");
    for (size_t i = 0; i < calls->size(); ++i) {
      const auto& c = (*calls)[i];
      const std::string at = where + ".tool_calls[" + std::to_string(i) + "]'";
      auto fn = c.is_object() ? c.find("function") : c.end();
      if (!c.is_object() || fn == c.end() || !fn->is_object())
        reject_input(at +
                     " must be {\"id\", \"type\": \"function\", \"function\": {\"name\", \"arguments\"}}");
      ToolCall call;
      call.id = optional_string(c, "id").value_or("");
      call.name = optional_string(*fn, "name").value_or("");
      if (call.name.empty()) reject_input(at + " has no 'function.name'");
      auto args = fn->find("arguments");
      if (args == fn->end() || args->is_null())
        call.arguments = "{}";
      else if (args->is_string())
        call.arguments = args->get<std::string>();
      else if (args->is_object())
        call.arguments = args->dump();  // lenient: some clients send the object itself
      else
        reject_input(at + ": 'function.arguments' must be a string of JSON");
      out.tool_calls.push_back(std::move(call));
    }
  } else if (m.contains("tool_calls") && !m["tool_calls"].is_null()) {
    reject_input(where + "': only assistant messages carry 'tool_calls'");
  }
}

nlohmann::json tool_calls_json(const std::vector<ToolCall>& calls) {
  auto out = nlohmann::json::array();
  for (const auto& c : calls)
    out.push_back(
        {{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
  return out;
}

nlohmann::json tool_call_deltas_json(const std::vector<ToolCallDelta>& deltas) {
  auto out = nlohmann::json::array();
  for (const auto& d : deltas) {
    nlohmann::json item = {{"index", d.index}};
    nlohmann::json fn = {{"arguments", d.arguments}};
    if (!d.id.empty()) {
      item["id"] = d.id;
      item["type"] = "function";
      fn["name"] = d.name;
    }
    item["function"] = std::move(fn);
    out.push_back(std::move(item));
  }
  return out;
}

}  // namespace xervo::server
