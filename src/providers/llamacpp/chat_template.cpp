#include "providers/llamacpp/chat_template.h"

#include <chat.h>

#include <exception>
#include <mutex>
#include <new>

#include "providers/llamacpp/sandbox.h"
#include "providers/llamacpp/tool_format.h"

namespace xervo::llamacpp {
namespace {

common_chat_templates_inputs inputs_for(const std::vector<ChatMessage>& messages) {
  common_chat_templates_inputs inputs;
  for (const auto& m : messages) {
    common_chat_msg msg;
    msg.role = m.role;
    msg.content = m.content;
    msg.reasoning_content = m.reasoning_content;
    msg.tool_call_id = m.tool_call_id;
    msg.tool_name = m.name;
    for (const auto& c : m.tool_calls)
      msg.tool_calls.push_back({c.name, c.arguments.empty() ? "{}" : c.arguments, c.id});
    inputs.messages.push_back(std::move(msg));
  }
  inputs.add_generation_prompt = true;  // the model answers next
  inputs.use_jinja = true;
  return inputs;
}

// What the test render feeds the template: the shapes real requests have (one turn; a system
// prompt and a short exchange; a long conversation, so that cost growing faster than the input
// shows up here rather than on a request).
std::vector<std::vector<ChatMessage>> probe_conversations() {
  std::string paragraph;
  for (int i = 0; i < 12; ++i)
    paragraph += "The quick brown fox jumps over the lazy dog; zwölf Boxkämpfer 🙂. ";
  std::vector<ChatMessage> long_chat = {{"system", "You are a helpful assistant. " + paragraph}};
  for (int turn = 0; turn < 16; ++turn)
    long_chat.push_back({turn % 2 == 0 ? "user" : "assistant", paragraph});
  long_chat.push_back({"user", "And then?"});
  return {{{"user", "Hello"}},
          {{"system", "You are a helpful assistant."},
           {"user", "Hi"},
           {"assistant", "Hello! How can I help?"},
           {"user", "Tell me a story."}},
          std::move(long_chat)};
}

// Runs in the sandbox: everything ChatTemplate does with the file's template, on the test
// conversations. A conversation the template refuses (raise_exception, roles out of order) is an
// answer too; what matters is that it ends.
// A request with tools and a finished call, rendered as the tool-aware templates see them.
common_chat_templates_inputs tool_probe(bool with_history) {
  ToolCall call{"call_1", "get_weather", R"({"city":"Paris"})"};
  ChatMessage assistant{"assistant", ""};
  assistant.tool_calls.push_back(call);
  ChatMessage result{"tool", R"({"temperature":21})"};
  result.tool_call_id = "call_1";
  result.name = "get_weather";
  std::vector<ChatMessage> chat = {{"user", "What is the weather in Paris?"}};
  if (with_history) chat.insert(chat.end(), {assistant, result});
  auto inputs = inputs_for(chat);
  inputs.tools.push_back(
      {"get_weather", "The weather in a city",
       R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})"});
  return inputs;
}

std::string probe(const llama_model* model, size_t max_output) {
  common_chat_templates_ptr templates = common_chat_templates_init(model, "");  // throws: does not parse
  if (!templates) throw std::runtime_error("no usable chat template");
  std::vector<common_chat_templates_inputs> probes;
  for (const auto& conversation : probe_conversations()) probes.push_back(inputs_for(conversation));
  probes.push_back(tool_probe(false));
  probes.push_back(tool_probe(true));
  for (const auto& inputs : probes) {
    const size_t messages = inputs.messages.size();
    common_chat_params params;
    try {
      params = common_chat_templates_apply(templates.get(), inputs);
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception&) {
      continue;
    }
    if (params.prompt.size() > max_output)
      return "renders " + std::to_string(params.prompt.size()) + " bytes for a test conversation of " +
             std::to_string(messages) + " messages (at most " + std::to_string(max_output) + ")";
  }
  return "";
}

Result<void> check_in_sandbox(const llama_model* model, const std::string& model_name,
                              const ChatTemplateLimits& limits) {
  SandboxLimits sandbox;
  sandbox.wall = limits.probe_timeout;
  sandbox.cpu = std::chrono::ceil<std::chrono::seconds>(limits.probe_timeout);
  sandbox.extra_address_space = limits.probe_memory;
  auto run = run_sandboxed([&] { return probe(model, limits.max_probe_output); }, sandbox);
  if (!run)
    return Error(
        ErrorCode::model_load_failed,
        "cannot load " + model_name + ": its chat template cannot be checked: " + run.error().message());
  const std::string head = "cannot load " + model_name + ": its chat template (tokenizer.chat_template) ";
  const std::string limits_text = std::to_string(limits.probe_timeout.count()) + " ms, " +
                                  std::to_string(sandbox.cpu.count()) + " s of CPU, " +
                                  std::to_string(limits.probe_memory >> 20) + " MiB";
  using Outcome = SandboxResult::Outcome;
  switch (run->outcome) {
    case Outcome::returned:
      if (run->text.empty()) return {};
      return Error(ErrorCode::model_load_failed, head + run->text);
    case Outcome::threw:
      return Error(ErrorCode::model_load_failed, head + "does not parse: " + run->text.substr(0, 1000));
    case Outcome::out_of_memory:
      return Error(ErrorCode::model_load_failed,
                   head + "ran out of memory rendering a test conversation (limits: " + limits_text + ")");
    case Outcome::timed_out:
    case Outcome::cpu_exhausted:
      return Error(ErrorCode::model_load_failed,
                   head + "did not finish rendering a test conversation (limits: " + limits_text + ")");
    case Outcome::crashed:
      return Error(ErrorCode::model_load_failed,
                   head + "crashed the process rendering a test conversation: " + run->text);
    case Outcome::reply_too_long:
      break;
  }
  return Error(ErrorCode::model_load_failed, head + "gave an unreadable answer when tested");
}

}  // namespace

struct ChatTemplate::Impl {
  common_chat_templates_ptr templates;
  std::string model_name;
};

ChatTemplate::ChatTemplate(std::unique_ptr<Impl> impl, bool from_model)
    : impl_(std::move(impl)), from_model_(from_model) {}
ChatTemplate::~ChatTemplate() = default;

Result<std::unique_ptr<ChatTemplate>> ChatTemplate::create(const llama_model* model,
                                                           const std::string& model_name,
                                                           const ChatTemplateLimits& limits) {
  bool from_model = false;
  for (const char* variant : {static_cast<const char*>(nullptr), "tool_use"}) {
    const char* source = llama_model_chat_template(model, variant);
    if (!source) continue;
    from_model = true;
    const size_t bytes = std::char_traits<char>::length(source);
    if (bytes > limits.max_source_bytes)
      return Error(ErrorCode::model_load_failed, "cannot load " + model_name + ": its chat template" +
                                                     (variant ? std::string(" ") + variant : std::string()) +
                                                     " is " + std::to_string(bytes) + " bytes; at most " +
                                                     std::to_string(limits.max_source_bytes) +
                                                     " are accepted");
  }
  // Only the file's template is checked: llama.cpp's built-in ChatML is not untrusted input.
  if (from_model)
    if (auto checked = check_in_sandbox(model, model_name, limits); !checked) return checked.error();
  auto impl = std::make_unique<Impl>();
  impl->model_name = model_name;
  try {
    impl->templates = common_chat_templates_init(model, "");
  } catch (const std::exception& e) {
    return Error(ErrorCode::model_load_failed,
                 "cannot load " + model_name +
                     ": its chat template (tokenizer.chat_template) does not parse: " + e.what());
  }
  if (!impl->templates)
    return Error(ErrorCode::model_load_failed, "cannot load " + model_name + ": no usable chat template");
  const auto caps = common_chat_templates_get_caps(impl->templates.get());
  const auto tools_cap = caps.find("supports_tools");
  const bool tools = tools_cap != caps.end() && tools_cap->second;
  auto chat = std::unique_ptr<ChatTemplate>(new ChatTemplate(std::move(impl), from_model));
  chat->supports_tools_ = tools;
  return chat;
}

Result<RenderedChat> ChatTemplate::render(const std::vector<ChatMessage>& messages) const {
  GenerateRequest request;
  request.messages = messages;
  return render(request);
}

namespace {

common_chat_tool_choice to_common(ToolChoice::Mode mode) {
  switch (mode) {
    case ToolChoice::Mode::none:
      return COMMON_CHAT_TOOL_CHOICE_NONE;
    case ToolChoice::Mode::required:
    case ToolChoice::Mode::function:
      return COMMON_CHAT_TOOL_CHOICE_REQUIRED;
    case ToolChoice::Mode::automatic:
      break;
  }
  return COMMON_CHAT_TOOL_CHOICE_AUTO;
}

void add_triggers(const std::vector<common_grammar_trigger>& triggers, GrammarSpec& spec) {
  for (const auto& t : triggers) {
    switch (t.type) {
      case COMMON_GRAMMAR_TRIGGER_TYPE_TOKEN:
        spec.trigger_tokens.push_back(t.token);
        break;
      case COMMON_GRAMMAR_TRIGGER_TYPE_WORD:
        spec.trigger_patterns.push_back(regex_escape(t.value));
        break;
      case COMMON_GRAMMAR_TRIGGER_TYPE_PATTERN:
        spec.trigger_patterns.push_back(t.value);
        break;
      case COMMON_GRAMMAR_TRIGGER_TYPE_PATTERN_FULL: {
        // Anchored at both ends, as llama.cpp's own sampler setup does.
        std::string p = t.value;
        if (p.empty() || p.front() != '^') p = "^" + p;
        if (p.back() != '$') p += "$";
        spec.trigger_patterns.push_back(std::move(p));
        break;
      }
    }
  }
}

bool wants_calls(const GenerateRequest& request) {
  return !request.tools.empty() && request.tool_choice.mode != ToolChoice::Mode::none;
}

bool forces_calls(const GenerateRequest& request) {
  const auto mode = request.tool_choice.mode;
  return !request.tools.empty() && (mode == ToolChoice::Mode::required || mode == ToolChoice::Mode::function);
}

// xervo's grammar for `required` and a named function: llama.cpp's own lets the answer start with
// free text for most formats (Hermes, Llama 3.1, Mistral), which a model that does not want to
// call never leaves. A named function is called once, as OpenAI answers a forced function.
Result<GrammarSpec> forced_call_grammar(const GenerateRequest& request) {
  const bool several = request.parallel_tool_calls && request.tool_choice.mode == ToolChoice::Mode::required;
  auto gbnf = tool_call_grammar(tools_for_choice(request), several);
  if (!gbnf) return gbnf.error();
  GrammarSpec spec;
  spec.gbnf = std::move(*gbnf);
  return spec;
}

}  // namespace

Result<RenderedChat> ChatTemplate::render(const GenerateRequest& request) const {
  for (const auto& m : request.messages)
    if (m.role != "system" && m.role != "user" && m.role != "assistant" && m.role != "tool")
      return Error(ErrorCode::invalid_input,
                   "message role '" + m.role + "' is not one of system, user, assistant, tool");
  if (auto checked = check_tools(request); !checked) return checked.error();
  bool tool_history = false;
  for (const auto& m : request.messages)
    tool_history = tool_history || m.role == "tool" || !m.tool_calls.empty();
  if ((!request.tools.empty() || tool_history) && !supports_tools_) return render_tool_text(request);
  return render_native(request);
}

Result<RenderedChat> ChatTemplate::render_native(const GenerateRequest& request) const {
  common_chat_templates_inputs inputs = inputs_for(request.messages);
  for (const auto& t : request.tools) inputs.tools.push_back({t.name, t.description, t.parameters});
  inputs.tool_choice = to_common(request.tool_choice.mode);
  inputs.parallel_tool_calls = request.parallel_tool_calls;
  inputs.reasoning_format =
      request.options.separate_reasoning ? COMMON_REASONING_FORMAT_DEEPSEEK : COMMON_REASONING_FORMAT_NONE;
  common_chat_params params;
  try {
    std::lock_guard lk(mu_);
    params = common_chat_templates_apply(impl_->templates.get(), inputs);
  } catch (const std::exception& e) {
    // Templates raise errors on conversations they do not accept (roles out of order, ...).
    return Error(ErrorCode::invalid_input,
                 "the chat template of " + impl_->model_name + " rejected the messages: " + e.what());
  }
  RenderedChat out;
  out.prompt = std::move(params.prompt);
  out.stops = params.additional_stops;
  if (forces_calls(request)) {
    auto grammar = forced_call_grammar(request);
    if (!grammar) return grammar.error();
    out.grammar = std::move(*grammar);
    out.output = ChatOutput::tool_format();
    return out;
  }
  if (wants_calls(request) && !params.grammar.empty()) {
    out.grammar.gbnf = params.grammar;
    out.grammar.lazy = params.grammar_lazy;
    add_triggers(params.grammar_triggers, out.grammar);
    if (!params.grammar_lazy) out.grammar.prefill = params.generation_prompt;
  }
  // A content-only format without tools reads as plain text: nothing to parse.
  if (params.format != COMMON_CHAT_FORMAT_CONTENT_ONLY || wants_calls(request))
    out.output = ChatOutput::native(params, request.options.separate_reasoning, wants_calls(request));
  return out;
}

Result<RenderedChat> ChatTemplate::render_tool_text(const GenerateRequest& request) const {
  const common_chat_templates_inputs inputs = inputs_for(messages_with_tool_text(request));
  RenderedChat out;
  try {
    std::lock_guard lk(mu_);
    auto params = common_chat_templates_apply(impl_->templates.get(), inputs);
    out.prompt = std::move(params.prompt);
    out.stops = std::move(params.additional_stops);
  } catch (const std::exception& e) {
    return Error(ErrorCode::invalid_input,
                 "the chat template of " + impl_->model_name + " rejected the messages: " + e.what());
  }
  if (!wants_calls(request)) return out;
  auto grammar = forced_call_grammar(request);
  if (!grammar) return grammar.error();
  out.grammar = std::move(*grammar);
  if (request.tool_choice.mode == ToolChoice::Mode::automatic) {
    // The model chooses: the grammar starts where it opens a call.
    out.grammar.lazy = true;
    out.grammar.trigger_patterns.push_back(regex_escape(std::string(kToolCallOpen)));
  }
  out.output = ChatOutput::tool_format();
  return out;
}

}  // namespace xervo::llamacpp
