// The test-model writer: shapes per kind and size, the GGUF keys llama.cpp expects for each
// architecture, and tensor data streamed to disk one chunk of rows at a time (a medium model never
// sits in memory whole). Weights come from a counter-based generator seeded per tensor, so a
// tensor's values depend only on the seed and its name.
#include "testmodel.h"

#include <fstream>
#include <sstream>

#include "gguf_file.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numbers>
#include <random>

#include "ggml.h"
#include "gguf.h"

#ifndef XERVO_VOCAB_DIR
#define XERVO_VOCAB_DIR ""
#endif
#ifndef XERVO_TEMPLATE_DIR
#define XERVO_TEMPLATE_DIR ""
#endif

namespace xervo::testmodel {
namespace {

using gguf_file::GgufPtr;

constexpr float kWeightStddev = 0.05f;
// ChatML, for vocabularies that bring no template of their own (llama-spm has none).
constexpr const char* kChatMlTemplate =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% "
    "endif %}";

enum class Init { normal, ones, zeros };

struct TensorPlan {
  std::string name;
  int64_t ne0 = 0;
  int64_t ne1 = 0;  // 0 for vectors (cls.output.weight is a matrix of one column: ne1 = 1)
  Init init = Init::normal;
  bool is_matrix() const { return ne1 > 0; }
  int64_t rows() const { return ne1 > 0 ? ne1 : 1; }
};

TestModelShape base_shape(ModelKind kind, ModelSize size) {
  TestModelShape s;
  if (kind == ModelKind::generator) {
    s.architecture = "llama";
    switch (size) {
      case ModelSize::tiny:
        s.n_embd = 64, s.n_layer = 2, s.n_head = 4, s.n_head_kv = 2, s.n_ff = 192;
        break;
      case ModelSize::small:
        s.n_embd = 512, s.n_layer = 8, s.n_head = 8, s.n_head_kv = 4, s.n_ff = 1408;
        break;
      case ModelSize::medium:
        s.n_embd = 1024, s.n_layer = 18, s.n_head = 16, s.n_head_kv = 4, s.n_ff = 2816;
        break;
    }
    s.n_ctx = 2048;
  } else {
    s.architecture = "bert";
    switch (size) {
      case ModelSize::tiny:
        s.n_embd = 64, s.n_layer = 2, s.n_head = 4, s.n_ff = 128;
        break;
      case ModelSize::small:
        s.n_embd = 384, s.n_layer = 12, s.n_head = 12, s.n_ff = 1536;
        break;  // bge-small
      case ModelSize::medium:
        s.n_embd = 768, s.n_layer = 12, s.n_head = 12, s.n_ff = 3072;
        break;  // bge-base
    }
    s.n_head_kv = s.n_head;
    s.n_ctx = 512;
  }
  return s;
}

std::vector<TensorPlan> plan_tensors(ModelKind kind, const TestModelShape& s) {
  const int64_t E = s.n_embd, V = s.n_vocab, FF = s.n_ff;
  std::vector<TensorPlan> t;
  auto blk = [](int i, const char* name) { return "blk." + std::to_string(i) + "." + name; };
  if (kind == ModelKind::generator) {
    const int64_t kv = E / s.n_head * s.n_head_kv;
    t.push_back({"token_embd.weight", E, V});
    t.push_back({"output_norm.weight", E, 0, Init::ones});
    t.push_back({"output.weight", E, V});
    for (int i = 0; i < s.n_layer; ++i) {
      t.push_back({blk(i, "attn_norm.weight"), E, 0, Init::ones});
      t.push_back({blk(i, "attn_q.weight"), E, E});
      t.push_back({blk(i, "attn_k.weight"), E, kv});
      t.push_back({blk(i, "attn_v.weight"), E, kv});
      t.push_back({blk(i, "attn_output.weight"), E, E});
      t.push_back({blk(i, "ffn_norm.weight"), E, 0, Init::ones});
      t.push_back({blk(i, "ffn_gate.weight"), E, FF});
      t.push_back({blk(i, "ffn_up.weight"), E, FF});
      t.push_back({blk(i, "ffn_down.weight"), FF, E});
    }
    return t;
  }
  t.push_back({"token_embd.weight", E, V});
  t.push_back({"token_types.weight", E, 2});
  t.push_back({"position_embd.weight", E, s.n_ctx});
  t.push_back({"token_embd_norm.weight", E, 0, Init::ones});
  t.push_back({"token_embd_norm.bias", E, 0, Init::zeros});
  for (int i = 0; i < s.n_layer; ++i) {
    for (const char* proj : {"attn_q", "attn_k", "attn_v", "attn_output"}) {
      t.push_back({blk(i, proj) + ".weight", E, E});
      t.push_back({blk(i, proj) + ".bias", E, 0});
    }
    t.push_back({blk(i, "attn_output_norm.weight"), E, 0, Init::ones});
    t.push_back({blk(i, "attn_output_norm.bias"), E, 0, Init::zeros});
    t.push_back({blk(i, "ffn_up.weight"), E, FF});
    t.push_back({blk(i, "ffn_up.bias"), FF, 0});
    t.push_back({blk(i, "ffn_down.weight"), FF, E});
    t.push_back({blk(i, "ffn_down.bias"), E, 0});
    t.push_back({blk(i, "layer_output_norm.weight"), E, 0, Init::ones});
    t.push_back({blk(i, "layer_output_norm.bias"), E, 0, Init::zeros});
  }
  if (kind == ModelKind::reranker) {
    t.push_back({"cls.weight", E, E});
    t.push_back({"cls.bias", E, 0});
    t.push_back({"cls.output.weight", E, 1});
    t.push_back({"cls.output.bias", 1, 0});
  }
  return t;
}

// splitmix64: tiny, fast, and identical on every platform (std::normal_distribution is not).
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }  // (0, 1)
};

uint64_t fnv1a(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// Normal(0, stddev) by Box-Muller, two values per pair of uniforms.
void fill_normal(SplitMix64& rng, float* out, size_t n) {
  for (size_t i = 0; i < n; i += 2) {
    const double r = std::sqrt(-2.0 * std::log(rng.uniform())) * kWeightStddev;
    const double a = 2.0 * std::numbers::pi * rng.uniform();
    out[i] = static_cast<float>(r * std::cos(a));
    if (i + 1 < n) out[i + 1] = static_cast<float>(r * std::sin(a));
  }
}

ggml_type ggml_type_of(WeightType type) {
  switch (type) {
    case WeightType::f32:
      return GGML_TYPE_F32;
    case WeightType::f16:
      return GGML_TYPE_F16;
    case WeightType::q8_0:
      return GGML_TYPE_Q8_0;
  }
  return GGML_TYPE_F32;
}

int file_type_of(WeightType type) {  // llama_ftype values
  switch (type) {
    case WeightType::f32:
      return 0;
    case WeightType::f16:
      return 1;
    case WeightType::q8_0:
      return 7;
  }
  return 0;
}

std::filesystem::path vocab_path(const TestModelOptions& o) {
  std::string name = o.vocab;
  if (name.empty()) name = o.kind == ModelKind::generator ? "llama-spm" : "bert-bge";
  if (name.ends_with(".gguf") || name.find('/') != std::string::npos) return name;
  return o.vocab_dir / ("ggml-vocab-" + name + ".gguf");
}

Result<GgufPtr> open_vocab(const TestModelOptions& o) {
  const auto path = vocab_path(o);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return Error(ErrorCode::model_not_found,
                 "vocabulary file " + path.string() +
                     " not found (pass --vocab NAME for vocab/ggml-vocab-NAME.gguf, or a .gguf path)");
  gguf_init_params params{/*no_alloc=*/true, /*ctx=*/nullptr};
  GgufPtr vocab(gguf_init_from_file(path.c_str(), params));
  if (!vocab)
    return Error(ErrorCode::model_not_found, "vocabulary file " + path.string() + " is not a readable GGUF");
  if (gguf_find_key(vocab.get(), "tokenizer.ggml.tokens") < 0)
    return Error(ErrorCode::model_not_found,
                 "vocabulary file " + path.string() + " has no tokenizer.ggml.tokens");
  return vocab;
}

int vocab_size(const gguf_context* vocab) {
  return static_cast<int>(gguf_get_arr_n(vocab, gguf_find_key(vocab, "tokenizer.ggml.tokens")));
}

void set_hparams(gguf_context* ctx, const TestModelOptions& o, const TestModelShape& s) {
  const std::string a = s.architecture;
  auto key = [&](const char* k) { return a + "." + k; };
  gguf_set_val_str(ctx, "general.architecture", a.c_str());
  const std::string name =
      "xervo-test-" + std::string(to_string(o.kind)) + "-" + std::string(to_string(o.size));
  gguf_set_val_str(ctx, "general.name", name.c_str());
  gguf_set_val_u32(ctx, "general.file_type", static_cast<uint32_t>(file_type_of(o.type)));
  if (o.type == WeightType::q8_0) gguf_set_val_u32(ctx, "general.quantization_version", 2);
  gguf_set_val_u32(ctx, key("context_length").c_str(), static_cast<uint32_t>(s.n_ctx));
  gguf_set_val_u32(ctx, key("embedding_length").c_str(), static_cast<uint32_t>(s.n_embd));
  gguf_set_val_u32(ctx, key("block_count").c_str(), static_cast<uint32_t>(s.n_layer));
  gguf_set_val_u32(ctx, key("feed_forward_length").c_str(), static_cast<uint32_t>(s.n_ff));
  gguf_set_val_u32(ctx, key("attention.head_count").c_str(), static_cast<uint32_t>(s.n_head));
  if (o.kind == ModelKind::generator) {
    gguf_set_val_u32(ctx, key("attention.head_count_kv").c_str(), static_cast<uint32_t>(s.n_head_kv));
    gguf_set_val_f32(ctx, key("attention.layer_norm_rms_epsilon").c_str(), 1e-5f);
    gguf_set_val_u32(ctx, key("rope.dimension_count").c_str(), static_cast<uint32_t>(s.n_embd / s.n_head));
    gguf_set_val_f32(ctx, key("rope.freq_base").c_str(), 10000.0f);
  } else {
    gguf_set_val_f32(ctx, key("attention.layer_norm_epsilon").c_str(), 1e-12f);
    gguf_set_val_bool(ctx, key("attention.causal").c_str(), false);
    const uint32_t pooling = o.kind == ModelKind::reranker ? 4 : (o.pooling == Pooling::cls ? 2 : 1);
    gguf_set_val_u32(ctx, key("pooling_type").c_str(), pooling);
  }
}

// The text of options.chat_template (a name in template_dir or a .jinja path).
Result<std::string> read_chat_template(const TestModelOptions& o) {
  const bool is_path = o.chat_template.find('/') != std::string::npos || o.chat_template.ends_with(".jinja");
  const std::filesystem::path file =
      is_path ? std::filesystem::path(o.chat_template) : o.template_dir / (o.chat_template + ".jinja");
  std::ifstream in(file, std::ios::binary);
  if (!in) return Error(ErrorCode::invalid_input, "cannot read the chat template " + file.string());
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().empty())
    return Error(ErrorCode::invalid_input, "the chat template " + file.string() + " is empty");
  return text.str();
}

Result<void> validate(const TestModelOptions& o) {
  if (o.output.empty()) return Error(ErrorCode::invalid_input, "no output file given (-o FILE)");
  if (o.kind != ModelKind::embedder && o.pooling != Pooling::mean)
    return Error(ErrorCode::invalid_input,
                 "--pooling applies to --kind embedder only (rerankers always use rank pooling)");
  return {};
}

}  // namespace

std::string_view to_string(ModelKind kind) {
  switch (kind) {
    case ModelKind::generator:
      return "generator";
    case ModelKind::embedder:
      return "embedder";
    case ModelKind::reranker:
      return "reranker";
  }
  return "?";
}
std::string_view to_string(ModelSize size) {
  switch (size) {
    case ModelSize::tiny:
      return "tiny";
    case ModelSize::small:
      return "small";
    case ModelSize::medium:
      return "medium";
  }
  return "?";
}
std::string_view to_string(WeightType type) {
  switch (type) {
    case WeightType::f32:
      return "f32";
    case WeightType::f16:
      return "f16";
    case WeightType::q8_0:
      return "q8_0";
  }
  return "?";
}
std::string_view to_string(Pooling pooling) { return pooling == Pooling::cls ? "cls" : "mean"; }

std::filesystem::path default_vocab_dir() { return XERVO_VOCAB_DIR; }
std::filesystem::path default_template_dir() { return XERVO_TEMPLATE_DIR; }

Result<TestModelShape> describe_test_model(const TestModelOptions& options) {
  auto vocab = open_vocab(options);
  if (!vocab) return vocab.error();
  TestModelShape shape = base_shape(options.kind, options.size);
  shape.n_vocab = vocab_size(vocab->get());
  for (const auto& t : plan_tensors(options.kind, shape))
    shape.parameters += static_cast<uint64_t>(t.ne0 * t.rows());
  return shape;
}

Result<void> write_test_model(const TestModelOptions& options) {
  if (auto ok = validate(options); !ok) return ok;
  auto vocab = open_vocab(options);
  if (!vocab) return vocab.error();
  TestModelShape shape = base_shape(options.kind, options.size);
  shape.n_vocab = vocab_size(vocab->get());
  const auto tensors = plan_tensors(options.kind, shape);

  GgufPtr gguf(gguf_init_empty());
  set_hparams(gguf.get(), options, shape);
  for (int64_t i = 0; i < gguf_get_n_kv(vocab->get()); ++i)
    if (std::string_view(gguf_get_key(vocab->get(), i)).starts_with("tokenizer."))
      gguf_file::copy_key(gguf.get(), vocab->get(), i);
  if (options.kind == ModelKind::generator && !options.chat_template.empty()) {
    auto text = read_chat_template(options);
    if (!text) return text.error();
    gguf_set_val_str(gguf.get(), "tokenizer.chat_template", text->c_str());
  } else if (options.kind == ModelKind::generator &&
             gguf_find_key(gguf.get(), "tokenizer.chat_template") < 0) {
    gguf_set_val_str(gguf.get(), "tokenizer.chat_template", kChatMlTemplate);
  }

  const ggml_type weight_type = ggml_type_of(options.type);
  std::vector<gguf_file::TensorSource> sources;
  for (const auto& t : tensors) {
    // token_types is added to f32 activations directly (ggml_add has no f32 + f16 kernel): keep it f32.
    const ggml_type type = t.is_matrix() && t.name != "token_types.weight" ? weight_type : GGML_TYPE_F32;
    auto rng = std::make_shared<SplitMix64>(SplitMix64{options.seed ^ fnv1a(t.name)});
    sources.push_back(
        {t.name, t.ne0, t.ne1, type, [rng, init = t.init, ne0 = t.ne0](int64_t, int64_t rows, float* out) {
           const size_t n = static_cast<size_t>(rows * ne0);
           if (init == Init::normal)
             fill_normal(*rng, out, n);
           else
             std::fill(out, out + n, init == Init::ones ? 1.0f : 0.0f);
           return Result<void>{};
         }});
  }
  return gguf_file::write_gguf(gguf.get(), sources, options.output, "test model");
}

}  // namespace xervo::testmodel
