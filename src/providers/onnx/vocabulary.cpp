#include "providers/onnx/vocabulary.h"

#include <llama.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <filesystem>
#include <random>

#include "hf_convert.h"
#include "providers/llamacpp/llama_backend.h"

namespace xervo::onnx {
namespace {

namespace fs = std::filesystem;

// A name no other process or load uses; removed right after llama.cpp read it (a vocab_only load
// keeps nothing mapped).
fs::path temporary_gguf() {
  static std::atomic<uint64_t> counter{0};
  std::error_code ec;
  fs::path dir = fs::temp_directory_path(ec);
  if (ec) dir = "/tmp";
  return dir / ("xervo-onnx-vocab-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
                std::to_string(std::random_device{}()) + ".gguf");
}

}  // namespace

Result<std::shared_ptr<const Vocabulary>> Vocabulary::load(const hfconvert::HfCheckpoint& checkpoint,
                                                           const std::string& name) {
  llamacpp::ensure_backend();
  const fs::path file = temporary_gguf();
  if (auto ok = hfconvert::write_vocab_gguf(checkpoint, file); !ok) return ok.error();
  llama_model_params params = llama_model_default_params();
  params.vocab_only = true;
  llama_model* model = nullptr;
  std::string why;
  {
    llamacpp::LogCapture capture;
    model = llama_model_load_from_file(file.c_str(), params);
    if (!model) why = capture.reason("llama.cpp rejected the WordPiece vocabulary");
  }
  std::error_code ec;
  fs::remove(file, ec);
  if (!model)
    return Error(ErrorCode::model_load_failed, "cannot load the tokenizer of " + name + " (" +
                                                   checkpoint.vocab.source.string() + "): " + why);
  std::shared_ptr<Vocabulary> v(new Vocabulary());
  v->model_ = model;
  v->vocab_ = llama_model_get_vocab(model);
  v->cls_ = checkpoint.vocab.cls;
  v->sep_ = checkpoint.vocab.sep;
  v->pad_ = checkpoint.vocab.pad >= 0 ? checkpoint.vocab.pad : 0;
  v->size_ = llama_vocab_n_tokens(v->vocab_);
  return std::shared_ptr<const Vocabulary>(std::move(v));
}

Vocabulary::~Vocabulary() {
  if (model_) llama_model_free(model_);
}

Result<TokenIds> Vocabulary::pieces(std::string_view text) const {
  if (text.size() > static_cast<size_t>(INT32_MAX / 2))
    return Error(ErrorCode::invalid_input, "text of " + std::to_string(text.size()) + " bytes is too long");
  // WordPiece never yields more tokens than bytes (plus the specials it is not asked for here).
  TokenIds out(text.size() + 2);
  int n = llama_tokenize(vocab_, text.data(), static_cast<int32_t>(text.size()), out.data(),
                         static_cast<int32_t>(out.size()), /*add_special=*/false, /*parse_special=*/false);
  if (n < 0) {  // more room needed: -n tokens
    out.resize(static_cast<size_t>(-n));
    n = llama_tokenize(vocab_, text.data(), static_cast<int32_t>(text.size()), out.data(),
                       static_cast<int32_t>(out.size()), false, false);
  }
  if (n < 0) return Error(ErrorCode::invalid_input, "the text cannot be tokenized");
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace xervo::onnx
