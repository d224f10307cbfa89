#include <algorithm>

#include "providers/llamacpp/sampling.h"
#include "providers/llamacpp/task_models.h"

namespace xervo::llamacpp {

LlamaGenerator::LlamaGenerator(ModelSetup setup, std::unique_ptr<ChatTemplate> chat,
                               std::unique_ptr<LlamaEngine> engine, SchedulerConfig config,
                               std::shared_ptr<ComputeLane> lane)
    : setup_(std::move(setup)), chat_(std::move(chat)), engine_(engine.get()) {
  scheduler_ = std::make_unique<GenerationScheduler>(std::move(engine), std::move(config), std::move(lane));
}

// The prompt's tokens: the messages rendered through the chat template (its extra stop strings
// join `stops`), or the raw prompt. Text that could never fit the context is refused before the
// template or the tokenizer sees it, so neither works on more than the context can hold.
Result<Tokens> LlamaGenerator::prompt_tokens(const GenerateRequest& request, std::vector<std::string>& stops,
                                             RenderedChat& rendered) const {
  const llama_vocab* vocab = llama_model_get_vocab(setup_.model.get());
  const size_t max_bytes = setup_.max_text_bytes();
  auto too_long = [&](size_t bytes, const char* what) {
    return Error(ErrorCode::context_overflow,
                 std::string(what) + " is " + std::to_string(bytes) + " bytes: more than the " +
                     std::to_string(setup_.max_tokens) + " tokens of context of " + setup_.name +
                     " can hold (context_size); shorten it");
  };
  if (request.messages.empty()) {
    if (!request.tools.empty())
      return Error(ErrorCode::invalid_input, "tools need a chat (messages), not a raw prompt");
    // Raw completion, tokenized as llama.cpp's own tools do.
    if (request.prompt.size() > max_bytes) return too_long(request.prompt.size(), "the prompt");
    return tokenize(vocab, request.prompt, /*add_special=*/true, /*parse_special=*/true);
  }
  size_t bytes = 0;
  for (const auto& m : request.messages) {
    bytes += m.content.size() + m.role.size() + m.reasoning_content.size();
    for (const auto& c : m.tool_calls) bytes += c.name.size() + c.arguments.size();
  }
  for (const auto& t : request.tools) bytes += t.name.size() + t.description.size() + t.parameters.size();
  if (bytes > max_bytes) return too_long(bytes, "the conversation");
  auto chat = chat_->render(request);
  if (!chat) return chat.error();
  if (chat->prompt.size() > max_bytes) return too_long(chat->prompt.size(), "the rendered conversation");
  for (auto& s : chat->stops) stops.push_back(std::move(s));
  auto tokens = tokenize(vocab, chat->prompt, /*add_special=*/true, /*parse_special=*/true);
  rendered = std::move(*chat);
  return tokens;
}

Result<int64_t> LlamaGenerator::count_prompt_tokens(const GenerateRequest& request) {
  std::vector<std::string> stops;
  RenderedChat chat;
  auto tokens = prompt_tokens(request, stops, chat);
  if (!tokens) return tokens.error();
  return static_cast<int64_t>(tokens->size());
}

Result<GenerateResult> LlamaGenerator::generate(const GenerateRequest& request,
                                                const TokenCallback& on_piece) {
  if (!on_piece) return generate_deltas(request, DeltaCallback{});
  return generate_deltas(request, [&](const GenerateDelta& delta) {
    return delta.choice != 0 || delta.content.empty() || on_piece(delta.content);
  });
}

Result<GenerateResult> LlamaGenerator::generate_deltas(const GenerateRequest& request,
                                                       const DeltaCallback& on_delta) {
  const llama_vocab* vocab = llama_model_get_vocab(setup_.model.get());
  GenerationJob job;
  job.stops = request.options.stop;
  RenderedChat chat;
  auto tokens = prompt_tokens(request, job.stops, chat);
  if (!tokens) return tokens.error();
  if (tokens->empty()) return Error(ErrorCode::invalid_input, "the prompt is empty");
  const auto limit = static_cast<size_t>(setup_.max_tokens);
  if (tokens->size() >= limit)
    return Error(ErrorCode::context_overflow, "the prompt is " + std::to_string(tokens->size()) +
                                                  " tokens but the context of " + setup_.name + " holds " +
                                                  std::to_string(limit) +
                                                  " per request, answer included (context_size); shorten it");
  // One sampler per sequence (n), each with its own seed; the scheduler evaluates the prompt once.
  // The chat format's grammar (tool calls) constrains every sequence.
  const int n = std::max(1, request.options.n);
  for (int i = 0; i < n; ++i) {
    auto sampler = Sampler::create(vocab, choice_options(request.options, i), &chat.grammar);
    if (!sampler) return sampler.error();
    auto bound = engine_->bind(std::move(*sampler));
    if (i == 0)
      job.sampler = std::move(bound);
    else
      job.siblings.push_back(std::move(bound));
  }
  job.prompt = std::move(*tokens);
  job.max_tokens = request.options.max_tokens;
  job.priority = current_priority();  // the calling thread's (xervo/priority.h)
  if (!chat.output) return scheduler_->run(std::move(job), on_delta, request.cancel);  // all content
  // Thinking and tool calls: each sequence's text is parsed as it grows (when streamed) and once
  // at the end.
  std::vector<ChatDeltas> deltas;
  deltas.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) deltas.emplace_back(chat.output, on_delta, i);
  DeltaCallback on_raw;
  if (on_delta)
    on_raw = [&](const GenerateDelta& d) {
      if (d.choice < 0 || d.choice >= n) return true;
      return deltas[static_cast<size_t>(d.choice)].push(d.content, d.logprobs);
    };
  auto result = scheduler_->run(std::move(job), on_raw, request.cancel);
  if (!result) return result;
  if (result->finish_reason == FinishReason::cancelled) return result;
  bool go_on = true;
  for (size_t i = 0; i < result->choice_count(); ++i) {
    GenerateChoice& choice = result->choice(i);
    bool more = true;
    const ParsedOutput parsed = on_delta && i < deltas.size() ? deltas[i].finish(more)
                                                              : chat.output->parse(choice.text, false).output;
    apply_parsed(parsed, choice);
    go_on = go_on && more;
  }
  if (!go_on) result->finish_reason = FinishReason::cancelled;
  return result;
}

}  // namespace xervo::llamacpp
