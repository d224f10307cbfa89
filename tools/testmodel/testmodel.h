// Writes small, real GGUF models (llama generators, BERT embedders and rerankers) with random but
// deterministic weights and a real tokenizer copied from llama.cpp's vocabulary files, so that tests
// and demos run the whole engine without downloading anything. Every function is thread-safe: it
// touches no shared state besides the output file, which appears atomically (temp name + rename).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "xervo/error.h"

namespace xervo::testmodel {

enum class ModelKind { generator, embedder, reranker };
enum class ModelSize { tiny, small, medium };
enum class WeightType { f32, f16, q8_0 };
enum class Pooling { mean, cls };

std::string_view to_string(ModelKind kind);
std::string_view to_string(ModelSize size);
std::string_view to_string(WeightType type);
std::string_view to_string(Pooling pooling);

// The vocabulary folder baked in at build time (llama.cpp's vocab/ggml-vocab-*.gguf files).
std::filesystem::path default_vocab_dir();
// The chat-template folder baked in at build time (llama.cpp's models/templates/*.jinja).
std::filesystem::path default_template_dir();

struct TestModelOptions {
  ModelKind kind = ModelKind::generator;
  ModelSize size = ModelSize::tiny;
  // A vocabulary name (file ggml-vocab-NAME.gguf in vocab_dir) or a path to a .gguf file.
  // Empty: llama-spm for generators, bert-bge for embedders and rerankers.
  std::string vocab;
  WeightType type = WeightType::f16;  // type of the 2-D weight matrices; norms and biases stay f32
  uint64_t seed = 42;                 // same seed (and options) -> byte-identical file
  Pooling pooling = Pooling::mean;    // embedders only; rerankers always use rank pooling
  std::filesystem::path output;       // the .gguf to write (replaced atomically)
  std::filesystem::path vocab_dir = default_vocab_dir();
  // The generator's tokenizer.chat_template, replacing the vocabulary's: a template name from
  // template_dir (NAME.jinja, e.g. "Qwen-Qwen3-0.6B" or "NousResearch-Hermes-3-Llama-3.1-8B-tool_use")
  // or a path to a .jinja file. Empty: the vocabulary's own template, or ChatML when it has none.
  std::string chat_template;
  std::filesystem::path template_dir = default_template_dir();
};

// The shape a set of options produces, known without writing anything.
struct TestModelShape {
  std::string architecture;  // "llama" or "bert"
  int n_embd = 0;
  int n_layer = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int n_ff = 0;
  int n_ctx = 0;
  int n_vocab = 0;  // 0 until the vocabulary is read (describe_test_model fills it)
  uint64_t parameters = 0;
};

// Shape of the options with the vocabulary's size filled in; invalid_input / model_not_found when
// the vocabulary cannot be read.
Result<TestModelShape> describe_test_model(const TestModelOptions& options);

// Writes the model. invalid_input for a bad combination of options, model_not_found when the
// vocabulary file is missing or unreadable, io_error when the output cannot be written.
Result<void> write_test_model(const TestModelOptions& options);

// Parses the `xervo-testmodel` flags (without the program name) into options; `-o` is required
// unless `require_output` is false. invalid_input with one line when an argument is wrong.
Result<TestModelOptions> parse_test_model_args(const std::vector<std::string>& args,
                                               bool require_output = true);

}  // namespace xervo::testmodel
