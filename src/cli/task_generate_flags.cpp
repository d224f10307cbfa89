#include "cli/task_generate_flags.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "cli/command.h"

namespace xervo::cli {

void GenerateFlags::add_to(CLI::App& cmd) {
  cmd.add_option("-m,--model", model, "alias, .gguf path, library:ID, hf:ORG/REPO or PROVIDER:MODEL")
      ->required();
  cmd.add_option("--system", system, "system message");
  cmd.add_option("--temperature", temperature, "0 = greedy (default 0.8)")->check(CLI::Range(0.0, 100.0));
  cmd.add_option("--top-p", top_p, "nucleus sampling (default 0.95)")->check(CLI::Range(0.0, 1.0));
  cmd.add_option("--top-k", top_k, "keep the K most likely tokens (default 40; 0 = off)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--min-p", min_p, "drop tokens below P x the best one (default 0.05)")
      ->check(CLI::Range(0.0, 1.0));
  cmd.add_option("--repeat-penalty", repeat_penalty, "1 = off (default)")->check(CLI::Range(0.0, 10.0));
  cmd.add_option("--seed", seed, "fixed sampling seed (default random)");
  cmd.add_option("--max-tokens,-n", max_tokens, "most tokens to generate (default 256)")
      ->check(CLI::PositiveNumber);
  // Repeatable options take one value per occurrence, so a prompt after them stays the prompt.
  cmd.add_option("--stop", stop, "stop before this text (repeatable); it is not printed")
      ->allow_extra_args(false);
  cmd.add_option(
         "--logprobs", logprobs,
         "print each generated token's log probability and its N most likely alternatives (0-20) on stderr")
      ->check(CLI::Range(0, 20));
  cmd.add_flag("--stats", stats, "print token counts and speed on stderr");
  cmd.add_option(
      "--tool", tool_files,
      "a function the model may call: a JSON file in OpenAI's shape (repeatable); calls print as JSON")
      ->allow_extra_args(false);
  cmd.add_option("--tool-choice", tool_choice, "auto (default), none, required, or a --tool function's name");
}

void GenerateFlags::add_tools(GenerateRequest& request) const {
  auto bad = [](const std::string& what) { throw Exception(Error(ErrorCode::invalid_input, what)); };
  std::set<std::string> names;
  for (const auto& file : tool_files) {
    auto json = nlohmann::json::parse(read_text_file(file), nullptr, /*allow_exceptions=*/false);
    if (json.is_object() && json.contains("function")) json = json["function"];
    if (!json.is_object() || !json.contains("name") || !json["name"].is_string())
      bad("--tool " + file +
          ": expected {\"type\": \"function\", \"function\": {\"name\", \"description\", \"parameters\"}}");
    ToolDefinition tool;
    tool.name = json["name"].get<std::string>();
    if (json.contains("description") && json["description"].is_string())
      tool.description = json["description"];
    if (json.contains("parameters")) {
      if (!json["parameters"].is_object())
        bad("--tool " + file + ": 'parameters' must be a JSON Schema object");
      tool.parameters = json["parameters"].dump();
    }
    if (!names.insert(tool.name).second)
      bad("--tool " + file + ": the function '" + tool.name + "' is given twice");
    request.tools.push_back(std::move(tool));
  }
  if (tool_choice.empty() || tool_choice == "auto") return;
  if (request.tools.empty()) bad("--tool-choice needs at least one --tool");
  if (tool_choice == "none") {
    request.tool_choice.mode = ToolChoice::Mode::none;
  } else if (tool_choice == "required") {
    request.tool_choice.mode = ToolChoice::Mode::required;
  } else {
    if (!names.count(tool_choice))
      bad("--tool-choice '" + tool_choice + "' is not auto, none, required or the name of a --tool function");
    request.tool_choice = {ToolChoice::Mode::function, tool_choice};
  }
}

void print_tool_calls(const std::vector<ToolCall>& calls) {
  for (const auto& c : calls) {
    nlohmann::json line = {
        {"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}};
    std::printf("%s\n", line.dump().c_str());
  }
  std::fflush(stdout);
}

GenerateOptions GenerateFlags::options() const {
  GenerateOptions o;
  if (temperature) o.temperature = *temperature;
  if (top_p) o.top_p = *top_p;
  if (top_k) o.top_k = *top_k;
  if (min_p) o.min_p = *min_p;
  if (repeat_penalty) o.repeat_penalty = *repeat_penalty;
  if (max_tokens) o.max_tokens = *max_tokens;
  o.seed = seed;
  o.stop = stop;
  if (logprobs) {
    o.logprobs = true;
    o.top_logprobs = *logprobs;
  }
  return o;
}

void print_generation_stats(const GenerateResult& result, double seconds) {
  const double rate = seconds > 0 ? static_cast<double>(result.usage.completion_tokens) / seconds : 0.0;
  std::fprintf(stderr, "[%lld prompt tokens, %lld generated (%s), %.1f tokens/s, %.2f s]\n",
               static_cast<long long>(result.usage.prompt_tokens),
               static_cast<long long>(result.usage.completion_tokens),
               std::string(to_string(result.finish_reason)).c_str(), rate, seconds);
}

}  // namespace xervo::cli

namespace xervo::cli {

void print_logprobs(const GenerateResult& result) {
  for (const auto& t : result.logprobs) {
    // Quoted as JSON strings, so spaces, newlines and broken UTF-8 stay visible.
    auto quoted = [](const std::string& s) {
      return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    };
    std::string line = std::to_string(t.logprob).substr(0, 8) + "  " + quoted(t.token);
    if (!t.top.empty()) line += "  |";
    for (const auto& alt : t.top)
      line += " " + quoted(alt.token) + " " + std::to_string(alt.logprob).substr(0, 8);
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}

nlohmann::json logprobs_json(const std::vector<TokenLogprob>& tokens) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& t : tokens) {
    nlohmann::json top = nlohmann::json::array();
    for (const auto& alt : t.top) top.push_back({{"token", alt.token}, {"logprob", alt.logprob}});
    out.push_back({{"token", t.token}, {"logprob", t.logprob}, {"top_logprobs", std::move(top)}});
  }
  return out;
}

}  // namespace xervo::cli
