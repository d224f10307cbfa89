#include "providers/onnx/ort_library.h"

#include <dlfcn.h>

#include <map>
#include <mutex>

namespace xervo::onnx {
namespace {

std::mutex g_mutex;
std::map<std::filesystem::path, std::weak_ptr<OrtLibrary>> g_open;  // GUARDED_BY(g_mutex)

}  // namespace

Result<std::shared_ptr<OrtLibrary>> OrtLibrary::open(const std::filesystem::path& path) {
  std::lock_guard lock(g_mutex);  // dlopen and CreateEnv once per path, even when loads race
  if (auto it = g_open.find(path); it != g_open.end())
    if (auto lib = it->second.lock()) return lib;
  std::error_code ec;
  if (path.empty() || !std::filesystem::exists(path, ec))
    return Error(ErrorCode::unavailable,
                 "ONNX Runtime is not installed: no library at '" + path.string() +
                     "' (run scripts/bootstrap, or set [providers.onnx] library to a libonnxruntime.so " +
                     "of release 1." + std::to_string(ORT_API_VERSION) + " or later)");
  std::shared_ptr<OrtLibrary> lib(new OrtLibrary());
  lib->path_ = path;
  // RTLD_LOCAL: ONNX Runtime's bundled protobuf and others stay out of the global symbol scope.
  lib->handle_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib->handle_) {
    const char* why = ::dlerror();
    return Error(ErrorCode::unavailable,
                 "cannot load ONNX Runtime from " + path.string() + ": " + (why ? why : "dlopen failed"));
  }
  using GetApiBase = const OrtApiBase* (*)();
  auto get_base = reinterpret_cast<GetApiBase>(::dlsym(lib->handle_, "OrtGetApiBase"));
  const OrtApiBase* base = get_base ? get_base() : nullptr;
  if (!base) return Error(ErrorCode::unavailable, path.string() + " is not ONNX Runtime (no OrtGetApiBase)");
  lib->version_ = base->GetVersionString ? base->GetVersionString() : "?";
  // GetApi returns null for an API version newer than the library: an older ONNX Runtime.
  lib->api_ = base->GetApi(ORT_API_VERSION);
  if (!lib->api_)
    return Error(ErrorCode::unavailable,
                 "ONNX Runtime " + lib->version_ + " at " + path.string() + " does not offer API version " +
                     std::to_string(ORT_API_VERSION) + " (xervo was built against 1." +
                     std::to_string(ORT_API_VERSION) + "): install that release or later");
  OrtEnv* env = nullptr;
  if (auto ok = lib->check(lib->api_->CreateEnv(ORT_LOGGING_LEVEL_ERROR, "xervo", &env),
                           ErrorCode::unavailable, "cannot start ONNX Runtime");
      !ok)
    return ok.error();
  lib->env_ = env;
  g_open[path] = lib;
  return lib;
}

OrtLibrary::~OrtLibrary() {
  if (env_) api_->ReleaseEnv(env_);
  // The library stays mapped: ONNX Runtime's thread pools and static destructors may still run
  // after the last session is released, and unmapping under them would crash at exit.
}

Result<void> OrtLibrary::check(OrtStatus* status, ErrorCode code, const std::string& what) const {
  if (!status) return {};
  std::string message = api_->GetErrorMessage(status);
  api_->ReleaseStatus(status);
  return Error(code, what + ": " + message);
}

}  // namespace xervo::onnx
