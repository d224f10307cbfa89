#include "providers/llamacpp/sampling.h"
#include "providers/llamacpp/task_models.h"

namespace xervo::llamacpp {

LlamaGenerator::LlamaGenerator(ModelSetup setup, std::unique_ptr<ChatTemplate> chat,
                               std::unique_ptr<GenerationScheduler> scheduler)
    : setup_(std::move(setup)), chat_(std::move(chat)), scheduler_(std::move(scheduler)) {}

Result<GenerateResult> LlamaGenerator::generate(const GenerateRequest& request,
                                                const TokenCallback& on_piece) {
  const llama_vocab* vocab = llama_model_get_vocab(setup_.model.get());
  GenerationJob job;
  job.stops = request.options.stop;
  Result<Tokens> tokens = Tokens{};
  if (!request.messages.empty()) {
    auto chat = chat_->render(request.messages);
    if (!chat) return chat.error();
    for (auto& s : chat->stops) job.stops.push_back(std::move(s));
    tokens = tokenize(vocab, chat->prompt, /*add_special=*/true, /*parse_special=*/true);
  } else {
    // Raw completion, tokenized as llama.cpp's own tools do.
    tokens = tokenize(vocab, request.prompt, /*add_special=*/true, /*parse_special=*/true);
  }
  if (!tokens) return tokens.error();
  if (tokens->empty()) return Error(ErrorCode::invalid_input, "the prompt is empty");
  const auto limit = static_cast<size_t>(setup_.max_tokens);
  if (tokens->size() >= limit)
    return Error(ErrorCode::context_overflow, "the prompt is " + std::to_string(tokens->size()) +
                                                  " tokens but the context of " + setup_.name + " holds " +
                                                  std::to_string(limit) +
                                                  " per request, answer included (context_size); shorten it");
  auto sampler = Sampler::create(vocab, request.options);
  if (!sampler) return sampler.error();
  job.prompt = std::move(*tokens);
  job.sampler = std::move(*sampler);
  job.max_tokens = request.options.max_tokens;
  return scheduler_->run(std::move(job), on_piece, request.cancel);
}

}  // namespace xervo::llamacpp
