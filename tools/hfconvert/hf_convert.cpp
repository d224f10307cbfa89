// The conversion. HF stores a linear layer as [out, in] row-major, which is ggml's [ne0 = in,
// ne1 = out]: rows copy straight across. Names follow llama.cpp's BERT loader (see TEST-MODELS.md
// and llama.cpp's conversion/bert.py); every checkpoint tensor is either mapped, knowingly
// dropped (position ids, the masked-LM and next-sentence heads, the pooler of an embedder), or an
// error, so weights are never silently lost.
#include "hf_convert.h"

#include <openssl/evp.h>

#include <cstdio>
#include <map>
#include <memory>
#include <optional>

#include "gguf_file.h"
#include "safetensors.h"

namespace xervo::hfconvert {
namespace {

namespace fs = std::filesystem;

struct Mapped {
  std::string hf;              // name in the checkpoint (without a "bert." prefix)
  std::string gguf;            // llama.cpp's name
  std::vector<int64_t> shape;  // expected, PyTorch order
};

std::vector<Mapped> plan(const BertConfig& c) {
  const int64_t E = c.hidden_size, FF = c.intermediate_size;
  std::vector<Mapped> m = {
      {"embeddings.word_embeddings.weight", "token_embd.weight", {c.vocab_size, E}},
      {"embeddings.token_type_embeddings.weight", "token_types.weight", {c.type_vocab_size, E}},
      {"embeddings.position_embeddings.weight", "position_embd.weight", {c.max_positions, E}},
      {"embeddings.LayerNorm.weight", "token_embd_norm.weight", {E}},
      {"embeddings.LayerNorm.bias", "token_embd_norm.bias", {E}},
  };
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string hf = "encoder.layer." + std::to_string(i) + ".", g = "blk." + std::to_string(i) + ".";
    auto lin = [&](const std::string& from, const std::string& to, int64_t out, int64_t in) {
      m.push_back({hf + from + ".weight", g + to + ".weight", {out, in}});
      m.push_back({hf + from + ".bias", g + to + ".bias", {out}});
    };
    auto norm = [&](const std::string& from, const std::string& to) {
      m.push_back({hf + from + ".weight", g + to + ".weight", {E}});
      m.push_back({hf + from + ".bias", g + to + ".bias", {E}});
    };
    lin("attention.self.query", "attn_q", E, E);
    lin("attention.self.key", "attn_k", E, E);
    lin("attention.self.value", "attn_v", E, E);
    lin("attention.output.dense", "attn_output", E, E);
    norm("attention.output.LayerNorm", "attn_output_norm");
    lin("intermediate.dense", "ffn_up", FF, E);
    lin("output.dense", "ffn_down", E, FF);
    norm("output.LayerNorm", "layer_output_norm");
  }
  if (c.classifier) {
    m.push_back({"pooler.dense.weight", "cls.weight", {E, E}});
    m.push_back({"pooler.dense.bias", "cls.bias", {E}});
    m.push_back({"classifier.weight", "cls.output.weight", {c.num_labels, E}});
    m.push_back({"classifier.bias", "cls.output.bias", {c.num_labels}});
  }
  return m;
}

// Old TensorFlow-era names (gamma/beta) and the "bert." prefix of task models.
std::string canonical_name(std::string name) {
  if (name.starts_with("bert.")) name = name.substr(5);
  if (name.ends_with(".gamma")) name = name.substr(0, name.size() - 6) + ".weight";
  if (name.ends_with(".beta")) name = name.substr(0, name.size() - 5) + ".bias";
  return name;
}

bool dropped(const std::string& name, bool classifier) {
  if (name == "embeddings.position_ids" || name.starts_with("cls.predictions.") ||
      name.starts_with("cls.seq_relationship."))
    return true;
  return !classifier && name.starts_with("pooler.");
}

std::string shape_text(const std::vector<int64_t>& s) {
  std::string t = "[";
  for (size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + "]";
}

ggml_type stored_type(const Mapped& m, OutputType type) {
  if (m.shape.size() < 2 || m.gguf == "token_types.weight") return GGML_TYPE_F32;  // added to f32 directly
  if (type == OutputType::f32) return GGML_TYPE_F32;
  if (type == OutputType::q8_0 && m.shape.back() % ggml_blck_size(GGML_TYPE_Q8_0) == 0) return GGML_TYPE_Q8_0;
  return GGML_TYPE_F16;
}

void set_vocab(gguf_context* ctx, const HfCheckpoint& c) {
  const auto& v = c.vocab;
  // llama.cpp's WordPiece matches words with a leading U+2581 ("phantom space") and continuations
  // without "##"; control tokens stay as they are.
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    const std::string& t = v.tokens[i];
    if (v.special[i])
      tokens.push_back(t);
    else if (t.starts_with("##"))
      tokens.push_back(t.substr(2));
    else
      tokens.push_back("\xe2\x96\x81" + t);
    types.push_back(v.special[i] ? 3 : 1);  // llama_token_type: 1 normal, 3 control
  }
  std::vector<const char*> ptrs;
  for (const auto& t : tokens) ptrs.push_back(t.c_str());
  gguf_set_val_str(ctx, "tokenizer.ggml.model", "bert");
  gguf_set_val_str(ctx, "tokenizer.ggml.pre", "default");
  gguf_set_arr_str(ctx, "tokenizer.ggml.tokens", ptrs.data(), ptrs.size());
  gguf_set_arr_data(ctx, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types.data(), types.size());
  gguf_set_val_u32(ctx, "tokenizer.ggml.token_type_count", static_cast<uint32_t>(c.config.type_vocab_size));
  gguf_set_val_bool(ctx, "tokenizer.ggml.normalizer.lowercase", v.lowercase);
  auto id = [&](const char* key, int value) {
    if (value >= 0) gguf_set_val_u32(ctx, key, static_cast<uint32_t>(value));
  };
  // llama.cpp starts every WordPiece sequence with the BOS token and ends it with SEP: BOS is [CLS].
  id("tokenizer.ggml.bos_token_id", v.cls);
  id("tokenizer.ggml.unknown_token_id", v.unk);
  id("tokenizer.ggml.seperator_token_id", v.sep);  // llama.cpp's spelling
  id("tokenizer.ggml.padding_token_id", v.pad);
  id("tokenizer.ggml.cls_token_id", v.cls);
  id("tokenizer.ggml.mask_token_id", v.mask);
}

void set_hparams(gguf_context* ctx, const HfCheckpoint& c, OutputType type) {
  const auto& k = c.config;
  gguf_set_val_str(ctx, "general.architecture", "bert");
  gguf_set_val_str(ctx, "general.name", c.dir.filename().empty() ? "bert" : c.dir.filename().c_str());
  gguf_set_val_u32(ctx, "general.file_type", type == OutputType::f32 ? 0 : type == OutputType::f16 ? 1 : 7);
  if (type == OutputType::q8_0) gguf_set_val_u32(ctx, "general.quantization_version", 2);
  gguf_set_val_u32(ctx, "bert.context_length", static_cast<uint32_t>(k.max_positions));
  gguf_set_val_u32(ctx, "bert.embedding_length", static_cast<uint32_t>(k.hidden_size));
  gguf_set_val_u32(ctx, "bert.block_count", static_cast<uint32_t>(k.num_layers));
  gguf_set_val_u32(ctx, "bert.feed_forward_length", static_cast<uint32_t>(k.intermediate_size));
  gguf_set_val_u32(ctx, "bert.attention.head_count", static_cast<uint32_t>(k.num_heads));
  gguf_set_val_f32(ctx, "bert.attention.layer_norm_epsilon", static_cast<float>(k.layer_norm_eps));
  gguf_set_val_bool(ctx, "bert.attention.causal", false);
  // llama_pooling_type: 1 mean, 2 cls, 3 last, 4 rank.
  const uint32_t pooling = c.pooling == CheckpointPooling::mean   ? 1
                           : c.pooling == CheckpointPooling::cls  ? 2
                           : c.pooling == CheckpointPooling::last ? 3
                                                                  : 4;
  gguf_set_val_u32(ctx, "bert.pooling_type", pooling);
  if (!k.labels.empty()) {
    std::vector<const char*> names;
    for (const auto& l : k.labels) names.push_back(l.c_str());
    gguf_set_arr_str(ctx, "bert.classifier.output_labels", names.data(), names.size());
  }
  if (!k.classifier) gguf_set_val_bool(ctx, kNormalizeKey, c.normalize);
}

// sha256 of a file as 64 hex digits, read in 1 MiB blocks.
Result<std::string> sha256_file(const fs::path& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return Error(ErrorCode::model_not_found, "cannot read " + path.string());
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> md(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr);
  std::vector<unsigned char> buf(1 << 20);
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) EVP_DigestUpdate(md.get(), buf.data(), n);
  if (std::ferror(f.get())) return Error(ErrorCode::io_error, "read error in " + path.string());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(md.get(), digest, &len);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", digest[i]);
    hex += b;
  }
  return hex;
}

// Provenance in the file itself (it travels with the GGUF into the library, whose index keeps the
// GGUF's own sha256): each source file's sha256 and path relative to the checkpoint, and the type.
Result<void> set_provenance(gguf_context* ctx, const HfCheckpoint& c, OutputType type) {
  std::vector<std::string> lines;
  for (const auto& file : c.source_files) {
    auto hash = sha256_file(file);
    if (!hash) return hash.error();
    lines.push_back(*hash + "  " + fs::relative(file, c.dir).generic_string());
  }
  std::vector<const char*> ptrs;
  for (const auto& l : lines) ptrs.push_back(l.c_str());
  gguf_set_val_str(ctx, kConvertedByKey, "xervo models convert (hfconvert 1)");
  gguf_set_val_str(ctx, "xervo.conversion.type", std::string(to_string(type)).c_str());
  gguf_set_arr_str(ctx, kSourcesKey, ptrs.data(), ptrs.size());
  return {};
}

// Matches checkpoint tensors to the plan: every planned tensor present with the planned shape and
// a float dtype, every other tensor knowingly dropped.
Result<std::vector<const SafetensorsTensor*>> match(const SafetensorsFile& st,
                                                    const std::vector<Mapped>& planned,
                                                    const HfCheckpoint& c) {
  std::map<std::string, const SafetensorsTensor*> by_name;
  const std::string where = c.weights.string();
  for (const auto& t : st.tensors()) {
    std::string name = canonical_name(t.name);
    if (c.config.classifier && name.starts_with("classifier.out_proj."))
      name = "classifier." + name.substr(20);
    if (!by_name.emplace(name, &t).second)
      return Error(ErrorCode::invalid_input, where + ": tensor " + name + " appears twice");
  }
  std::vector<const SafetensorsTensor*> out;
  for (const auto& m : planned) {
    auto it = by_name.find(m.hf);
    if (it == by_name.end())
      return Error(ErrorCode::invalid_input,
                   where + " lacks tensor " + m.hf + " (config.json: " + std::to_string(c.config.num_layers) +
                       " layers" + (c.config.classifier ? ", a classifier head)" : ")"));
    const auto* t = it->second;
    if (t->shape != m.shape)
      return Error(ErrorCode::invalid_input, where + ": tensor " + t->name + " has shape " +
                                                 shape_text(t->shape) + ", config.json implies " +
                                                 shape_text(m.shape));
    if (t->dtype != "F32" && t->dtype != "F16" && t->dtype != "BF16")
      return Error(ErrorCode::invalid_input,
                   where + ": tensor " + t->name + " has dtype " + t->dtype + " (F32, F16 or BF16 expected)");
    out.push_back(t);
    by_name.erase(it);
  }
  for (const auto& [name, t] : by_name)
    if (!dropped(name, c.config.classifier))
      return Error(ErrorCode::invalid_input, where + ": unexpected tensor " + t->name + " (not part of a " +
                                                 c.config.architecture + " the converter knows)");
  return out;
}

}  // namespace

std::string_view to_string(OutputType type) {
  return type == OutputType::f32 ? "f32" : type == OutputType::f16 ? "f16" : "q8_0";
}

Result<OutputType> parse_output_type(std::string_view text) {
  if (text == "f32") return OutputType::f32;
  if (text == "f16") return OutputType::f16;
  if (text == "q8_0") return OutputType::q8_0;
  return Error(ErrorCode::invalid_input,
               "output type must be f32, f16 or q8_0, not \"" + std::string(text) + "\"");
}

Result<void> write_vocab_gguf(const HfCheckpoint& checkpoint, const std::filesystem::path& output) {
  gguf_file::GgufPtr header(gguf_init_empty());
  gguf_set_val_str(header.get(), "general.architecture", "bert");
  gguf_set_val_str(header.get(), "general.name", "vocabulary");
  set_vocab(header.get(), checkpoint);
  return gguf_file::write_gguf(header.get(), {}, output, "vocabulary");
}

Result<ConvertReport> convert_checkpoint(const ConvertOptions& options) {
  if (options.output.empty()) return Error(ErrorCode::invalid_input, "no output file given (-o FILE)");
  auto checkpoint = read_checkpoint(options.input);
  if (!checkpoint) return checkpoint.error();
  ConvertReport report;
  report.checkpoint = std::move(*checkpoint);
  const HfCheckpoint& c = report.checkpoint;
  auto st = SafetensorsFile::open(c.weights);
  if (!st) return st.error();
  const auto planned = plan(c.config);
  auto tensors = match(*st, planned, c);
  if (!tensors) return tensors.error();

  gguf_file::GgufPtr header(gguf_init_empty());
  set_hparams(header.get(), c, options.type);
  set_vocab(header.get(), c);
  if (auto ok = set_provenance(header.get(), c, options.type); !ok) return ok.error();
  std::vector<gguf_file::TensorSource> sources;
  auto file = std::make_shared<SafetensorsFile>(std::move(*st));
  for (size_t i = 0; i < planned.size(); ++i) {
    const auto& m = planned[i];
    const SafetensorsTensor* t = (*tensors)[i];
    const int64_t ne0 = m.shape.back(), ne1 = m.shape.size() > 1 ? m.shape[0] : 0;
    sources.push_back({m.gguf, ne0, ne1, stored_type(m, options.type),
                       [file, t, ne0](int64_t first_row, int64_t rows, float* out) {
                         return file->read_f32(*t, first_row * ne0, rows * ne0, out);
                       }});
    report.parameters += static_cast<uint64_t>(t->numel());
  }
  report.tensors = static_cast<int>(sources.size());
  if (auto ok = gguf_file::write_gguf(header.get(), sources, options.output, "converted model"); !ok)
    return ok.error();
  std::error_code ec;
  report.output_bytes = fs::file_size(options.output, ec);
  return report;
}

}  // namespace xervo::hfconvert
