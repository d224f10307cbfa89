// Renders chat messages through a model's own chat template (llama.cpp's common chat support,
// Jinja), or ChatML when the file has none. Safe from any thread (rendering is serialised).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <llama.h>

#include "xervo/error.h"
#include "xervo/generator.h"

namespace xervo::llamacpp {

struct RenderedChat {
  std::string prompt;              // text to tokenize with special tokens parsed
  std::vector<std::string> stops;  // extra stop strings the template's format asks for
};

class ChatTemplate {
 public:
  // model_load_failed when the file's template cannot be parsed.
  static Result<std::unique_ptr<ChatTemplate>> create(const llama_model* model,
                                                      const std::string& model_name);
  ~ChatTemplate();

  // invalid_input for an unknown role or a conversation the template refuses to render.
  Result<RenderedChat> render(const std::vector<ChatMessage>& messages) const;
  bool from_model() const { return from_model_; }

 private:
  struct Impl;
  ChatTemplate(std::unique_ptr<Impl> impl, bool from_model);
  std::unique_ptr<Impl> impl_;
  bool from_model_;
  mutable std::mutex mu_;  // the Jinja runtime is not documented as re-entrant
};

}  // namespace xervo::llamacpp
