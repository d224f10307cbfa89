// The requirements contract: whether a model can run on a platform + backend profile, as versioned
// JSON. Local backends check the file (present, verified by hash stamp), the architecture against
// the linked llama.cpp (a vocab-only load), the backend in ggml and memory; remote backends check
// the API key variable. Anything but `resolved` is not ready.
#include <ggml-backend.h>
#include <llama.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>

#include "library/files.h"
#include "library/gguf_info.h"
#include "library/library_impl.h"

namespace xervo {
namespace fs = std::filesystem;
using nlohmann::json;

namespace library {

namespace {

json file_stamp(const fs::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return nullptr;
  return {{"size", static_cast<uint64_t>(st.st_size)},
          {"inode", static_cast<uint64_t>(st.st_ino)},
          {"mtime_ns", static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec}};
}

}  // namespace

Result<void> write_verified_stamp(const fs::path& dir, const fs::path& file, const std::string& sha256) {
  json stamp = file_stamp(file);
  if (stamp.is_null()) return Error(ErrorCode::io_error, "cannot stat " + file.string());
  stamp["sha256"] = sha256;
  stamp["verified_at"] = unix_now();
  return write_file_atomic(dir / "verified.json", stamp.dump());
}

Result<bool> check_verified(const fs::path& dir, const LibraryModel& model) {
  json now = file_stamp(model.file);
  if (now.is_null()) return false;
  if (auto text = read_file(dir / "verified.json"); text) {
    auto stamp = json::parse(*text, nullptr, false);
    // Same inode, size and mtime as when last hashed: the bytes are the verified ones.
    if (stamp.is_object() && stamp.value("sha256", "") == model.sha256 && stamp["size"] == now["size"] &&
        stamp["inode"] == now["inode"] && stamp["mtime_ns"] == now["mtime_ns"])
      return true;
  }
  auto sha = sha256_file(model.file);
  if (!sha) return sha.error();
  if (*sha != model.sha256) return false;
  (void)write_verified_stamp(dir, model.file, *sha);
  return true;
}

}  // namespace library

namespace {

std::string host_platform() {
  struct utsname u {};
  std::string arch = ::uname(&u) == 0 ? u.machine : "unknown";
  if (arch == "arm64") arch = "aarch64";
#if defined(__APPLE__)
  return "macos-" + arch;
#else
  return "linux-" + arch;
#endif
}

uint64_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t value = 0;
  std::string unit;
  while (in >> key >> value >> unit)
    if (key == "MemAvailable:") return value * 1024;
  return 0;
}

const std::map<std::string, std::string>& local_backends() {
  // backend -> ggml registry name
  static const std::map<std::string, std::string> m = {
      {"cpu", "CPU"}, {"cuda", "CUDA"}, {"metal", "Metal"}, {"vulkan", "Vulkan"}};
  return m;
}

// llama.cpp logs a page per load. While this thread runs an architecture check, its lines are
// kept (errors only, for the detail) instead of printed; other threads go to the callback that was
// installed before, so a provider's own log routing keeps working.
thread_local std::string* t_capture = nullptr;
ggml_log_callback g_previous_log = nullptr;
void* g_previous_log_data = nullptr;

void capture_log(ggml_log_level level, const char* text, void* user_data) {
  if (t_capture) {
    if (level == GGML_LOG_LEVEL_ERROR && text) t_capture->append(text);
    return;
  }
  if (g_previous_log) g_previous_log(level, text, g_previous_log_data);
}

void install_capture() {
  static std::once_flag once;
  std::call_once(once, [] {
    llama_log_get(&g_previous_log, &g_previous_log_data);
    llama_log_set(capture_log, nullptr);
  });
}

// The first error line names the cause ("error loading model: unknown model architecture: 'x'").
std::string first_line(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

struct ArchCheck {
  bool ok;
  std::string detail;
};

// A vocab-only load runs llama.cpp's own architecture, hyper-parameter and vocabulary checks
// without reading tensors. Cached per file content.
ArchCheck check_architecture(const LibraryModel& model) {
  static std::mutex mutex;
  static std::map<std::string, ArchCheck> cache;
  {
    std::lock_guard lock(mutex);
    if (auto it = cache.find(model.sha256); it != cache.end()) return it->second;
  }
  install_capture();
  llama_model_params params = llama_model_default_params();
  params.vocab_only = true;
  std::string errors;
  t_capture = &errors;
  llama_model* m = llama_model_load_from_file(model.file.c_str(), params);
  t_capture = nullptr;
  std::string why = first_line(errors);
  ArchCheck result{m != nullptr, m ? "llama.cpp reads '" + model.architecture + "'"
                                   : "the linked llama.cpp cannot load architecture '" + model.architecture +
                                         "'" + (why.empty() ? "" : " (" + why + ")")};
  if (m) llama_model_free(m);
  std::lock_guard lock(mutex);
  cache[model.sha256] = result;
  return result;
}

json requirement(std::string name, bool ok, std::string detail) {
  return {{"name", std::move(name)}, {"ok", ok}, {"detail", std::move(detail)}};
}

}  // namespace

json resolve_model_dependency_requirements(ModelLibrary& library, std::string_view model_id,
                                           std::string_view platform_in, std::string_view backend_in) {
  std::string platform = platform_in.empty() ? host_platform() : std::string(platform_in);
  std::string backend = backend_in.empty() ? "cpu" : std::string(backend_in);
  json out = {{"contract_version", 1},
              {"model_id", std::string(model_id)},
              {"profile", {{"platform", platform}, {"backend", backend}}},
              {"groups", json::array()},
              {"errors", json::array()}};
  auto finish = [&](const std::string& state) {
    out["state"] = state;
    out["ready"] = state == "resolved";
    return out;
  };
  auto add_error = [&](const std::string& code, const std::string& message) {
    out["errors"].push_back({{"code", code}, {"message", message}});
  };

  static const std::regex profile_re("^[a-z0-9_]+-[a-z0-9_]+$");
  static const std::regex backend_re("^[a-z0-9_]+$");
  if (!std::regex_match(platform, profile_re)) {
    add_error("invalid_profile", "platform '" + platform + "' is not OS-ARCH, e.g. linux-x86_64");
    return finish("invalid_profile");
  }
  if (!std::regex_match(backend, backend_re)) {
    add_error("invalid_profile",
              "backend '" + backend + "' is malformed: use cpu, cuda, metal, vulkan, openai, gemini");
    return finish("invalid_profile");
  }
  std::string os = platform.substr(0, platform.find('-'));
  std::string arch = platform.substr(platform.find('-') + 1);
  bool remote = backend == "openai" || backend == "gemini";
  if ((os != "linux" && os != "macos" && os != "windows") ||
      (arch != "x86_64" && arch != "aarch64" && arch != "arm64")) {
    add_error("unknown_profile",
              "unknown platform '" + platform + "' (known: linux|macos|windows - x86_64|aarch64)");
    return finish("unknown_profile");
  }
  if (!remote && !local_backends().count(backend)) {
    add_error("unknown_profile",
              "unknown backend '" + backend + "' (known: cpu, cuda, metal, vulkan, openai, gemini)");
    return finish("unknown_profile");
  }
  if ((backend == "metal" && os != "macos") || (backend == "cuda" && os == "macos")) {
    add_error("profile_conflict", "backend " + backend + " does not exist on " + os);
    return finish("profile_conflict");
  }

  if (remote) {
    // A remote model id is the provider's name; only credentials can be checked here.
    std::string var = backend == "openai" ? "OPENAI_API_KEY" : "GEMINI_API_KEY";
    const char* key = std::getenv(var.c_str());
    const char* base = std::getenv(backend == "openai" ? "OPENAI_BASE_URL" : "GEMINI_BASE_URL");
    bool ok = (key && *key) || (backend == "openai" && base && *base);
    json group = {{"name", "credentials"}, {"backend", backend}, {"requirements", json::array()}};
    json r = requirement(
        "api_key_env", ok,
        ok ? var + " is set" + std::string(key && *key ? "" : " (no key: OPENAI_BASE_URL names a server)")
           : "set " + var + " to an API key");
    r["variable"] = var;
    group["requirements"].push_back(r);
    out["groups"].push_back(group);
    if (auto m = library.find(model_id); m && m->task == ModelTask::rerank && backend == "gemini") {
      add_error("profile_conflict", "Gemini has no reranking API; use a local backend for " + m->id);
      return finish("profile_conflict");
    }
    if (!ok) {
      add_error("missing_requirements", "api_key_env: set " + var);
      return finish("missing_requirements");
    }
    return finish("resolved");
  }

  if (platform != host_platform()) {
    add_error("profile_conflict", "this machine is " + host_platform() +
                                      "; requirements of local backends for " + platform +
                                      " can only be checked on such a machine");
    return finish("profile_conflict");
  }

  std::vector<std::string> missing;
  auto check = [&](json& group, const std::string& name, bool ok, const std::string& detail) {
    group["requirements"].push_back(requirement(name, ok, detail));
    if (!ok) missing.push_back(name + ": " + detail);
  };

  json files = {{"name", "files"}, {"backend", backend}, {"requirements", json::array()}};
  auto model = library.find(model_id);
  if (!model) {
    check(files, "model_in_library", false, model.error().message());
    out["groups"].push_back(files);
    for (auto& m : missing) add_error("missing_requirements", m);
    return finish("missing_requirements");
  }
  out["model"] = {{"id", model->id}, {"file", model->file.string()}, {"architecture", model->architecture}};
  check(files, "model_in_library", model->state == LibraryModelState::ready,
        model->state == LibraryModelState::ready ? model->id + " is ready"
                                                 : model->id + " is " + std::string(to_string(model->state)) +
                                                       (model->error.empty() ? "" : ": " + model->error));
  std::error_code ec;
  bool present = fs::is_regular_file(model->file, ec) && fs::file_size(model->file, ec) == model->size_bytes;
  check(files, "files_present", present,
        present ? model->file.string() : model->file.string() + " is missing or has the wrong size");
  if (present) {
    auto* impl = dynamic_cast<library::LibraryImpl*>(&library);
    auto verified = impl ? library::check_verified(impl->model_dir(model->publisher, model->name), *model)
                         : Result<bool>(false);
    check(files, "files_verified", verified && *verified,
          !verified ? verified.error().message()
                    : (*verified ? "sha256 " + model->sha256.substr(0, 12) + "... matches"
                                 : "sha256 differs from the recorded one: run `xervo models verify " +
                                       model->id + "`"));
  }
  out["groups"].push_back(files);

  json engine = {{"name", "engine"}, {"backend", backend}, {"requirements", json::array()}};
  ggml_backend_reg_t reg = ggml_backend_reg_by_name(local_backends().at(backend).c_str());
  check(engine, "backend_available", reg != nullptr,
        reg ? "ggml backend " + local_backends().at(backend) + " is linked"
            : "this build of llama.cpp has no " + local_backends().at(backend) + " backend");
  if (present && model->state == LibraryModelState::ready) {
    auto a = check_architecture(*model);
    json r = requirement("architecture_supported", a.ok, a.detail);
    r["architecture"] = model->architecture;
    engine["requirements"].push_back(r);
    if (!a.ok) missing.push_back("architecture_supported: " + a.detail);
  }
  out["groups"].push_back(engine);

  json memory = {{"name", "memory"}, {"backend", backend}, {"requirements", json::array()}};
  uint64_t needed = model->size_bytes;
  if (auto info = library::read_gguf_info(model->file); info && info->head_count > 0) {
    // Weights plus an f16 KV cache for min(training context, 4096) tokens.
    uint64_t ctx = std::min<uint64_t>(info->context_length ? info->context_length : 4096, 4096);
    uint64_t kv_dim = static_cast<uint64_t>(info->embedding_length) * info->head_count_kv / info->head_count;
    if (model->task != ModelTask::embed && model->task != ModelTask::rerank)
      needed += 2ull * info->block_count * ctx * kv_dim * 2;
  }
  uint64_t available = 0;
  if (backend == "cpu") {
    available = available_memory_bytes();
  } else if (reg) {
    for (size_t i = 0; i < ggml_backend_reg_dev_count(reg); ++i) {
      size_t free_b = 0, total_b = 0;
      ggml_backend_dev_memory(ggml_backend_reg_dev_get(reg, i), &free_b, &total_b);
      available = std::max<uint64_t>(available, free_b);
    }
  }
  json mem = requirement(
      "memory", available >= needed,
      std::to_string(needed >> 20) + " MiB needed, " + std::to_string(available >> 20) + " MiB available");
  mem["needed_bytes"] = needed;
  mem["available_bytes"] = available;
  memory["requirements"].push_back(mem);
  if (available < needed) missing.push_back("memory: " + mem["detail"].get<std::string>());
  out["groups"].push_back(memory);

  for (auto& m : missing) add_error("missing_requirements", m);
  return finish(missing.empty() ? "resolved" : "missing_requirements");
}

json resolve_model_dependency_requirements(std::string_view model_id, std::string_view platform,
                                           std::string_view backend) {
  auto library = ModelLibrary::open();
  if (!library) {
    return {{"contract_version", 1},
            {"model_id", std::string(model_id)},
            {"state", "missing_requirements"},
            {"ready", false},
            {"groups", json::array()},
            {"errors",
             json::array({{{"code", "missing_requirements"}, {"message", library.error().message()}}})}};
  }
  return resolve_model_dependency_requirements(**library, model_id, platform, backend);
}

}  // namespace xervo
