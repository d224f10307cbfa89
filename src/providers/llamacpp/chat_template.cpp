#include "providers/llamacpp/chat_template.h"

#include <chat.h>

#include <exception>

namespace xervo::llamacpp {

struct ChatTemplate::Impl {
  common_chat_templates_ptr templates;
  std::string model_name;
};

ChatTemplate::ChatTemplate(std::unique_ptr<Impl> impl, bool from_model)
    : impl_(std::move(impl)), from_model_(from_model) {}
ChatTemplate::~ChatTemplate() = default;

Result<std::unique_ptr<ChatTemplate>> ChatTemplate::create(const llama_model* model,
                                                           const std::string& model_name) {
  auto impl = std::make_unique<Impl>();
  impl->model_name = model_name;
  const bool from_model = llama_model_chat_template(model, nullptr) != nullptr;
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
  common_chat_templates_inputs inputs;
  for (const auto& m : messages) {
    if (m.role != "system" && m.role != "user" && m.role != "assistant")
      return Error(ErrorCode::invalid_input,
                   "message role '" + m.role + "' is not one of system, user, assistant");
    common_chat_msg msg;
    msg.role = m.role;
    msg.content = m.content;
    inputs.messages.push_back(std::move(msg));
  }
  inputs.add_generation_prompt = true;  // the model answers next
  inputs.use_jinja = true;
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
