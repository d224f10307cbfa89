// Renders chat messages through a model's own chat template (llama.cpp's common chat support,
// Jinja), or ChatML when the file has none. The template comes from the model file, so it is
// untrusted: before it runs in this process it must be short enough, parse, and render test
// conversations in a sandboxed child process (sandbox.h) within time and memory limits; a template
// that loops without end or grows without bound fails the load instead of hanging the server.
// With tools (GenerateRequest::tools) the template renders them itself when it supports tools;
// otherwise they go into the system prompt in xervo's format (tool_format.h). render() also says how
// to constrain the answer (a grammar) and how to parse it (content, thinking, calls).
// Safe from any thread (rendering is serialised).
#pragma once

#include <llama.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "providers/llamacpp/chat_output.h"
#include "providers/llamacpp/tool_grammar.h"
#include "xervo/error.h"
#include "xervo/generator.h"

namespace xervo::llamacpp {

struct RenderedChat {
  std::string prompt;              // text to tokenize with special tokens parsed
  std::vector<std::string> stops;  // extra stop strings the template's format asks for
  GrammarSpec grammar;             // the answer's shape, when tools (or the format) constrain it
  // How to read the answer; null: the text is the content as it is.
  std::shared_ptr<const ChatOutput> output;
};

struct ChatTemplateLimits {
  size_t max_source_bytes = 256 * 1024;  // a template (and its tool_use variant) may be this long
  size_t max_probe_output = 1 << 20;     // rendered bytes for one test conversation
  // The test render of a file's template: wall clock (the CPU-time limit is the same, in whole
  // seconds) and the memory it may map beyond the process's.
  std::chrono::milliseconds probe_timeout{10000};
  uint64_t probe_memory = uint64_t{1} << 30;
};

class ChatTemplate {
 public:
  // model_load_failed when the file's template is too long, does not parse, or does not finish
  // rendering the test conversations within the limits.
  static Result<std::unique_ptr<ChatTemplate>> create(const llama_model* model, const std::string& model_name,
                                                      const ChatTemplateLimits& limits = {});
  ~ChatTemplate();

  // invalid_input for an unknown role or a conversation the template refuses to render.
  Result<RenderedChat> render(const std::vector<ChatMessage>& messages) const;
  // The messages with the request's tools, tool choice and reasoning option; invalid_input also
  // for tools that cannot be used (tool_format.h, check_tools).
  Result<RenderedChat> render(const GenerateRequest& request) const;
  bool from_model() const { return from_model_; }
  bool supports_tools() const { return supports_tools_; }

 private:
  struct Impl;
  ChatTemplate(std::unique_ptr<Impl> impl, bool from_model);
  Result<RenderedChat> render_native(const GenerateRequest& request) const;
  Result<RenderedChat> render_tool_text(const GenerateRequest& request) const;
  std::unique_ptr<Impl> impl_;
  bool from_model_;
  bool supports_tools_ = false;
  mutable std::mutex mu_;  // the Jinja runtime is not documented as re-entrant
};

}  // namespace xervo::llamacpp
