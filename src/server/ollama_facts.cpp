// What Ollama's tags, ps and show say about a model, from what xervo knows without loading it: the
// library's record, else the GGUF header of a local file (ggml's reader, through library/gguf_info.h),
// else only the alias (a remote model). GGUF headers are cached by path, size and modification time,
// so listing many aliases reads each file once.
#include <openssl/evp.h>

#include <filesystem>
#include <map>
#include <mutex>

#include "server/ollama_api.h"

#if XERVO_HAVE_LIBRARY
#include "library/gguf_info.h"
#include "xervo/library.h"
#endif

namespace xervo::server::ollama {
namespace {

namespace fs = std::filesystem;

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

#if XERVO_HAVE_LIBRARY
struct CachedHeader {
  uint64_t size = 0;
  fs::file_time_type mtime{};
  library::GgufInfo info;
};

// Headers read so far, by path; an entry whose file changed is read again. Bounded: cleared when full.
class HeaderCache {
 public:
  std::optional<library::GgufInfo> get(const fs::path& path) {
    std::error_code ec;
    const uint64_t size = fs::file_size(path, ec);
    if (ec) return std::nullopt;
    const auto mtime = fs::last_write_time(path, ec);
    if (ec) return std::nullopt;
    const std::string key = path.string();
    {
      std::lock_guard lock(mu_);
      auto it = entries_.find(key);
      if (it != entries_.end() && it->second.size == size && it->second.mtime == mtime)
        return it->second.info;
    }
    auto info = library::read_gguf_info(path);  // outside the lock: a large header takes a while
    if (!info.ok()) return std::nullopt;
    std::lock_guard lock(mu_);
    if (entries_.size() >= kMaxEntries) entries_.clear();
    entries_[key] = CachedHeader{size, mtime, *info};
    return *info;
  }

 private:
  static constexpr size_t kMaxEntries = 256;
  std::mutex mu_;
  std::map<std::string, CachedHeader> entries_;  // GUARDED_BY(mu_)
};

HeaderCache& header_cache() {
  static HeaderCache cache;
  return cache;
}

std::chrono::system_clock::time_point system_time(fs::file_time_type t) {
  return std::chrono::time_point_cast<std::chrono::system_clock::duration>(
      std::chrono::file_clock::to_sys(t));
}

void add_header(ModelFacts& f, const library::GgufInfo& info) {
  f.format = "gguf";
  f.family = info.architecture;
  f.parameter_size = parameter_size(info.parameter_count);
  f.quantization_level = info.quantization;
  f.chat_template = info.chat_template;
  const std::string& a = info.architecture;
  auto& m = f.model_info;
  m["general.architecture"] = a;
  if (!info.name.empty()) m["general.name"] = info.name;
  m["general.parameter_count"] = info.parameter_count;
  auto put = [&](const std::string& key, uint32_t v) {
    if (v) m[a + "." + key] = v;
  };
  put("context_length", info.context_length);
  put("embedding_length", info.embedding_length);
  put("block_count", info.block_count);
  put("attention.head_count", info.head_count);
  put("attention.head_count_kv", info.head_count_kv);
}

// A local file an alias names directly: its header, size and time; the digest is of its identity
// (path, size, time), not of its bytes, so listing never hashes gigabytes.
bool add_file(ModelFacts& f, const fs::path& path) {
  std::error_code ec;
  if (!path.is_absolute() || !fs::is_regular_file(path, ec)) return false;
  auto info = header_cache().get(path);
  if (!info) return false;
  add_header(f, *info);
  f.size = info->file_size;
  const auto mtime = fs::last_write_time(path, ec);
  if (!ec) f.modified_at = system_time(mtime);
  f.digest = sha256_hex(path.string() + "\n" + std::to_string(f.size) + "\n" +
                        std::to_string(mtime.time_since_epoch().count()));
  return true;
}
#endif

}  // namespace

std::string parameter_size(uint64_t p) {
  char buf[32];
  const double v = static_cast<double>(p);
  if (p >= 1000000000ull)
    std::snprintf(buf, sizeof buf, "%.1fB", v / 1e9);
  else if (p >= 1000000ull)
    std::snprintf(buf, sizeof buf, "%.0fM", v / 1e6);
  else if (p >= 1000ull)
    std::snprintf(buf, sizeof buf, "%.0fK", v / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(p));
  return buf;
}

#if XERVO_HAVE_LIBRARY
ModelFacts library_facts(const LibraryModel& model) {
  ModelFacts f;
  f.name = model.id;
  f.task = model.task.value_or(ModelTask::generate);
  f.provider = "llamacpp";
  f.size = model.size_bytes;
  f.digest = model.sha256;
  f.modified_at = std::chrono::system_clock::from_time_t(static_cast<std::time_t>(model.updated_at));
  f.format = model.format;
  f.family = model.architecture;
  f.parameter_size = parameter_size(model.parameter_count);
  f.quantization_level = model.quantization;
  auto& m = f.model_info;
  m["general.architecture"] = model.architecture;
  m["general.parameter_count"] = model.parameter_count;
  if (model.context_length) m[model.architecture + ".context_length"] = model.context_length;
  if (model.embedding_length) m[model.architecture + ".embedding_length"] = model.embedding_length;
  if (model.block_count) m[model.architecture + ".block_count"] = model.block_count;
  return f;
}

std::string chat_template_of(const std::filesystem::path& file) {
  auto info = header_cache().get(file);
  return info ? info->chat_template : std::string();
}
#endif

ModelFacts alias_facts(const ServerState& state, const ModelSpec& spec) {
#if XERVO_HAVE_LIBRARY
  if (state.options.library &&
      (spec.model.starts_with("library:") || spec.model.starts_with("hf:") || is_library_id(spec.model))) {
    if (auto found = state.options.library->find(spec.model); found.ok()) {
      ModelFacts f = library_facts(*found);
      f.chat_template = chat_template_of(found->file);
      f.name = spec.alias;
      f.task = spec.task;
      f.provider = spec.provider;
      return f;
    }
  }
#endif
  ModelFacts f;
  f.name = spec.alias;
  f.task = spec.task;
  f.provider = spec.provider;
  f.modified_at = state.started;
#if XERVO_HAVE_LIBRARY
  if (add_file(f, spec.model)) return f;
#endif
  // A remote model (or a file this build cannot read): what the alias says.
  f.format = "remote";
  f.family = spec.provider;
  f.digest = sha256_hex(make_model_key(spec).to_string());
  return f;
}

nlohmann::json details_json(const ModelFacts& f) {
  return {{"parent_model", ""},
          {"format", f.format},
          {"family", f.family},
          {"families", f.family.empty() ? nlohmann::json(nullptr) : nlohmann::json::array({f.family})},
          {"parameter_size", f.parameter_size},
          {"quantization_level", f.quantization_level}};
}

}  // namespace xervo::server::ollama
