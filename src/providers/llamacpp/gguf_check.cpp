#include "providers/llamacpp/gguf_check.h"

#include <gguf.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <limits>
#include <string_view>
#include <system_error>
#include <unordered_set>

#include "providers/llamacpp/known_architectures.h"
#include "providers/llamacpp/llama_backend.h"
#include "providers/llamacpp/llama_handles.h"

namespace xervo::llamacpp {
namespace {

// Smallest possible encodings in a GGUF header, to bound counts by the file size before gguf's
// parser is asked to reserve room for them.
constexpr uint64_t kHeaderBytes = 4 + 4 + 8 + 8;
constexpr uint64_t kMinTensorInfoBytes = (8 + 1) + 4 + 8 + 4 + 8;  // name, n_dims, ne[0], type, offset
constexpr uint64_t kMinKvBytes = (8 + 1) + 4 + 1;                  // key, type, one-byte value

constexpr std::array<std::string_view, 9> kEncoderOnly = {"bert",           "modern-bert", "nomic-bert",
                                                          "nomic-bert-moe", "neo-bert",    "jina-bert-v2",
                                                          "jina-bert-v3",   "eurobert",    "t5encoder"};

Error failed(const std::filesystem::path& path, const std::string& reason) {
  return Error(ErrorCode::model_load_failed, "cannot load " + path.string() + ": " + reason);
}

template <typename T>
T read_le(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // GGUF is little-endian, as is every host llama.cpp supports
  return v;
}

std::optional<uint64_t> read_uint(const gguf_context* g, int64_t id) {
  switch (gguf_get_kv_type(g, id)) {
    case GGUF_TYPE_UINT8:
      return gguf_get_val_u8(g, id);
    case GGUF_TYPE_UINT16:
      return gguf_get_val_u16(g, id);
    case GGUF_TYPE_UINT32:
      return gguf_get_val_u32(g, id);
    case GGUF_TYPE_UINT64:
      return gguf_get_val_u64(g, id);
    case GGUF_TYPE_INT8:
      return gguf_get_val_i8(g, id) < 0 ? std::nullopt : std::optional<uint64_t>(gguf_get_val_i8(g, id));
    case GGUF_TYPE_INT16:
      return gguf_get_val_i16(g, id) < 0 ? std::nullopt : std::optional<uint64_t>(gguf_get_val_i16(g, id));
    case GGUF_TYPE_INT32:
      return gguf_get_val_i32(g, id) < 0 ? std::nullopt : std::optional<uint64_t>(gguf_get_val_i32(g, id));
    case GGUF_TYPE_INT64:
      return gguf_get_val_i64(g, id) < 0 ? std::nullopt : std::optional<uint64_t>(gguf_get_val_i64(g, id));
    default:
      return std::nullopt;
  }
}

std::string first_line(const std::string& s) {
  const auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

}  // namespace

Result<GgufFacts> inspect_gguf(const std::filesystem::path& path) {
  ensure_backend();
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status))
    return Error(ErrorCode::model_not_found, "model file " + path.string() + " does not exist");
  if (!std::filesystem::is_regular_file(status)) return failed(path, "not a regular file");
  GgufFacts facts;
  facts.file_size = std::filesystem::file_size(path, ec);
  if (ec) return failed(path, "cannot read its size: " + ec.message());
  if (facts.file_size == 0) return failed(path, "the file is empty");

  // The fixed header, checked by hand so that absurd counts never reach an allocation.
  std::array<unsigned char, kHeaderBytes> header{};
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) return failed(path, "cannot open it for reading");
    in.read(reinterpret_cast<char*>(header.data()), header.size());
    if (in.gcount() < 4 || std::memcmp(header.data(), "GGUF", 4) != 0)
      return failed(path, "not a GGUF file (it does not start with the GGUF magic bytes)");
    if (static_cast<uint64_t>(in.gcount()) < kHeaderBytes)
      return failed(path, "truncated GGUF header (" + std::to_string(facts.file_size) + " bytes)");
  }
  const auto version = read_le<uint32_t>(header.data() + 4);
  if (version < 2 || version > 3)
    return failed(path, "unsupported GGUF version " + std::to_string(version) + " (supported: 2, 3)");
  const auto n_tensors = read_le<int64_t>(header.data() + 8);
  const auto n_kv = read_le<int64_t>(header.data() + 16);
  const uint64_t body = facts.file_size - kHeaderBytes;
  if (n_tensors < 0 || static_cast<uint64_t>(n_tensors) > body / kMinTensorInfoBytes)
    return failed(path, "the header claims " + std::to_string(n_tensors) + " tensors, more than a " +
                            std::to_string(facts.file_size) +
                            "-byte file can describe (corrupt or truncated)");
  if (n_kv < 0 || static_cast<uint64_t>(n_kv) > body / kMinKvBytes)
    return failed(path, "the header claims " + std::to_string(n_kv) + " metadata entries, more than a " +
                            std::to_string(facts.file_size) + "-byte file can hold (corrupt or truncated)");

  GgufPtr g;
  std::string gguf_errors;
  {
    LogCapture capture;
    gguf_init_params params{/*no_alloc=*/true, /*ctx=*/nullptr};
    g.reset(gguf_init_from_file(path.c_str(), params));
    gguf_errors = capture.errors();
  }
  if (!g)
    return failed(path, "invalid or truncated GGUF metadata" +
                            (gguf_errors.empty() ? std::string() : " (" + first_line(gguf_errors) + ")"));
  facts.n_tensors = gguf_get_n_tensors(g.get());

  // Every tensor's bytes must lie inside the file: llama.cpp would read (or map) past its end.
  const uint64_t data_offset = gguf_get_data_offset(g.get());
  if (data_offset > facts.file_size) return failed(path, "the tensor data starts past the end of the file");
  const uint64_t data_bytes = facts.file_size - data_offset;
  for (int64_t i = 0; i < facts.n_tensors; ++i) {
    const uint64_t off = gguf_get_tensor_offset(g.get(), i);
    const uint64_t size = gguf_get_tensor_size(g.get(), i);
    if (off > data_bytes || size > data_bytes - off)
      return failed(path, "tensor '" + std::string(gguf_get_tensor_name(g.get(), i)) +
                              "' needs bytes up to " + std::to_string(data_offset + off + size) +
                              " but the file has " + std::to_string(facts.file_size) +
                              " (truncated download? fetch it again)");
  }

  const int64_t arch_id = gguf_find_key(g.get(), "general.architecture");
  if (arch_id < 0) return failed(path, "no general.architecture key: not a llama.cpp model file");
  if (gguf_get_kv_type(g.get(), arch_id) != GGUF_TYPE_STRING)
    return failed(path, "general.architecture is not a string");
  facts.architecture = gguf_get_val_str(g.get(), arch_id);
  bool known = false;
  for (auto a : known_architectures) known = known || a == facts.architecture;
  if (!known || facts.architecture == "clip")
    return failed(path, "unknown architecture '" + facts.architecture + "' (llama.cpp " +
                            std::string(llama_version()) + " cannot run it)");
  for (auto a : kEncoderOnly) facts.encoder_only = facts.encoder_only || a == facts.architecture;
  facts.encoder_decoder = facts.architecture == "t5";

  const std::string& a = facts.architecture;
  if (int64_t id = gguf_find_key(g.get(), (a + ".pooling_type").c_str()); id >= 0) {
    auto v = read_uint(g.get(), id);
    if (!v || *v > 4) return failed(path, a + ".pooling_type has an invalid value");
    facts.pooling_type = static_cast<uint32_t>(*v);
  }
  if (int64_t id = gguf_find_key(g.get(), (a + ".attention.causal").c_str()); id >= 0) {
    if (gguf_get_kv_type(g.get(), id) != GGUF_TYPE_BOOL)
      return failed(path, a + ".attention.causal is not a bool");
    facts.causal = gguf_get_val_bool(g.get(), id);
  }
  if (int64_t id = gguf_find_key(g.get(), (a + ".context_length").c_str()); id >= 0) {
    auto v = read_uint(g.get(), id);
    if (!v || *v == 0 || *v > std::numeric_limits<uint32_t>::max())
      return failed(path, a + ".context_length has an invalid value");
    facts.context_length = static_cast<uint32_t>(*v);
  }
  facts.has_classifier_head =
      gguf_find_tensor(g.get(), "cls.output.weight") >= 0 || gguf_find_tensor(g.get(), "cls.weight") >= 0;
  // llama.cpp asserts (aborts) when two vocabulary entries have the same text.
  if (int64_t id = gguf_find_key(g.get(), "tokenizer.ggml.tokens"); id >= 0) {
    if (gguf_get_kv_type(g.get(), id) != GGUF_TYPE_ARRAY ||
        gguf_get_arr_type(g.get(), id) != GGUF_TYPE_STRING)
      return failed(path, "tokenizer.ggml.tokens is not an array of strings");
    const size_t n = gguf_get_arr_n(g.get(), id);
    std::unordered_set<std::string_view> seen;
    std::deque<std::string> renamed;  // llama.cpp names empty tokens "[EMPTY_i]"; stable addresses
    seen.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      std::string_view word = gguf_get_arr_str(g.get(), id, i);
      if (word.empty()) word = renamed.emplace_back("[EMPTY_" + std::to_string(i) + "]");
      if (!seen.insert(word).second)
        return failed(path, "the vocabulary holds token " + std::to_string(i) + " ('" +
                                std::string(word.substr(0, 40)) + "') twice: corrupt tokenizer.ggml.tokens");
    }
  }
  if (int64_t id = gguf_find_key(g.get(), "tokenizer.chat_template"); id >= 0)
    facts.has_chat_template = gguf_get_kv_type(g.get(), id) == GGUF_TYPE_STRING;
  return facts;
}

Result<void> check_task_fit(const std::filesystem::path& path, const GgufFacts& f, ModelTask task,
                            Pooling pooling) {
  const std::string arch = "architecture '" + f.architecture + "'";
  if (f.encoder_decoder)
    return failed(path, arch + " is an encoder-decoder model, which the llamacpp provider does not run");
  switch (task) {
    case ModelTask::generate:
      if (f.encoder_only || f.causal == false)
        return failed(path, arch + " is a non-causal encoder (an embedding or reranking model); it cannot " +
                                "generate text: load it with task embed or rerank");
      return {};
    case ModelTask::embed: {
      if (pooling == Pooling::none)
        return Error(ErrorCode::config_invalid,
                     "option pooling = \"none\" gives per-token vectors; embed needs "
                     "one vector per input: use mean, cls or last");
      if (pooling == Pooling::rank)
        return Error(ErrorCode::config_invalid, "option pooling = \"rank\" is for rerank models, not embed");
      if (pooling != Pooling::model) return {};
      if (f.pooling_type == 4u)
        return Error(ErrorCode::capability_mismatch,
                     path.string() +
                         " is a reranker (pooling type rank): it gives relevance scores, not "
                         "embeddings; load it with task rerank");
      if (!f.encoder_only && f.causal != false && !f.pooling_type)
        return failed(path, arch +
                                " is a causal text generator with no pooling type, not an embedding model; "
                                "set option pooling = \"last\" or \"mean\" to embed with it anyway");
      return {};
    }
    case ModelTask::rerank:
      if (pooling != Pooling::model && pooling != Pooling::rank)
        return Error(ErrorCode::config_invalid,
                     "a rerank model uses pooling \"rank\"; remove the pooling option");
      if (!f.has_classifier_head)
        return Error(ErrorCode::capability_mismatch,
                     path.string() + " (" + arch +
                         ") has no classification head (cls.output.weight): it is "
                         "not a reranker; use a cross-encoder reranker model");
      return {};
    case ModelTask::transcribe:
      return Error(ErrorCode::capability_mismatch,
                   "the llamacpp provider does not transcribe; use provider \"whisper\"");
  }
  return {};
}

}  // namespace xervo::llamacpp
