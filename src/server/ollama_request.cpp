// The fields of Ollama's chat, generate and embed bodies onto the runtime's request types, and the
// small answer pieces they share. Every field is checked: a wrong type, a value out of range or an
// option xervo cannot honour is a 400 naming it, before any model is touched.
#include <algorithm>
#include <set>

#include "server/json_fields.h"
#include "server/ollama_api.h"

namespace xervo::server::ollama {
namespace {

constexpr size_t kMaxStops = 16;
constexpr size_t kMaxTools = 128;
constexpr size_t kMaxToolCalls = 128;
constexpr size_t kMaxToolNameBytes = 256;
constexpr int kMaxTopLogprobs = 20;

// Options that steer sampling: applied to a generation, no effect on an embedding (as in Ollama).
const std::set<std::string, std::less<>> kSamplingOptions{"temperature",
                                                          "top_p",
                                                          "top_k",
                                                          "min_p",
                                                          "num_predict",
                                                          "stop",
                                                          "seed",
                                                          "repeat_penalty",
                                                          "presence_penalty",
                                                          "frequency_penalty"};
const char* const kSupportedText =
    "temperature, top_p, top_k, min_p, num_predict, stop, seed, repeat_penalty, presence_penalty, "
    "frequency_penalty; num_ctx only as the alias's context_size";

const nlohmann::json& options_object(const nlohmann::json& body) {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  auto it = body.find("options");
  if (it == body.end() || it->is_null()) return kEmpty;
  if (!it->is_object()) reject_input("'options' must be an object such as {\"temperature\": 0.7}");
  return *it;
}

bool number_is(const nlohmann::json& v, double expected) {
  return v.is_number() && v.get<double>() == expected;
}

// Options that change nothing at the value given (Ollama's own defaults, or deprecated no-ops): accepted.
bool is_neutral(const std::string& key, const nlohmann::json& value, const nlohmann::json& options) {
  if (key == "mirostat") return number_is(value, 0);
  if (key == "mirostat_tau" || key == "mirostat_eta")  // only read by mirostat, which is off
    return value.is_number() && !(options.contains("mirostat") && !number_is(options["mirostat"], 0));
  if (key == "typical_p" || key == "tfs_z") return number_is(value, 1);
  if (key == "penalize_newline") return value.is_boolean();  // Ollama ignores it too
  return false;
}

void check_num_ctx(const nlohmann::json& value, const ModelSpec& spec) {
  const nlohmann::json* configured = nullptr;
  if (spec.options.is_object() && spec.options.contains("context_size"))
    configured = &spec.options["context_size"];
  if (configured && configured->is_number_integer() && value.is_number() &&
      value.get<double>() == configured->get<double>())
    return;
  reject_input("'options.num_ctx' cannot change the context of '" + spec.alias +
               "': it is set per alias in xervo.toml (options.context_size" +
               (configured ? " = " + configured->dump() : std::string(", unset: the model's own")) +
               "); send that value or leave num_ctx out");
}

// Walks `options`: sampling keys go to `on_sampling`, neutral values and a matching num_ctx pass,
// anything else is refused naming the key.
template <typename F>
void walk_options(const nlohmann::json& options, const ModelSpec& spec, F&& on_sampling) {
  for (const auto& [key, value] : options.items()) {
    if (value.is_null()) continue;
    if (kSamplingOptions.count(key)) {
      on_sampling(key, value);
    } else if (key == "num_ctx") {
      check_num_ctx(value, spec);
    } else if (!is_neutral(key, value, options)) {
      reject_input("'options." + key + "' is not supported: how a model loads and runs is set per alias in " +
                   "xervo.toml; supported options: " + kSupportedText);
    }
  }
}

std::vector<std::string> stop_strings(const nlohmann::json& v) {
  std::vector<std::string> out;
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
  } else if (v.is_array() && v.size() <= kMaxStops) {
    for (const auto& s : v) {
      if (!s.is_string()) reject_input("'options.stop' must hold strings, not " + json_type_name(s));
      out.push_back(s.get<std::string>());
    }
  } else {
    reject_input("'options.stop' must be a string or an array of at most " + std::to_string(kMaxStops) +
                 " strings");
  }
  for (const auto& s : out)
    if (s.empty()) reject_input("'options.stop' holds an empty string");
  return out;
}

// num_predict: -1 (until a stop) and -2 (fill the context) are the server's max_tokens.
int num_predict(const nlohmann::json& one, const char* field, const ServerOptions& limits) {
  const int64_t n = *optional_int(one, field, -2, limits.max_tokens);
  if (n == 0)
    reject_input("'options.num_predict' must be -1, -2 or between 1 and " +
                 std::to_string(limits.max_tokens) + " (the server's max_tokens)");
  return n < 0 ? limits.max_tokens : static_cast<int>(n);
}

void apply_sampling(GenerateOptions& o, const nlohmann::json& options, const std::string& key,
                    const ServerOptions& limits) {
  const std::string field = "options." + key;
  // optional_* name the field they read: read from a one-field object named as the client wrote it.
  const nlohmann::json one = {{field, options[key]}};
  const char* f = field.c_str();
  if (key == "temperature") o.temperature = static_cast<float>(*optional_number(one, f, 0, 2));
  if (key == "top_p") o.top_p = static_cast<float>(*optional_number(one, f, 0, 1));
  if (key == "top_k") o.top_k = static_cast<int>(*optional_int(one, f, 0, 100000));
  if (key == "min_p") o.min_p = static_cast<float>(*optional_number(one, f, 0, 1));
  if (key == "repeat_penalty") o.repeat_penalty = static_cast<float>(*optional_number(one, f, 0, 10));
  if (key == "presence_penalty") o.presence_penalty = static_cast<float>(*optional_number(one, f, -2, 2));
  if (key == "frequency_penalty") o.frequency_penalty = static_cast<float>(*optional_number(one, f, -2, 2));
  if (key == "num_predict") o.max_tokens = num_predict(one, f, limits);
  if (key == "stop") o.stop = stop_strings(options[key]);
  if (key == "seed") {
    const int64_t seed = *optional_int(one, f, INT64_MIN, INT64_MAX);
    if (seed == -1)
      o.seed.reset();  // Ollama's "random"
    else
      o.seed = static_cast<uint64_t>(seed);  // all 64 bits
  }
}

// `format`: "json" (a JSON object) or a JSON Schema object.
std::string json_schema(const nlohmann::json& body) {
  auto it = body.find("format");
  if (it == body.end() || it->is_null() || (it->is_string() && it->get<std::string>().empty())) return {};
  if (it->is_string() && it->get<std::string>() == "json") return R"({"type":"object"})";
  if (it->is_object()) return it->dump();
  reject_input("'format' must be \"json\" or a JSON Schema object");
}

// `think`: true, false or a level ("high", "medium", "low": all mean true here).
bool separate_reasoning(const nlohmann::json& body) {
  auto it = body.find("think");
  if (it == body.end() || it->is_null()) return true;
  if (it->is_boolean()) return it->get<bool>();
  if (it->is_string()) {
    const std::string level = it->get<std::string>();
    if (level == "high" || level == "medium" || level == "low") return true;
  }
  reject_input("'think' must be true, false, \"high\", \"medium\" or \"low\"");
}

std::string string_or_empty(const nlohmann::json& object, const char* field, const std::string& where) {
  auto it = object.find(field);
  if (it == object.end() || it->is_null()) return {};
  if (!it->is_string()) reject_input(where + "." + field + "' must be a string, not " + json_type_name(*it));
  return it->get<std::string>();
}

ToolCall parse_tool_call(const nlohmann::json& call, const std::string& where, size_t message, size_t index) {
  if (!call.is_object() || !call.contains("function") || !call["function"].is_object())
    reject_input(where + "' must be {\"function\": {\"name\", \"arguments\"}}");
  const auto& fn = call["function"];
  ToolCall out;
  out.name = string_or_empty(fn, "name", where + ".function");
  if (out.name.empty() || out.name.size() > kMaxToolNameBytes)
    reject_input(where + ".function.name' must be a non-empty string of at most " +
                 std::to_string(kMaxToolNameBytes) + " bytes");
  auto args = fn.find("arguments");
  if (args == fn.end() || args->is_null())
    out.arguments = "{}";
  else if (args->is_object())
    out.arguments = args->dump();
  else if (args->is_string())
    out.arguments = args->get<std::string>();
  else
    reject_input(where + ".function.arguments' must be an object");
  out.id = string_or_empty(call, "id", where);
  if (out.id.empty()) out.id = "call_" + std::to_string(message) + "_" + std::to_string(index);
  return out;
}

// The calls of the last assistant message that no tool message answered yet.
struct PendingCall {
  std::string id, name;
};

// A tool message without tool_call_id answers the first open call of its tool_name (else the first
// open call): Ollama's messages carry no ids, remote providers need them.
void link_tool_result(ChatMessage& m, std::vector<PendingCall>& pending) {
  if (m.tool_call_id.empty()) {
    auto it =
        std::find_if(pending.begin(), pending.end(), [&](const PendingCall& c) { return c.name == m.name; });
    if (it == pending.end() && !pending.empty()) it = pending.begin();
    if (it != pending.end()) {
      m.tool_call_id = it->id;
      if (m.name.empty()) m.name = it->name;
      pending.erase(it);
    }
    return;
  }
  std::erase_if(pending, [&](const PendingCall& c) { return c.id == m.tool_call_id; });
}

ChatMessage parse_message(const nlohmann::json& m, size_t i, std::vector<PendingCall>& pending) {
  const std::string where = "'messages[" + std::to_string(i) + "]";
  if (!m.is_object()) reject_input(where + "' must be an object");
  ChatMessage out;
  out.role = string_or_empty(m, "role", where);
  if (out.role == "developer") out.role = "system";
  if (out.role != "system" && out.role != "user" && out.role != "assistant" && out.role != "tool")
    reject_input(where + ".role' must be system, user, assistant or tool");
  out.content = string_or_empty(m, "content", where);
  refuse_images(m, "messages[" + std::to_string(i) + "]");
  out.reasoning_content = string_or_empty(m, "thinking", where);
  if (auto calls = m.find("tool_calls"); calls != m.end() && !calls->is_null()) {
    if (!calls->is_array() || calls->size() > kMaxToolCalls)
      reject_input(where + ".tool_calls' must be an array of at most " + std::to_string(kMaxToolCalls) +
                   " calls");
    for (size_t k = 0; k < calls->size(); ++k)
      out.tool_calls.push_back(
          parse_tool_call((*calls)[k], where + ".tool_calls[" + std::to_string(k) + "]", i, k));
  }
  if (out.role == "assistant") {
    pending.clear();
    for (const auto& c : out.tool_calls) pending.push_back({c.id, c.name});
  }
  if (out.role == "tool") {
    out.name = string_or_empty(m, "tool_name", where);
    if (out.name.empty()) out.name = string_or_empty(m, "name", where);
    out.tool_call_id = string_or_empty(m, "tool_call_id", where);
    link_tool_result(out, pending);
  }
  return out;
}

}  // namespace

GenerateOptions generation_options(const nlohmann::json& body, const ServerOptions& limits,
                                   const ModelSpec& spec) {
  GenerateOptions o;
  o.max_tokens = limits.default_max_tokens;
  const auto& options = options_object(body);
  walk_options(options, spec, [&](const std::string& key, const nlohmann::json&) {
    apply_sampling(o, options, key, limits);
  });
  o.json_schema = json_schema(body);
  o.separate_reasoning = separate_reasoning(body);
  o.logprobs = optional_bool(body, "logprobs").value_or(false);
  if (auto n = optional_int(body, "top_logprobs", 0, kMaxTopLogprobs)) {
    o.top_logprobs = static_cast<int>(*n);
    if (*n > 0) o.logprobs = true;
  }
  return o;
}

void check_embedding_options(const nlohmann::json& body, const ModelSpec& spec) {
  walk_options(options_object(body), spec, [](const std::string&, const nlohmann::json&) {});
}

void refuse_images(const nlohmann::json& object, const std::string& where) {
  auto it = object.find("images");
  if (it == object.end() || it->is_null() || (it->is_array() && it->empty())) return;
  reject_input("'" + where + (where.empty() ? "" : ".") +
               "images' is not supported: the models xervo serves read text only; send the request "
               "without images");
}

std::vector<ChatMessage> chat_messages(const nlohmann::json& body) {
  auto it = body.find("messages");
  if (it == body.end() || it->is_null()) return {};
  if (!it->is_array()) reject_input("'messages' must be an array of {\"role\", \"content\"} objects");
  std::vector<ChatMessage> out;
  std::vector<PendingCall> pending;
  for (size_t i = 0; i < it->size(); ++i) out.push_back(parse_message((*it)[i], i, pending));
  return out;
}

std::vector<ToolDefinition> tool_definitions(const nlohmann::json& body) {
  auto it = body.find("tools");
  if (it == body.end() || it->is_null()) return {};
  if (!it->is_array() || it->size() > kMaxTools)
    reject_input("'tools' must be an array of at most " + std::to_string(kMaxTools) +
                 " {\"type\": \"function\", \"function\": {...}} objects");
  std::vector<ToolDefinition> out;
  for (size_t i = 0; i < it->size(); ++i) {
    const auto& t = (*it)[i];
    const std::string where = "'tools[" + std::to_string(i) + "]";
    if (!t.is_object() || !t.contains("function") || !t["function"].is_object())
      reject_input(where + "' must be {\"type\": \"function\", \"function\": {\"name\", ...}}");
    const std::string type = string_or_empty(t, "type", where);
    if (!type.empty() && type != "function") reject_input(where + ".type' must be \"function\"");
    const auto& fn = t["function"];
    ToolDefinition def;
    def.name = string_or_empty(fn, "name", where + ".function");
    if (def.name.empty() || def.name.size() > kMaxToolNameBytes)
      reject_input(where + ".function.name' must be a non-empty string of at most " +
                   std::to_string(kMaxToolNameBytes) + " bytes");
    def.description = string_or_empty(fn, "description", where + ".function");
    if (auto p = fn.find("parameters"); p != fn.end() && !p->is_null()) {
      if (!p->is_object()) reject_input(where + ".function.parameters' must be a JSON Schema object");
      def.parameters = p->dump();
    }
    out.push_back(std::move(def));
  }
  return out;
}

nlohmann::json tool_call_json(const ToolCall& call, size_t index) {
  auto args = nlohmann::json::parse(call.arguments, nullptr, false);
  if (!args.is_object()) args = call.arguments;
  return {{"id", call.id},
          {"function", {{"index", index}, {"name", call.name}, {"arguments", std::move(args)}}}};
}

nlohmann::json logprobs_json(const std::vector<TokenLogprob>& logprobs) {
  auto entry = [](const std::string& token, double logprob) {
    nlohmann::json bytes = nlohmann::json::array();
    for (unsigned char c : token) bytes.push_back(static_cast<int>(c));
    return nlohmann::json{{"token", token}, {"logprob", logprob}, {"bytes", std::move(bytes)}};
  };
  nlohmann::json out = nlohmann::json::array();
  for (const auto& lp : logprobs) {
    auto item = entry(lp.token, lp.logprob);
    nlohmann::json top = nlohmann::json::array();
    for (const auto& alt : lp.top) top.push_back(entry(alt.token, alt.logprob));
    if (!top.empty()) item["top_logprobs"] = std::move(top);
    out.push_back(std::move(item));
  }
  return out;
}

std::string_view done_reason(FinishReason reason) {
  return reason == FinishReason::length ? "length" : "stop";
}

std::string ndjson(const nlohmann::json& line) {
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

nlohmann::json error_json(const Error& error) { return {{"error", error.message()}}; }

}  // namespace xervo::server::ollama
