// The requirements contract: whether a model can run on a platform + backend profile, as versioned
// JSON. Local backends check the file (present, verified by hash stamp), the architecture against
// the linked llama.cpp, the backend in ggml and memory; remote backends check the credentials the
// provider would use ([providers.<backend>] api_key_env and base_url). Anything but `resolved` is
// not ready.
#include <ggml-backend.h>
#include <sys/utsname.h>

#include <fstream>
#include <map>
#include <optional>
#include <regex>

#include "library/architecture_check.h"
#include "library/gguf_info.h"
#include "library/model_file.h"
#include "net/api_client.h"
#include "xervo/library.h"

namespace xervo {
namespace fs = std::filesystem;
using nlohmann::json;

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

json requirement(std::string name, bool ok, std::string detail) {
  return {{"name", std::move(name)}, {"ok", ok}, {"detail", std::move(detail)}};
}

// The contract being built: groups of requirements, errors, and the state it ends in.
class Contract {
 public:
  Contract(std::string_view model_id, const std::string& platform, const std::string& backend)
      : out_{{"contract_version", 1},
             {"model_id", std::string(model_id)},
             {"profile", {{"platform", platform}, {"backend", backend}}},
             {"groups", json::array()},
             {"errors", json::array()}},
        backend_(backend) {}

  json group(const std::string& name) const {
    return {{"name", name}, {"backend", backend_}, {"requirements", json::array()}};
  }
  // Adds a requirement to `g`; a failed one is also a missing_requirements error.
  void check(json& g, const std::string& name, bool ok, const std::string& detail) {
    add(g, requirement(name, ok, detail));
  }
  void add(json& g, json r) {
    if (!r["ok"].get<bool>())
      missing_.push_back(r["name"].get<std::string>() + ": " + r["detail"].get<std::string>());
    g["requirements"].push_back(std::move(r));
  }
  void push(json g) { out_["groups"].push_back(std::move(g)); }
  json& out() { return out_; }
  json finish(const std::string& state, const std::string& message = {}) {
    if (!message.empty()) error(state, message);
    for (const auto& m : missing_) error("missing_requirements", m);
    out_["state"] = state == "resolved" && !missing_.empty() ? "missing_requirements" : state;
    out_["ready"] = out_["state"] == "resolved";
    return std::move(out_);
  }

 private:
  void error(const std::string& code, const std::string& message) {
    out_["errors"].push_back({{"code", code}, {"message", message}});
  }
  json out_;
  std::string backend_;
  std::vector<std::string> missing_;
};

// The profile itself: malformed, unknown or contradictory profiles end the check here.
std::optional<json> check_profile(Contract& c, const std::string& platform, const std::string& backend) {
  static const std::regex profile_re("^[a-z0-9_]+-[a-z0-9_]+$");
  static const std::regex backend_re("^[a-z0-9_]+$");
  if (!std::regex_match(platform, profile_re))
    return c.finish("invalid_profile", "platform '" + platform + "' is not OS-ARCH, e.g. linux-x86_64");
  if (!std::regex_match(backend, backend_re))
    return c.finish("invalid_profile",
                    "backend '" + backend + "' is malformed: use cpu, cuda, metal, vulkan, openai, gemini");
  std::string os = platform.substr(0, platform.find('-'));
  std::string arch = platform.substr(platform.find('-') + 1);
  bool remote = backend == "openai" || backend == "gemini";
  if ((os != "linux" && os != "macos" && os != "windows") ||
      (arch != "x86_64" && arch != "aarch64" && arch != "arm64"))
    return c.finish("unknown_profile",
                    "unknown platform '" + platform + "' (known: linux|macos|windows - x86_64|aarch64)");
  if (!remote && !local_backends().count(backend))
    return c.finish("unknown_profile",
                    "unknown backend '" + backend + "' (known: cpu, cuda, metal, vulkan, openai, gemini)");
  if ((backend == "metal" && os != "macos") || (backend == "cuda" && os == "macos"))
    return c.finish("profile_conflict", "backend " + backend + " does not exist on " + os);
  if (!remote && platform != host_platform())
    return c.finish("profile_conflict", "this machine is " + host_platform() +
                                            "; requirements of local backends for " + platform +
                                            " can only be checked on such a machine");
  return std::nullopt;
}

net::ApiDefaults remote_defaults(const std::string& backend) {
  net::ApiDefaults d;
  d.service = backend;
  if (backend == "openai") {
    d.base_url_env = "OPENAI_BASE_URL";
    d.base_url = "https://api.openai.com/v1";
    d.api_key_env = "OPENAI_API_KEY";
  } else {
    d.base_url_env = "GEMINI_BASE_URL";
    d.base_url = "https://generativelanguage.googleapis.com/v1beta";
    d.api_key_env = "GEMINI_API_KEY";
  }
  return d;
}

// A remote model id is the provider's name: only the credentials the provider would send can be
// checked here, read from its settings as the provider reads them.
json check_remote(Contract& c, ModelLibrary& library, std::string_view model_id, const RequirementsQuery& q) {
  const auto defaults = remote_defaults(q.backend);
  json group = c.group("credentials");
  auto settings = net::parse_api_settings(q.provider_settings, json::object(), defaults);
  if (!settings) {
    c.check(group, "api_key_env", false, settings.error().message());
    c.push(std::move(group));
    return c.finish("missing_requirements");
  }
  const std::string& var = settings->api_key_env;
  bool has_key = !settings->api_key.empty();
  // A server of one's own (llama-server, vLLM) behind base_url needs no key.
  bool keyless = q.backend == "openai" && settings->base_url != defaults.base_url;
  bool ok = has_key || keyless;
  json r = requirement(
      "api_key_env", ok,
      has_key   ? var + " is set"
      : keyless ? "no key in " + var + ": " + net::redact_url(settings->base_url) + " is a server of your own"
                : "set " + var + " to an API key");
  r["variable"] = var;
  c.add(group, std::move(r));
  c.push(std::move(group));
  if (auto m = library.find(model_id); m && m->task == ModelTask::rerank && q.backend == "gemini")
    return c.finish("profile_conflict", "Gemini has no reranking API; use a local backend for " + m->id);
  return c.finish("resolved");
}

struct FilesCheck {
  std::optional<LibraryModel> model;  // found in the library
  bool usable = false;                // ready and its file present
};

// Files: in the library and ready, present with their size, holding the recorded bytes.
FilesCheck check_files(Contract& c, ModelLibrary& library, std::string_view model_id) {
  json files = c.group("files");
  auto model = library.find(model_id);
  if (!model) {
    c.check(files, "model_in_library", false, model.error().message());
    c.push(std::move(files));
    return {};
  }
  c.out()["model"] = {
      {"id", model->id}, {"file", model->file.string()}, {"architecture", model->architecture}};
  const bool ready = model->state == LibraryModelState::ready;
  c.check(files, "model_in_library", ready,
          ready ? model->id + " is ready"
                : model->id + " is " + std::string(to_string(model->state)) +
                      (model->error.empty() ? "" : ": " + model->error));
  std::error_code ec;
  bool present = fs::is_regular_file(model->file, ec) && fs::file_size(model->file, ec) == model->size_bytes;
  c.check(files, "files_present", present,
          present ? model->file.string() : model->file.string() + " is missing or has the wrong size");
  if (present) {
    auto verified = library.file_matches_record(*model);
    c.check(files, "files_verified", verified && *verified,
            !verified ? verified.error().message()
                      : (*verified ? "sha256 " + model->sha256.substr(0, 12) + "... matches"
                                   : "sha256 differs from the recorded one: run `xervo models verify " +
                                         model->id + "`"));
  }
  c.push(std::move(files));
  return {*model, present && ready};
}

// Engine: the ggml backend is linked and llama.cpp (whisper.cpp for a Whisper file) reads the
// architecture. Returns the backend.
ggml_backend_reg_t check_engine(Contract& c, const std::string& backend,
                                const std::optional<LibraryModel>& model) {
  json engine = c.group("engine");
  const std::string& reg_name = local_backends().at(backend);
  ggml_backend_reg_t reg = ggml_backend_reg_by_name(reg_name.c_str());
  c.check(engine, "backend_available", reg != nullptr,
          reg ? "ggml backend " + reg_name + " is linked"
              : "this build of llama.cpp has no " + reg_name + " backend");
  if (model && model->format == library::kWhisperFormat) {
    // A whisper.cpp file: the whisper provider's engine reads it, not llama.cpp; its header is
    // checked again with the provider's own bounds.
    auto read = library::read_model_file(model->file);
    json r = requirement(
        "architecture_supported", read.ok(),
        read ? "whisper.cpp reads 'whisper' (the whisper provider serves it)" : read.error().message());
    r["architecture"] = model->architecture;
    c.add(engine, std::move(r));
  } else if (model) {
    auto a = library::check_architecture(*model);
    json r = requirement("architecture_supported", a.ok, a.detail);
    r["architecture"] = model->architecture;
    c.add(engine, std::move(r));
  }
  c.push(std::move(engine));
  return reg;
}

// Memory: weights plus an f16 KV cache for min(training context, 4096) tokens, against what the
// backend has free.
void check_memory(Contract& c, const std::string& backend, ggml_backend_reg_t reg,
                  const LibraryModel& model) {
  uint64_t needed = model.size_bytes;
  if (auto info = library::read_gguf_info(model.file); info && info->head_count > 0) {
    uint64_t ctx = std::min<uint64_t>(info->context_length ? info->context_length : 4096, 4096);
    uint64_t kv_dim = static_cast<uint64_t>(info->embedding_length) * info->head_count_kv / info->head_count;
    if (model.task != ModelTask::embed && model.task != ModelTask::rerank)
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
  json memory = c.group("memory");
  json mem = requirement(
      "memory", available >= needed,
      std::to_string(needed >> 20) + " MiB needed, " + std::to_string(available >> 20) + " MiB available");
  mem["needed_bytes"] = needed;
  mem["available_bytes"] = available;
  c.add(memory, std::move(mem));
  c.push(std::move(memory));
}

}  // namespace

json resolve_model_dependency_requirements(ModelLibrary& library, std::string_view model_id,
                                           const RequirementsQuery& query) {
  RequirementsQuery q = query;
  if (q.platform.empty()) q.platform = host_platform();
  if (q.backend.empty()) q.backend = "cpu";
  Contract c(model_id, q.platform, q.backend);
  if (auto done = check_profile(c, q.platform, q.backend)) return *done;
  if (q.backend == "openai" || q.backend == "gemini") return check_remote(c, library, model_id, q);
  auto files = check_files(c, library, model_id);
  if (!files.model) return c.finish("missing_requirements");
  auto reg = check_engine(c, q.backend, files.usable ? files.model : std::nullopt);
  check_memory(c, q.backend, reg, *files.model);
  return c.finish("resolved");
}

json resolve_model_dependency_requirements(ModelLibrary& library, std::string_view model_id,
                                           std::string_view platform, std::string_view backend) {
  return resolve_model_dependency_requirements(
      library, model_id, RequirementsQuery{std::string(platform), std::string(backend), json::object()});
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
