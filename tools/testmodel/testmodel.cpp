// The test-model writer: shapes per kind and size, the GGUF keys llama.cpp expects for each
// architecture, and tensor data streamed to disk one chunk of rows at a time (a medium model never
// sits in memory whole). Weights come from a counter-based generator seeded per tensor, so a
// tensor's values depend only on the seed and its name.
#include "testmodel.h"

#include <fcntl.h>
#include <unistd.h>

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

namespace xervo::testmodel {
namespace {

struct GgufFree {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};
using GgufPtr = std::unique_ptr<gguf_context, GgufFree>;
struct GgmlFree {
  void operator()(ggml_context* ctx) const { ggml_free(ctx); }
};
using GgmlPtr = std::unique_ptr<ggml_context, GgmlFree>;
struct FileClose {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileClose>;

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

// Copies one key of any type; string arrays need the per-element API.
void copy_key(gguf_context* dst, const gguf_context* src, int64_t id) {
  const char* key = gguf_get_key(src, id);
  switch (gguf_get_kv_type(src, id)) {
    case GGUF_TYPE_UINT8:
      gguf_set_val_u8(dst, key, gguf_get_val_u8(src, id));
      break;
    case GGUF_TYPE_INT8:
      gguf_set_val_i8(dst, key, gguf_get_val_i8(src, id));
      break;
    case GGUF_TYPE_UINT16:
      gguf_set_val_u16(dst, key, gguf_get_val_u16(src, id));
      break;
    case GGUF_TYPE_INT16:
      gguf_set_val_i16(dst, key, gguf_get_val_i16(src, id));
      break;
    case GGUF_TYPE_UINT32:
      gguf_set_val_u32(dst, key, gguf_get_val_u32(src, id));
      break;
    case GGUF_TYPE_INT32:
      gguf_set_val_i32(dst, key, gguf_get_val_i32(src, id));
      break;
    case GGUF_TYPE_FLOAT32:
      gguf_set_val_f32(dst, key, gguf_get_val_f32(src, id));
      break;
    case GGUF_TYPE_UINT64:
      gguf_set_val_u64(dst, key, gguf_get_val_u64(src, id));
      break;
    case GGUF_TYPE_INT64:
      gguf_set_val_i64(dst, key, gguf_get_val_i64(src, id));
      break;
    case GGUF_TYPE_FLOAT64:
      gguf_set_val_f64(dst, key, gguf_get_val_f64(src, id));
      break;
    case GGUF_TYPE_BOOL:
      gguf_set_val_bool(dst, key, gguf_get_val_bool(src, id));
      break;
    case GGUF_TYPE_STRING:
      gguf_set_val_str(dst, key, gguf_get_val_str(src, id));
      break;
    case GGUF_TYPE_ARRAY: {
      const size_t n = gguf_get_arr_n(src, id);
      const auto type = gguf_get_arr_type(src, id);
      if (type == GGUF_TYPE_STRING) {
        std::vector<const char*> items(n);
        for (size_t i = 0; i < n; ++i) items[i] = gguf_get_arr_str(src, id, i);
        gguf_set_arr_str(dst, key, items.data(), n);
      } else {
        gguf_set_arr_data(dst, key, type, gguf_get_arr_data(src, id), n);
      }
      break;
    }
    default:
      break;  // GGUF_TYPE_COUNT: not a real type
  }
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

Result<void> write_tensor_data(std::FILE* f, const TensorPlan& t, ggml_type type, uint64_t seed,
                               size_t alignment) {
  SplitMix64 rng{seed ^ fnv1a(t.name)};
  // Chunks of whole rows keep memory small for the embedding matrices.
  const int64_t rows_per_chunk = std::max<int64_t>(1, (1 << 20) / t.ne0);
  std::vector<float> src;
  std::vector<uint8_t> dst;
  size_t written = 0;
  for (int64_t row = 0; row < t.rows(); row += rows_per_chunk) {
    const int64_t rows = std::min(rows_per_chunk, t.rows() - row);
    const size_t n = static_cast<size_t>(rows * t.ne0);
    src.resize(n);
    if (t.init == Init::normal)
      fill_normal(rng, src.data(), n);
    else
      std::fill(src.begin(), src.end(), t.init == Init::ones ? 1.0f : 0.0f);
    size_t bytes = 0;
    const void* data = src.data();
    if (type == GGML_TYPE_F32) {
      bytes = n * sizeof(float);
    } else if (type == GGML_TYPE_F16) {
      dst.resize(n * sizeof(ggml_fp16_t));
      ggml_fp32_to_fp16_row(src.data(), reinterpret_cast<ggml_fp16_t*>(dst.data()), static_cast<int64_t>(n));
      bytes = dst.size();
      data = dst.data();
    } else {
      dst.resize(ggml_row_size(type, t.ne0) * rows);
      bytes = ggml_quantize_chunk(type, src.data(), dst.data(), 0, rows, t.ne0, nullptr);
      data = dst.data();
    }
    if (std::fwrite(data, 1, bytes, f) != bytes) return Error(ErrorCode::io_error, "short write");
    written += bytes;
  }
  static const std::vector<uint8_t> zeros(64, 0);
  const size_t pad = (alignment - written % alignment) % alignment;
  if (pad > zeros.size() || std::fwrite(zeros.data(), 1, pad, f) != pad)
    return Error(ErrorCode::io_error, "short write of padding");
  return {};
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
      copy_key(gguf.get(), vocab->get(), i);
  if (options.kind == ModelKind::generator && gguf_find_key(gguf.get(), "tokenizer.chat_template") < 0)
    gguf_set_val_str(gguf.get(), "tokenizer.chat_template", kChatMlTemplate);

  // Tensor descriptions only (no_alloc): the data is streamed to the file below.
  ggml_init_params params{ggml_tensor_overhead() * (tensors.size() + 1), nullptr, /*no_alloc=*/true};
  GgmlPtr meta(ggml_init(params));
  if (!meta) return Error(ErrorCode::internal, "ggml_init failed");
  const ggml_type weight_type = ggml_type_of(options.type);
  std::vector<ggml_type> types;
  for (const auto& t : tensors) {
    // token_types is added to f32 activations directly (ggml_add has no f32 + f16 kernel): keep it f32.
    const ggml_type type = t.is_matrix() && t.name != "token_types.weight" ? weight_type : GGML_TYPE_F32;
    types.push_back(type);
    ggml_tensor* tensor = t.is_matrix() ? ggml_new_tensor_2d(meta.get(), type, t.ne0, t.ne1)
                                        : ggml_new_tensor_1d(meta.get(), type, t.ne0);
    ggml_set_name(tensor, t.name.c_str());
    gguf_add_tensor(gguf.get(), tensor);
  }

  const std::filesystem::path out = options.output;
  const std::filesystem::path tmp =
      out.string() + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}());
  auto fail = [&](const std::string& why) -> Result<void> {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    return Error(ErrorCode::io_error, "cannot write test model " + out.string() + ": " + why);
  };
  {
    FilePtr f(std::fopen(tmp.c_str(), "wb"));
    if (!f) return fail(std::strerror(errno));
    if (!gguf_write_to_file_ptr(gguf.get(), f.get(), /*only_meta=*/true))
      return fail("writing the header failed");
    const size_t alignment = gguf_get_alignment(gguf.get());
    for (size_t i = 0; i < tensors.size(); ++i)
      if (auto ok = write_tensor_data(f.get(), tensors[i], types[i], options.seed, alignment); !ok)
        return fail(ok.error().message() + " (disk full?)");
    if (std::fflush(f.get()) != 0 || ::fsync(::fileno(f.get())) != 0) return fail(std::strerror(errno));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, out, ec);
  if (ec) return fail(ec.message());
  return {};
}

}  // namespace xervo::testmodel
