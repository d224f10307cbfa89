#include "providers/plugin/plugin_library.h"

#include <dlfcn.h>

#include <cstring>
#include <mutex>

namespace xervo {
namespace {

Error plugin_error(const std::filesystem::path& path, const std::string& what) {
  return Error(ErrorCode::model_load_failed, "plugin " + path.string() + ": " + what);
}

bool valid_id(const char* id) {
  if (!id) return false;
  const size_t n = strnlen(id, 65);
  if (n == 0 || n > 64) return false;
  for (size_t i = 0; i < n; ++i) {
    const char c = id[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

// dlerror() is process-wide state: one dlopen/dlsym + dlerror pair at a time.
std::mutex& dl_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

ErrorCode plugin_error_code(int status) {
  switch (status) {
    case XERVO_PLUGIN_INVALID_INPUT:
      return ErrorCode::invalid_input;
    case XERVO_PLUGIN_CONFIG_INVALID:
      return ErrorCode::config_invalid;
    case XERVO_PLUGIN_MODEL_NOT_FOUND:
      return ErrorCode::model_not_found;
    case XERVO_PLUGIN_MODEL_LOAD_FAILED:
      return ErrorCode::model_load_failed;
    case XERVO_PLUGIN_CONTEXT_OVERFLOW:
      return ErrorCode::context_overflow;
    case XERVO_PLUGIN_INFERENCE_FAILED:
      return ErrorCode::inference_failed;
    case XERVO_PLUGIN_CANCELLED:
      return ErrorCode::cancelled;
    case XERVO_PLUGIN_UNAVAILABLE:
      return ErrorCode::unavailable;
    default:
      return ErrorCode::internal;
  }
}

Result<std::shared_ptr<const PluginLibrary>> open_plugin_library(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return plugin_error(path, "not a regular file");
  void* handle = nullptr;
  xervo_plugin_abi_version_fn abi_version = nullptr;
  xervo_plugin_get_api_fn get_api = nullptr;
  {
    std::lock_guard lock(dl_mutex());
    dlerror();
    // RTLD_LOCAL: two plugins' own symbols never mix; RTLD_NOW: a missing dependency fails here.
    handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char* why = dlerror();
      return plugin_error(path, std::string("cannot load as a shared library: ") + (why ? why : "unknown"));
    }
    abi_version = reinterpret_cast<xervo_plugin_abi_version_fn>(dlsym(handle, "xervo_plugin_abi_version"));
    get_api = reinterpret_cast<xervo_plugin_get_api_fn>(dlsym(handle, "xervo_plugin_get_api"));
  }
  // Never dlclosed, even on failure: a library's constructors may have registered state (atexit,
  // threads) whose code must stay mapped.
  if (!abi_version)
    return plugin_error(path, "missing symbol xervo_plugin_abi_version (not a xervo plugin?)");
  const uint32_t version = abi_version();
  if (version != XERVO_PLUGIN_ABI_VERSION)
    return plugin_error(path, "built for plugin ABI version " + std::to_string(version) +
                                  ", this xervo loads version " + std::to_string(XERVO_PLUGIN_ABI_VERSION) +
                                  ": rebuild it against this xervo's plugin.h");
  if (!get_api) return plugin_error(path, "missing symbol xervo_plugin_get_api");
  const xervo_plugin_api* api = get_api();
  if (!api) return plugin_error(path, "xervo_plugin_get_api() returned NULL");
  if (api->abi_version != XERVO_PLUGIN_ABI_VERSION)
    return plugin_error(path, "its function table says ABI version " + std::to_string(api->abi_version) +
                                  ", this xervo loads version " + std::to_string(XERVO_PLUGIN_ABI_VERSION));
  if (api->struct_size < sizeof(xervo_plugin_api))
    return plugin_error(path, "its function table is " + std::to_string(api->struct_size) +
                                  " bytes, version " + std::to_string(XERVO_PLUGIN_ABI_VERSION) + " has " +
                                  std::to_string(sizeof(xervo_plugin_api)));
  if (!valid_id(api->id)) return plugin_error(path, "its id must be 1 to 64 of [a-z0-9_-]");
  const std::string id = api->id;
  const uint32_t known = XERVO_PLUGIN_TASK_EMBED | XERVO_PLUGIN_TASK_RERANK | XERVO_PLUGIN_TASK_GENERATE;
  if (api->tasks == 0 || (api->tasks & ~known) != 0)
    return plugin_error(path, "plugin '" + id + "' declares tasks " + std::to_string(api->tasks) +
                                  " (a set of XERVO_PLUGIN_TASK_EMBED, _RERANK, _GENERATE; at least one)");
  auto missing = [&](const char* fn) {
    return plugin_error(path, "plugin '" + id + "' lacks the function " + fn);
  };
  if (!api->load) return missing("load");
  if (!api->unload) return missing("unload");
  if ((api->tasks & XERVO_PLUGIN_TASK_EMBED) && !api->embed)
    return missing("embed (it declares the embed task)");
  if ((api->tasks & XERVO_PLUGIN_TASK_RERANK) && !api->rerank)
    return missing("rerank (it declares the rerank task)");
  if ((api->tasks & XERVO_PLUGIN_TASK_GENERATE) && !api->generate)
    return missing("generate (it declares the generate task)");

  auto lib = std::make_shared<PluginLibrary>();
  lib->path = path;
  lib->api = api;
  lib->id = id;
  if (api->version) lib->version.assign(api->version, strnlen(api->version, 128));
  return std::shared_ptr<const PluginLibrary>(std::move(lib));
}

}  // namespace xervo
