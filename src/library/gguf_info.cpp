#include "library/gguf_info.h"

#include <gguf.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>

namespace xervo::library {
namespace fs = std::filesystem;

namespace {

struct GgufFree {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};

int64_t get_int(const gguf_context* ctx, const std::string& key, int64_t fallback = -1) {
  int64_t id = gguf_find_key(ctx, key.c_str());
  if (id < 0) return fallback;
  switch (gguf_get_kv_type(ctx, id)) {
    case GGUF_TYPE_UINT8:
      return gguf_get_val_u8(ctx, id);
    case GGUF_TYPE_INT8:
      return gguf_get_val_i8(ctx, id);
    case GGUF_TYPE_UINT16:
      return gguf_get_val_u16(ctx, id);
    case GGUF_TYPE_INT16:
      return gguf_get_val_i16(ctx, id);
    case GGUF_TYPE_UINT32:
      return gguf_get_val_u32(ctx, id);
    case GGUF_TYPE_INT32:
      return gguf_get_val_i32(ctx, id);
    case GGUF_TYPE_UINT64:
      return static_cast<int64_t>(gguf_get_val_u64(ctx, id));
    case GGUF_TYPE_INT64:
      return gguf_get_val_i64(ctx, id);
    case GGUF_TYPE_BOOL:
      return gguf_get_val_bool(ctx, id) ? 1 : 0;
    default:
      return fallback;
  }
}

std::string get_str(const gguf_context* ctx, const std::string& key) {
  int64_t id = gguf_find_key(ctx, key.c_str());
  if (id < 0 || gguf_get_kv_type(ctx, id) != GGUF_TYPE_STRING) return {};
  const char* s = gguf_get_val_str(ctx, id);
  return s ? s : "";
}

uint32_t clamp_u32(int64_t v) {
  return v < 0 ? 0 : (v > 0xffffffffLL ? 0xffffffffu : static_cast<uint32_t>(v));
}

// Encoder architectures whose attention is bidirectional: they embed (or rerank) and never generate.
bool is_encoder_architecture(const std::string& arch) {
  return arch == "bert" || arch == "nomic-bert" || arch == "nomic-bert-moe" || arch == "jina-bert-v2" ||
         arch == "jina-bert-v3" || arch == "neo-bert" || arch == "modern-bert" || arch == "t5encoder";
}

std::optional<ModelTask> infer_task(const gguf_context* ctx, const std::string& arch) {
  int64_t pooling = get_int(ctx, arch + ".pooling_type");
  // A classification head (or rank pooling) scores query/document pairs: a reranker.
  if (pooling == 4 || gguf_find_tensor(ctx, "cls.output.weight") >= 0) return ModelTask::rerank;
  if (pooling >= 1 && pooling <= 3) return ModelTask::embed;
  int64_t causal = get_int(ctx, arch + ".attention.causal");
  if (causal == 0 || is_encoder_architecture(arch)) return ModelTask::embed;
  if (gguf_find_tensor(ctx, "token_embd.weight") >= 0) return ModelTask::generate;
  return std::nullopt;
}

bool is_sha256_hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// The converter's provenance: xervo.conversion.tool and .type, and one "SHA256  relative/path"
// line per source file. A line of another shape is kept as a path without a hash (nothing the
// file says is dropped silently); text and counts are bounded.
std::optional<ModelConversion> read_conversion(const gguf_context* ctx) {
  std::string tool = get_str(ctx, "xervo.conversion.tool");
  if (tool.empty()) return std::nullopt;
  ModelConversion c;
  c.tool = tool.substr(0, kMaxConversionText);
  c.output_type = get_str(ctx, "xervo.conversion.type").substr(0, kMaxConversionText);
  int64_t id = gguf_find_key(ctx, "xervo.conversion.sources");
  if (id < 0 || gguf_get_kv_type(ctx, id) != GGUF_TYPE_ARRAY ||
      gguf_get_arr_type(ctx, id) != GGUF_TYPE_STRING)
    return c;
  const size_t n = std::min<size_t>(gguf_get_arr_n(ctx, id), kMaxConversionSources);
  for (size_t i = 0; i < n; ++i) {
    const char* raw = gguf_get_arr_str(ctx, id, i);
    std::string line = raw ? std::string(raw).substr(0, kMaxConversionText) : std::string();
    ConversionSource source;
    if (line.size() > 66 && is_sha256_hex(std::string_view(line).substr(0, 64)) &&
        line.compare(64, 2, "  ") == 0) {
      source.sha256 = line.substr(0, 64);
      source.path = line.substr(66);
    } else {
      source.path = line;
    }
    c.sources.push_back(std::move(source));
  }
  return c;
}

}  // namespace

std::string file_type_name(int64_t ft) {
  switch (ft) {
    case 0:
      return "F32";
    case 1:
      return "F16";
    case 2:
      return "Q4_0";
    case 3:
      return "Q4_1";
    case 7:
      return "Q8_0";
    case 8:
      return "Q5_0";
    case 9:
      return "Q5_1";
    case 10:
      return "Q2_K";
    case 11:
      return "Q3_K_S";
    case 12:
      return "Q3_K_M";
    case 13:
      return "Q3_K_L";
    case 14:
      return "Q4_K_S";
    case 15:
      return "Q4_K_M";
    case 16:
      return "Q5_K_S";
    case 17:
      return "Q5_K_M";
    case 18:
      return "Q6_K";
    case 19:
      return "IQ2_XXS";
    case 20:
      return "IQ2_XS";
    case 21:
      return "Q2_K_S";
    case 22:
      return "IQ3_XS";
    case 23:
      return "IQ3_XXS";
    case 24:
      return "IQ1_S";
    case 25:
      return "IQ4_NL";
    case 26:
      return "IQ3_S";
    case 27:
      return "IQ3_M";
    case 28:
      return "IQ2_S";
    case 29:
      return "IQ2_M";
    case 30:
      return "IQ4_XS";
    case 31:
      return "IQ1_M";
    case 32:
      return "BF16";
    case 36:
      return "TQ1_0";
    case 37:
      return "TQ2_0";
    case 38:
      return "MXFP4_MOE";
    default:
      return {};
  }
}

bool has_gguf_magic(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && magic[0] == 'G' && magic[1] == 'G' && magic[2] == 'U' && magic[3] == 'F';
}

Result<GgufInfo> read_gguf_info(const fs::path& path) {
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) return Error(ErrorCode::model_not_found, path.string() + ": no such file");
  if (!fs::is_regular_file(status))
    return Error(ErrorCode::invalid_input, path.string() + ": not a regular file");
  GgufInfo info;
  info.file_size = fs::file_size(path, ec);
  if (ec) return Error(ErrorCode::io_error, path.string() + ": cannot stat: " + ec.message());
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe)
      return Error(ErrorCode::io_error, path.string() + ": cannot open for reading (check permissions)");
  }
  if (!has_gguf_magic(path))
    return Error(ErrorCode::invalid_input, path.string() + ": not a GGUF file (no GGUF magic at the start)");

  gguf_init_params params{};
  params.no_alloc = true;
  params.ctx = nullptr;
  std::unique_ptr<gguf_context, GgufFree> ctx(gguf_init_from_file(path.c_str(), params));
  if (!ctx)
    return Error(ErrorCode::invalid_input,
                 path.string() + ": malformed or truncated GGUF header (ggml's reader rejected it)");

  info.tensor_count = gguf_get_n_tensors(ctx.get());
  // The header may be intact while the tensor data was cut off: check the file covers every tensor.
  uint64_t data_offset = gguf_get_data_offset(ctx.get());
  uint64_t needed = data_offset;
  for (int64_t i = 0; i < info.tensor_count; ++i) {
    uint64_t end = data_offset + gguf_get_tensor_offset(ctx.get(), i) + gguf_get_tensor_size(ctx.get(), i);
    if (end > needed) needed = end;
    const int64_t* ne = gguf_get_tensor_ne(ctx.get(), i);
    uint64_t n = 1;
    for (int d = 0; d < 4; ++d) n *= static_cast<uint64_t>(ne[d] > 0 ? ne[d] : 1);
    info.parameter_count += n;
  }
  if (needed > info.file_size)
    return Error(ErrorCode::invalid_input, path.string() + ": truncated GGUF: tensor data needs " +
                                               std::to_string(needed) + " bytes, the file has " +
                                               std::to_string(info.file_size) +
                                               " (download or copy it again)");

  info.architecture = get_str(ctx.get(), "general.architecture");
  if (info.architecture.empty())
    return Error(ErrorCode::invalid_input, path.string() + ": GGUF without general.architecture");
  const std::string& a = info.architecture;
  info.name = get_str(ctx.get(), "general.name");
  info.description = get_str(ctx.get(), "general.description");
  int64_t tags_id = gguf_find_key(ctx.get(), "general.tags");
  if (tags_id >= 0 && gguf_get_kv_type(ctx.get(), tags_id) == GGUF_TYPE_ARRAY &&
      gguf_get_arr_type(ctx.get(), tags_id) == GGUF_TYPE_STRING) {
    size_t n = gguf_get_arr_n(ctx.get(), tags_id);
    for (size_t i = 0; i < n && i < 64; ++i) info.tags.emplace_back(gguf_get_arr_str(ctx.get(), tags_id, i));
  }
  int64_t ft = get_int(ctx.get(), "general.file_type");
  info.quantization = ft >= 0 ? file_type_name(ft) : "";
  info.context_length = clamp_u32(get_int(ctx.get(), a + ".context_length", 0));
  info.embedding_length = clamp_u32(get_int(ctx.get(), a + ".embedding_length", 0));
  info.block_count = clamp_u32(get_int(ctx.get(), a + ".block_count", 0));
  info.head_count = clamp_u32(get_int(ctx.get(), a + ".attention.head_count", 0));
  info.head_count_kv = clamp_u32(get_int(ctx.get(), a + ".attention.head_count_kv", info.head_count));
  info.task = infer_task(ctx.get(), a);
  info.conversion = read_conversion(ctx.get());
  info.chat_template = get_str(ctx.get(), "tokenizer.chat_template");
  return info;
}

}  // namespace xervo::library
