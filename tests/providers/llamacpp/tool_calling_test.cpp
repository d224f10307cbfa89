// Tool calling and reasoning on generated models with random weights: a forced or required tool
// choice always yields a call whose arguments fit the tool's schema (the grammar guarantees it,
// whatever the template: ChatML without tool support, Hermes, Llama 3.1, Mistral, Functionary), a
// streamed call reassembles to the whole one, and thinking templates return the thinking apart.
#include <nlohmann/json.hpp>

#include "helpers.h"
#include "providers/llamacpp/chat_template.h"
#include "providers/llamacpp/llama_backend.h"

namespace xervo::testing {
namespace {

// Bounded values only: a random-weight model never closes a free string on its own.
const char* kWeatherSchema =
    R"({"type":"object","properties":{"city":{"type":"string","enum":["Paris","Oslo","Lima"]},)"
    R"("days":{"type":"integer","minimum":1,"maximum":9},"metric":{"type":"boolean"}},)"
    R"("required":["city","days","metric"],"additionalProperties":false})";
const char* kTimeSchema =
    R"({"type":"object","properties":{"zone":{"type":"string","enum":["UTC","CET"]}},"required":["zone"]})";

std::vector<ToolDefinition> tools() {
  return {{"get_weather", "The weather in a city", kWeatherSchema},
          {"get_time", "The time in a zone", kTimeSchema}};
}

GenerateRequest tool_request(ToolChoice choice, uint64_t seed, float temperature = 1.0f) {
  GenerateRequest r;
  r.messages = {{"system", "You are a helpful assistant."}, {"user", "What is the weather in Paris?"}};
  r.tools = tools();
  r.tool_choice = std::move(choice);
  r.options.seed = seed;
  r.options.temperature = temperature;
  r.options.max_tokens = 200;
  return r;
}

// The arguments fit the tool's schema exactly.
void expect_valid_call(const ToolCall& call) {
  auto args = nlohmann::json::parse(call.arguments, nullptr, false);
  ASSERT_TRUE(args.is_object()) << call.arguments;
  EXPECT_EQ(call.id.rfind("call_", 0), 0u) << call.id;
  if (call.name == "get_weather") {
    ASSERT_EQ(args.size(), 3u) << call.arguments;
    EXPECT_TRUE(args["city"] == "Paris" || args["city"] == "Oslo" || args["city"] == "Lima")
        << call.arguments;
    ASSERT_TRUE(args["days"].is_number_integer()) << call.arguments;
    EXPECT_GE(args["days"].get<int>(), 1);
    EXPECT_LE(args["days"].get<int>(), 9);
    EXPECT_TRUE(args["metric"].is_boolean()) << call.arguments;
  } else if (call.name == "get_time") {
    ASSERT_EQ(args.size(), 1u) << call.arguments;
    EXPECT_TRUE(args["zone"] == "UTC" || args["zone"] == "CET") << call.arguments;
  } else {
    ADD_FAILURE() << "unknown function " << call.name;
  }
}

std::string model_for(const std::string& tmpl) {
  return tmpl.empty() ? test_model("generator", "tiny").string()
                      : test_model("generator", "tiny", "--chat-template " + tmpl).string();
}

class ToolTemplates : public ::testing::TestWithParam<std::string> {};

TEST_P(ToolTemplates, RequiredAndNamedChoicesAlwaysGiveValidCalls) {
  auto loaded = load_or_fail(ModelTask::generate, model_for(GetParam()));
  ASSERT_TRUE(loaded.generator);
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    auto r = loaded.generator->generate(tool_request({ToolChoice::Mode::required, ""}, seed));
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    // With parallel calls a random model may go on calling until max_tokens (then: length).
    EXPECT_TRUE(r->finish_reason == FinishReason::tool_calls || r->finish_reason == FinishReason::length)
        << "seed " << seed << ": " << r->text;
    ASSERT_FALSE(r->tool_calls.empty()) << "seed " << seed << ": " << r->text;
    // Cut by max_tokens, the last call is unfinished and stays text; otherwise there is none.
    if (r->finish_reason == FinishReason::tool_calls)
      EXPECT_TRUE(r->text.empty()) << "seed " << seed << ": " << r->text;
    else
      EXPECT_NE(r->text.find("<tool_call>"), std::string::npos) << "seed " << seed << ": " << r->text;
    for (const auto& c : r->tool_calls) expect_valid_call(c);

    auto named = loaded.generator->generate(tool_request({ToolChoice::Mode::function, "get_time"}, seed));
    ASSERT_TRUE(named.ok()) << named.error().to_string();
    ASSERT_FALSE(named->tool_calls.empty()) << named->text;
    for (const auto& c : named->tool_calls) {
      EXPECT_EQ(c.name, "get_time");
      expect_valid_call(c);
    }
  }
}

TEST_P(ToolTemplates, OneCallWhenParallelCallsAreOff) {
  auto loaded = load_or_fail(ModelTask::generate, model_for(GetParam()));
  ASSERT_TRUE(loaded.generator);
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    auto req = tool_request({ToolChoice::Mode::required, ""}, seed);
    req.parallel_tool_calls = false;
    auto r = loaded.generator->generate(req);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    ASSERT_EQ(r->tool_calls.size(), 1u) << r->text;
    EXPECT_EQ(r->finish_reason, FinishReason::tool_calls);
    expect_valid_call(r->tool_calls[0]);
  }
}

TEST_P(ToolTemplates, StreamedCallReassemblesToTheWholeOne) {
  auto loaded = load_or_fail(ModelTask::generate, model_for(GetParam()));
  ASSERT_TRUE(loaded.generator);
  const auto req = tool_request({ToolChoice::Mode::required, ""}, 7, 0.0f);
  auto whole = loaded.generator->generate(req);
  ASSERT_TRUE(whole.ok()) << whole.error().to_string();
  std::vector<ToolCall> calls;
  std::string content;
  auto streamed = loaded.generator->generate_deltas(req, [&](const GenerateDelta& d) {
    content += d.content;
    for (const auto& t : d.tool_calls) {
      if (t.index == static_cast<int>(calls.size())) {
        EXPECT_FALSE(t.id.empty());  // a call's first delta names it
        EXPECT_FALSE(t.name.empty());
        calls.push_back({t.id, t.name, ""});
      }
      EXPECT_LT(t.index, static_cast<int>(calls.size()));
      calls.at(static_cast<size_t>(t.index)).arguments += t.arguments;
    }
    return true;
  });
  ASSERT_TRUE(streamed.ok()) << streamed.error().to_string();
  EXPECT_EQ(content, whole->text);
  ASSERT_EQ(calls.size(), whole->tool_calls.size());
  ASSERT_FALSE(calls.empty());
  for (size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].name, whole->tool_calls[i].name);
    EXPECT_EQ(calls[i].arguments, whole->tool_calls[i].arguments);
    EXPECT_EQ(calls[i].id, streamed->tool_calls[i].id);  // the result repeats the streamed ids
  }
}

TEST_P(ToolTemplates, ToolChoiceNoneGivesNoCalls) {
  auto loaded = load_or_fail(ModelTask::generate, model_for(GetParam()));
  ASSERT_TRUE(loaded.generator);
  auto req = tool_request({ToolChoice::Mode::none, ""}, 3);
  req.options.max_tokens = 24;
  auto r = loaded.generator->generate(req);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->tool_calls.empty());
  EXPECT_NE(r->finish_reason, FinishReason::tool_calls);
}

// "" is the generated ChatML, which has no tool support: tools go into the system prompt.
INSTANTIATE_TEST_SUITE_P(
    Templates, ToolTemplates,
    ::testing::Values("", "NousResearch-Hermes-3-Llama-3.1-8B-tool_use", "meta-llama-Llama-3.1-8B-Instruct",
                      "mistralai-Mistral-Nemo-Instruct-2407", "meetkai-functionary-medium-v3.2"),
    [](const auto& info) {
      std::string name = info.param.empty() ? "ChatML" : info.param.substr(0, info.param.find('-', 5));
      for (auto& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return name + std::to_string(info.index);
    });

// The template of a generated model, read without loading weights.
std::unique_ptr<llamacpp::ChatTemplate> template_of(const std::string& file) {
  llamacpp::ensure_backend();
  auto params = llama_model_default_params();
  params.vocab_only = true;
  static std::vector<llamacpp::ModelPtr> keep;  // the template refers to the model's vocabulary
  keep.emplace_back(llama_model_load_from_file(file.c_str(), params));
  if (!keep.back()) return nullptr;
  auto t = llamacpp::ChatTemplate::create(keep.back().get(), file);
  return t.ok() ? std::move(*t) : nullptr;
}

TEST(ToolPrompt, TemplateWithoutToolSupportGetsToolsInTheSystemPrompt) {
  auto chat = template_of(model_for(""));
  ASSERT_TRUE(chat);
  EXPECT_FALSE(chat->supports_tools());
  auto rendered = chat->render(tool_request({ToolChoice::Mode::automatic, ""}, 1));
  ASSERT_TRUE(rendered.ok()) << rendered.error().to_string();
  EXPECT_NE(rendered->prompt.find("\"get_weather\""), std::string::npos) << rendered->prompt;
  EXPECT_NE(rendered->prompt.find("<tool_call>"), std::string::npos);
  EXPECT_TRUE(rendered->grammar.lazy);  // auto: the model may answer in text
  // A tool turn and its result render too.
  auto req = tool_request({ToolChoice::Mode::automatic, ""}, 1);
  ChatMessage call{"assistant", ""};
  call.tool_calls.push_back({"call_1", "get_weather", R"({"city":"Paris","days":1,"metric":true})"});
  ChatMessage result{"tool", "sunny"};
  result.tool_call_id = "call_1";
  req.messages.push_back(call);
  req.messages.push_back(result);
  rendered = chat->render(req);
  ASSERT_TRUE(rendered.ok()) << rendered.error().to_string();
  EXPECT_NE(rendered->prompt.find("<tool_response>\nsunny\n</tool_response>"), std::string::npos)
      << rendered->prompt;
}

TEST(ToolPrompt, NativeTemplateRendersToolsAndHistory) {
  auto chat = template_of(model_for("NousResearch-Hermes-3-Llama-3.1-8B-tool_use"));
  ASSERT_TRUE(chat);
  EXPECT_TRUE(chat->supports_tools());
  auto req = tool_request({ToolChoice::Mode::automatic, ""}, 1);
  ChatMessage call{"assistant", ""};
  call.tool_calls.push_back({"call_1", "get_weather", R"({"city":"Paris"})"});
  ChatMessage result{"tool", "sunny"};
  result.tool_call_id = "call_1";
  result.name = "get_weather";
  req.messages.push_back(call);
  req.messages.push_back(result);
  auto rendered = chat->render(req);
  ASSERT_TRUE(rendered.ok()) << rendered.error().to_string();
  EXPECT_NE(rendered->prompt.find("get_weather"), std::string::npos);
  EXPECT_NE(rendered->prompt.find("sunny"), std::string::npos);
  EXPECT_FALSE(rendered->grammar.empty());
  ASSERT_TRUE(rendered->output);
  // The native parser reads the format's calls.
  auto parsed = rendered->output->parse(
      "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": \"UTC\"}}\n</tool_call>", false);
  ASSERT_TRUE(parsed.ok);
  ASSERT_EQ(parsed.output.calls.size(), 1u);
  EXPECT_EQ(parsed.output.calls[0].name, "get_time");
  EXPECT_EQ(nlohmann::json::parse(parsed.output.calls[0].arguments), nlohmann::json({{"zone", "UTC"}}));
}

const char* kThinking = "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B";  // its prompt opens <think>

TEST(Reasoning, ThinkingIsReturnedApartOrInline) {
  auto chat = template_of(model_for(kThinking));
  ASSERT_TRUE(chat);
  GenerateRequest req;
  req.messages = {{"user", "Why is the sky blue?"}};
  auto rendered = chat->render(req);
  ASSERT_TRUE(rendered.ok()) << rendered.error().to_string();
  ASSERT_TRUE(rendered->output);
  auto parsed = rendered->output->parse("Rayleigh scattering.</think>Because of scattering.", false);
  EXPECT_NE(parsed.output.reasoning.find("Rayleigh scattering."), std::string::npos)
      << parsed.output.reasoning;
  EXPECT_EQ(parsed.output.reasoning.find("</think>"), std::string::npos);
  EXPECT_EQ(parsed.output.content, "Because of scattering.");
  req.options.separate_reasoning = false;
  rendered = chat->render(req);
  ASSERT_TRUE(rendered.ok());
  ASSERT_TRUE(rendered->output);
  parsed = rendered->output->parse("Rayleigh scattering.</think>Because of scattering.", false);
  EXPECT_TRUE(parsed.output.reasoning.empty());
  EXPECT_NE(parsed.output.content.find("Because of scattering."), std::string::npos);
  EXPECT_NE(parsed.output.content.find("Rayleigh scattering."), std::string::npos);
}

TEST(Reasoning, GeneratedThinkingStreamsAsReasoning) {
  auto loaded = load_or_fail(ModelTask::generate, model_for(kThinking));
  ASSERT_TRUE(loaded.generator);
  GenerateRequest req;
  req.messages = {{"user", "Why is the sky blue?"}};
  req.options.temperature = 0;
  req.options.max_tokens = 16;
  auto whole = loaded.generator->generate(req);
  ASSERT_TRUE(whole.ok()) << whole.error().to_string();
  // A random-weight model never closes its thinking: all it writes is reasoning.
  EXPECT_FALSE(whole->reasoning.empty());
  EXPECT_TRUE(whole->text.empty()) << whole->text;
  std::string reasoning, content;
  auto streamed = loaded.generator->generate_deltas(req, [&](const GenerateDelta& d) {
    reasoning += d.reasoning;
    content += d.content;
    return true;
  });
  ASSERT_TRUE(streamed.ok());
  EXPECT_EQ(reasoning, whole->reasoning);
  EXPECT_EQ(content, whole->text);
  req.options.separate_reasoning = false;
  auto inline_answer = loaded.generator->generate(req);
  ASSERT_TRUE(inline_answer.ok());
  EXPECT_TRUE(inline_answer->reasoning.empty());
  EXPECT_NE(inline_answer->text.find(whole->reasoning), std::string::npos) << inline_answer->text;
}

}  // namespace
}  // namespace xervo::testing
