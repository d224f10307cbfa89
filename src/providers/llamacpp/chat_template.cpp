#include "providers/llamacpp/chat_template.h"

#include <chat.h>

#include <exception>
#include <new>

#include "providers/llamacpp/sandbox.h"

namespace xervo::llamacpp {
namespace {

common_chat_templates_inputs inputs_for(const std::vector<ChatMessage>& messages) {
  common_chat_templates_inputs inputs;
  for (const auto& m : messages) {
    common_chat_msg msg;
    msg.role = m.role;
    msg.content = m.content;
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
std::string probe(const llama_model* model, size_t max_output) {
  common_chat_templates_ptr templates = common_chat_templates_init(model, "");  // throws: does not parse
  if (!templates) throw std::runtime_error("no usable chat template");
  for (const auto& conversation : probe_conversations()) {
    common_chat_params params;
    try {
      params = common_chat_templates_apply(templates.get(), inputs_for(conversation));
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception&) {
      continue;
    }
    if (params.prompt.size() > max_output)
      return "renders " + std::to_string(params.prompt.size()) + " bytes for a test conversation of " +
             std::to_string(conversation.size()) + " messages (at most " + std::to_string(max_output) + ")";
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
  return std::unique_ptr<ChatTemplate>(new ChatTemplate(std::move(impl), from_model));
}

Result<RenderedChat> ChatTemplate::render(const std::vector<ChatMessage>& messages) const {
  for (const auto& m : messages)
    if (m.role != "system" && m.role != "user" && m.role != "assistant")
      return Error(ErrorCode::invalid_input,
                   "message role '" + m.role + "' is not one of system, user, assistant");
  const common_chat_templates_inputs inputs = inputs_for(messages);
  RenderedChat out;
  try {
    std::lock_guard lk(mu_);
    auto params = common_chat_templates_apply(impl_->templates.get(), inputs);
    out.prompt = std::move(params.prompt);
    out.stops = std::move(params.additional_stops);
  } catch (const std::exception& e) {
    // Templates raise errors on conversations they do not accept (roles out of order, ...).
    return Error(ErrorCode::invalid_input,
                 "the chat template of " + impl_->model_name + " rejected the messages: " + e.what());
  }
  return out;
}

}  // namespace xervo::llamacpp
