#include "providers/llamacpp/tool_format.h"

#include <json-schema-to-grammar.h>
#include <json.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

namespace xervo::llamacpp {
namespace {

Error invalid(const std::string& what) { return Error(ErrorCode::invalid_input, what); }

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-' || c == '.'; });
}

std::string json_quoted(std::string_view s) { return nlohmann::json(std::string(s)).dump(); }

// One call of `tool` as a JSON Schema: {"name": <const>, "arguments": <parameters>}, written by
// hand so that "name" comes first (nlohmann would sort the keys) and the name streams before the
// arguments.
std::string call_schema(const ToolDefinition& tool) {
  return R"({"type":"object","properties":{"name":{"const":)" + json_quoted(tool.name) + R"(},"arguments":)" +
         tool.parameters + R"(},"required":["name","arguments"],)" + R"("additionalProperties":false})";
}

size_t skip_space(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r')) ++i;
  return i;
}

// Scans a JSON string starting at s[i] == '"'; returns the index past its closing quote, or npos
// when the text ends first.
size_t scan_string(std::string_view s, size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

// Scans one JSON value starting at s[i]; returns the index past it, or npos when the text ends
// before it does. Only the nesting is checked: the grammar (or the final parse) checks the rest.
size_t scan_value(std::string_view s, size_t i) {
  if (i >= s.size()) return std::string_view::npos;
  if (s[i] == '"') return scan_string(s, i);
  if (s[i] != '{' && s[i] != '[') {  // a number, true, false or null: up to a delimiter
    size_t j = i;
    while (j < s.size() && s[j] != ',' && s[j] != '}' && s[j] != ']' && s[j] != ' ' && s[j] != '\n') ++j;
    return j < s.size() ? j : std::string_view::npos;
  }
  int depth = 0;
  for (size_t j = i; j < s.size(); ++j) {
    const char c = s[j];
    if (c == '"') {
      j = scan_string(s, j);
      if (j == std::string_view::npos) return j;
      --j;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return j + 1;
    }
  }
  return std::string_view::npos;
}

enum class Match { ok, cut_short, mismatch };

// Whether `what` follows (after whitespace) at s[i]; `cut_short` when the text ends inside it.
Match expect(std::string_view s, size_t& i, std::string_view what) {
  i = skip_space(s, i);
  const std::string_view rest = s.substr(std::min(i, s.size()));
  if (rest.substr(0, what.size()) == what) {
    i += what.size();
    return Match::ok;
  }
  return what.substr(0, rest.size()) == rest ? Match::cut_short : Match::mismatch;
}

// The call in `block` (text after "<tool_call>"). Returns false when it is not a call in this
// format (or, unless `partial`, when it is unfinished); `complete` says whether its closing tag
// was reached, `end` then indexes past it. A partial call has an empty name until the name is
// whole.
bool parse_call(std::string_view block, bool partial, ToolCall& call, size_t& end, bool& complete) {
  complete = false;
  size_t i = 0;
  for (std::string_view what : {"{", "\"name\"", ":"}) {
    const Match m = expect(block, i, what);
    if (m != Match::ok) return partial && m == Match::cut_short;
  }
  i = skip_space(block, i);
  if (i >= block.size()) return partial;
  if (block[i] != '"') return false;
  const size_t name_end = scan_string(block, i);
  if (name_end == std::string_view::npos) return partial;
  std::string name;
  try {
    name = nlohmann::json::parse(block.substr(i, name_end - i)).get<std::string>();
  } catch (const std::exception&) {
    return false;
  }
  i = name_end;
  for (std::string_view what : {",", "\"arguments\"", ":"}) {
    const Match m = expect(block, i, what);
    if (m != Match::ok) return partial && m == Match::cut_short;
  }
  call.name = std::move(name);  // whole: the arguments follow
  i = skip_space(block, i);
  const size_t value_end = scan_value(block, i);
  if (value_end == std::string_view::npos) {
    if (!partial) return false;
    call.arguments = std::string(block.substr(std::min(i, block.size())));
    return true;
  }
  call.arguments = std::string(block.substr(i, value_end - i));
  i = value_end;
  for (std::string_view what : {std::string_view("}"), kToolCallClose}) {
    const Match m = expect(block, i, what);
    if (m != Match::ok) return partial && m == Match::cut_short;
  }
  end = i;
  complete = true;
  return nlohmann::json::accept(call.arguments);
}

}  // namespace

Result<void> check_tools(const GenerateRequest& request, const ToolLimits& limits) {
  const auto& tools = request.tools;
  if (tools.size() > limits.max_tools)
    return invalid("at most " + std::to_string(limits.max_tools) + " tools, got " +
                   std::to_string(tools.size()));
  std::set<std::string> names;
  size_t total = 0;
  for (size_t i = 0; i < tools.size(); ++i) {
    const auto& t = tools[i];
    const std::string where = "tools[" + std::to_string(i) + "]";
    if (!valid_name(t.name))
      return invalid(where + ": the function name '" + t.name.substr(0, 80) +
                     "' must be 1 to 64 letters, digits, '_', '-' or '.'");
    if (!names.insert(t.name).second)
      return invalid(where + ": the function name '" + t.name + "' is used twice");
    if (t.parameters.size() > limits.max_schema_bytes)
      return invalid(where + ": the parameters schema of '" + t.name + "' is " +
                     std::to_string(t.parameters.size()) + " bytes; at most " +
                     std::to_string(limits.max_schema_bytes));
    total += t.name.size() + t.description.size() + t.parameters.size();
    nlohmann::json schema;
    try {
      schema = nlohmann::json::parse(t.parameters);
    } catch (const std::exception&) {
      return invalid(where + ": the parameters of '" + t.name + "' are not valid JSON");
    }
    if (!schema.is_object() || (schema.contains("type") && schema["type"] != "object"))
      return invalid(where + ": the parameters of '" + t.name +
                     "' must be a JSON Schema of an object ({\"type\": \"object\", \"properties\": {...}})");
  }
  if (total > limits.max_total_bytes)
    return invalid("the tools take " + std::to_string(total) + " bytes; at most " +
                   std::to_string(limits.max_total_bytes));
  using Mode = ToolChoice::Mode;
  const auto mode = request.tool_choice.mode;
  if ((mode == Mode::required || mode == Mode::function) && tools.empty())
    return invalid("tool_choice asks for a tool call but the request has no tools");
  if (mode == Mode::function && !names.count(request.tool_choice.name))
    return invalid("tool_choice names the function '" + request.tool_choice.name.substr(0, 80) +
                   "', which is not among the tools");
  return {};
}

std::vector<ToolDefinition> tools_for_choice(const GenerateRequest& request) {
  if (request.tool_choice.mode != ToolChoice::Mode::function) return request.tools;
  std::vector<ToolDefinition> out;
  for (const auto& t : request.tools)
    if (t.name == request.tool_choice.name) out.push_back(t);
  return out;
}

std::string tools_system_prompt(const std::vector<ToolDefinition>& tools) {
  std::string out =
      "You may call one or more functions to assist with the user query. The functions are described "
      "in JSON Schema within <tools></tools> XML tags:\n<tools>\n";
  for (const auto& t : tools) {
    nlohmann::json fn = {{"name", t.name}, {"description", t.description}};
    fn["parameters"] = nlohmann::json::parse(t.parameters, nullptr, false);
    out += nlohmann::json{{"type", "function"}, {"function", fn}}.dump() + "\n";
  }
  out +=
      "</tools>\n\nFor each function call, return a JSON object with the function name and arguments "
      "within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
      "<args-json-object>}\n</tool_call>";
  return out;
}

std::vector<ChatMessage> messages_with_tool_text(const GenerateRequest& request) {
  std::vector<ChatMessage> out;
  std::string tools_text = request.tools.empty() ? std::string() : tools_system_prompt(request.tools);
  size_t first = 0;
  if (!request.messages.empty() && request.messages[0].role == "system") {
    std::string system = request.messages[0].content;
    if (!tools_text.empty()) system += (system.empty() ? "" : "\n\n") + tools_text;
    out.push_back({"system", system});
    first = 1;
  } else if (!tools_text.empty()) {
    out.push_back({"system", tools_text});
  }
  for (size_t i = first; i < request.messages.size(); ++i) {
    const auto& m = request.messages[i];
    if (m.role == "tool") {
      // Consecutive tool results share one user turn, as Hermes-style templates render them.
      std::string block = "<tool_response>\n" + m.content + "\n</tool_response>";
      if (i > first && request.messages[i - 1].role == "tool")
        out.back().content += "\n" + block;
      else
        out.push_back({"user", block});
      continue;
    }
    ChatMessage copy{m.role, m.content};
    for (const auto& call : m.tool_calls) {
      nlohmann::json args =
          nlohmann::json::parse(call.arguments.empty() ? "{}" : call.arguments, nullptr, false);
      if (args.is_discarded()) args = call.arguments;
      if (!copy.content.empty()) copy.content += "\n";
      copy.content += std::string(kToolCallOpen) + "\n" + "{\"name\": " + json_quoted(call.name) +
                      ", \"arguments\": " + args.dump() + "}\n" + std::string(kToolCallClose);
    }
    out.push_back(std::move(copy));
  }
  return out;
}

Result<std::string> tool_call_grammar(const std::vector<ToolDefinition>& tools, bool parallel) {
  if (tools.empty()) return invalid("a tool-call grammar needs at least one tool");
  std::string schema;
  if (tools.size() == 1) {
    schema = call_schema(tools[0]);
  } else {
    schema = R"({"anyOf":[)";
    for (size_t i = 0; i < tools.size(); ++i) schema += (i ? "," : "") + call_schema(tools[i]);
    schema += "]}";
  }
  std::string grammar;
  try {
    grammar = json_schema_to_grammar(common_json::parse(schema));
  } catch (const std::exception& e) {
    return invalid(std::string("the tools' parameters cannot constrain a tool call: ") + e.what());
  }
  // The converter's root becomes one call's JSON; the new root wraps it in the tags.
  const std::string old_root = "root ::= ";
  size_t at = std::string::npos;
  if (grammar.rfind(old_root, 0) == 0)
    at = 0;
  else if (const size_t nl = grammar.find("\n" + old_root); nl != std::string::npos)
    at = nl + 1;
  if (at == std::string::npos) return invalid("the tools' parameters gave a grammar without a root");
  grammar.replace(at, old_root.size(), "xervo-call-json ::= ");
  grammar += "\nxervo-call ::= \"<tool_call>\\n\" xervo-call-json \"\\n</tool_call>\"\n";
  grammar += parallel ? "root ::= xervo-call (\"\\n\" xervo-call)*\n" : "root ::= xervo-call\n";
  return grammar;
}

ParsedOutput parse_tool_format(std::string_view text, bool partial) {
  ParsedOutput out;
  size_t pos = 0;
  for (;;) {
    const size_t open = text.find(kToolCallOpen, pos);
    if (open == std::string_view::npos) {
      std::string_view rest = text.substr(pos);
      if (partial) {  // hold back what may become "<tool_call>"
        for (size_t keep = std::min(rest.size(), kToolCallOpen.size() - 1); keep > 0; --keep)
          if (kToolCallOpen.substr(0, keep) == rest.substr(rest.size() - keep)) {
            rest.remove_suffix(keep);
            break;
          }
      }
      if (out.calls.empty() || skip_space(rest, 0) < rest.size()) out.content += rest;
      break;
    }
    ToolCall call;
    size_t end = 0;
    bool complete = false;
    const std::string_view block = text.substr(open + kToolCallOpen.size());
    if (!parse_call(block, partial, call, end, complete)) {
      out.content += text.substr(pos, open + kToolCallOpen.size() - pos);  // not a call: text
      pos = open + kToolCallOpen.size();
      continue;
    }
    std::string_view before = text.substr(pos, open - pos);
    // Whitespace around calls is not content.
    if (out.calls.empty() || skip_space(before, 0) < before.size()) out.content += before;
    out.calls.push_back(std::move(call));
    if (!complete) break;
    pos = open + kToolCallOpen.size() + end;
  }
  // Content that only separates the calls from the end of the answer is not content either.
  if (!out.calls.empty() && skip_space(out.content, 0) >= out.content.size()) out.content.clear();
  return out;
}

}  // namespace xervo::llamacpp
