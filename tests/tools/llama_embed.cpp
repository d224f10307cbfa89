// One model load per call: tests embed a handful of texts from tiny files, so simplicity wins.
#include "llama_embed.h"

#include <memory>
#include <mutex>

#include "llama.h"

namespace xervo::testing {

LlamaEmbedding llama_embed(const std::filesystem::path& path, const std::string& text) {
  static std::once_flag init;
  std::call_once(init, [] {
    llama_backend_init();
    llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
  });
  LlamaEmbedding out;
  auto mparams = llama_model_default_params();
  std::unique_ptr<llama_model, decltype(&llama_model_free)> model(
      llama_model_load_from_file(path.c_str(), mparams), &llama_model_free);
  if (!model) return {{}, {}, "llama.cpp cannot load " + path.string()};
  const llama_vocab* vocab = llama_model_get_vocab(model.get());
  std::vector<llama_token> tokens(text.size() + 8);
  const int n =
      llama_tokenize(vocab, text.c_str(), static_cast<int32_t>(text.size()), tokens.data(),
                     static_cast<int32_t>(tokens.size()), /*add_special=*/true, /*parse_special=*/false);
  if (n < 0) return {{}, {}, "tokenize failed"};
  tokens.resize(static_cast<size_t>(n));
  auto cparams = llama_context_default_params();
  cparams.embeddings = true;
  cparams.n_ctx = 512;
  cparams.n_batch = cparams.n_ubatch = 512;
  cparams.n_threads = cparams.n_threads_batch = 2;
  std::unique_ptr<llama_context, decltype(&llama_free)> ctx(llama_init_from_model(model.get(), cparams),
                                                            &llama_free);
  if (!ctx) return {{}, {}, "cannot create a context"};
  llama_batch batch = llama_batch_init(n, 0, 1);
  for (int i = 0; i < n; ++i) {
    batch.token[i] = tokens[static_cast<size_t>(i)];
    batch.pos[i] = i;
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = true;
  }
  batch.n_tokens = n;
  const int rc = llama_decode(ctx.get(), batch);
  llama_batch_free(batch);
  if (rc != 0) return {{}, {}, "llama_decode failed: " + std::to_string(rc)};
  const float* e = llama_get_embeddings_seq(ctx.get(), 0);
  if (!e) return {{}, {}, "no pooled embedding"};
  const bool rank = llama_pooling_type(ctx.get()) == LLAMA_POOLING_TYPE_RANK;
  const int dim =
      rank ? static_cast<int>(llama_model_n_cls_out(model.get())) : llama_model_n_embd(model.get());
  out.tokens.assign(tokens.begin(), tokens.end());
  out.values.assign(e, e + dim);
  return out;
}

}  // namespace xervo::testing
