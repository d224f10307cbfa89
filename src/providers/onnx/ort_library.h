// ONNX Runtime, loaded at run time: dlopen of libonnxruntime, OrtGetApiBase()->GetApi() at the
// API version the header was compiled for, one OrtEnv per library, and RAII for the C handles.
// xervo binaries start without the library; a model load names the file that is missing. One
// OrtLibrary per path is shared by every model (OrtEnv is process-wide state in ONNX Runtime).
// Thread-safe: open() may race; the OrtApi functions used here are safe from any thread.
#pragma once

#include <onnxruntime_c_api.h>

#include <filesystem>
#include <memory>
#include <string>

#include "xervo/error.h"

namespace xervo::onnx {

class OrtLibrary {
 public:
  // The library at `path`, loaded once per process (later calls share it). unavailable with the
  // path and dlerror() when it cannot be loaded, or when it does not offer ORT_API_VERSION.
  static Result<std::shared_ptr<OrtLibrary>> open(const std::filesystem::path& path);

  ~OrtLibrary();
  OrtLibrary(const OrtLibrary&) = delete;
  OrtLibrary& operator=(const OrtLibrary&) = delete;

  const OrtApi& api() const { return *api_; }
  OrtEnv* env() const { return env_; }
  const std::string& version() const { return version_; }  // "1.20.1"
  const std::filesystem::path& path() const { return path_; }

  // The message of `status` (then released), as an Error of `code` prefixed with `what`; ok for null.
  Result<void> check(OrtStatus* status, ErrorCode code, const std::string& what) const;

 private:
  OrtLibrary() = default;

  void* handle_ = nullptr;
  const OrtApi* api_ = nullptr;
  OrtEnv* env_ = nullptr;
  std::string version_;
  std::filesystem::path path_;
};

// unique_ptr deleters that call the matching OrtApi Release function.
template <typename T, void (*OrtApi::*Release)(T*)>
struct OrtRelease {
  const OrtApi* api = nullptr;
  void operator()(T* p) const {
    if (p && api) (api->*Release)(p);
  }
};
using SessionPtr = std::unique_ptr<OrtSession, OrtRelease<OrtSession, &OrtApi::ReleaseSession>>;
using SessionOptionsPtr =
    std::unique_ptr<OrtSessionOptions, OrtRelease<OrtSessionOptions, &OrtApi::ReleaseSessionOptions>>;
using ValuePtr = std::unique_ptr<OrtValue, OrtRelease<OrtValue, &OrtApi::ReleaseValue>>;
using MemoryInfoPtr = std::unique_ptr<OrtMemoryInfo, OrtRelease<OrtMemoryInfo, &OrtApi::ReleaseMemoryInfo>>;
using RunOptionsPtr = std::unique_ptr<OrtRunOptions, OrtRelease<OrtRunOptions, &OrtApi::ReleaseRunOptions>>;
using TypeInfoPtr = std::unique_ptr<OrtTypeInfo, OrtRelease<OrtTypeInfo, &OrtApi::ReleaseTypeInfo>>;
using ShapeInfoPtr =
    std::unique_ptr<OrtTensorTypeAndShapeInfo,
                    OrtRelease<OrtTensorTypeAndShapeInfo, &OrtApi::ReleaseTensorTypeAndShapeInfo>>;

}  // namespace xervo::onnx
