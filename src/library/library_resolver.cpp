// make_library_resolver: "library:ID", "hf:ORG/REPO[:QUANT]", "auto:TASK" and bare library ids for
// local providers. Opens the library on first use, pulls when allowed (always for "auto:"), and
// refuses models whose requirements are not resolved.
#include <condition_variable>
#include <map>
#include <mutex>
#include <stop_token>
#include <thread>

#include "library/auto_resolve.h"
#include "xervo/library.h"

namespace xervo {
namespace {

class LibraryResolver final : public ModelResolver {
 public:
  LibraryResolver(nlohmann::json settings, std::filesystem::path config_file, AutoModelContext auto_context)
      : settings_(std::move(settings)),
        config_file_(std::move(config_file)),
        auto_context_(std::move(auto_context)) {}

  // Schemes always; a bare "publisher/name" only when the library has that model, so a path of the
  // same shape still reaches the provider as a path.
  bool handles(std::string_view id) const override {
    if (id.starts_with("library:") || id.starts_with("hf:") || id.starts_with("auto:")) return true;
    if (!is_library_id(id)) return false;
    auto lib = library();
    return lib && (*lib)->get(id).ok();
  }

  Result<std::filesystem::path> resolve(std::string_view id, bool allow_pull) override {
    return resolve_until(id, allow_pull, {});
  }

  // A pull stops midway (keeping what it downloaded) on the load's stop request or its deadline.
  Result<std::filesystem::path> resolve(std::string_view id, bool allow_pull,
                                        const LoadControl& control) override {
    const std::string what = "resolving " + std::string(id);
    if (control.should_stop()) return control.stop_error(what);
    std::stop_source stop;
    std::stop_callback forward(control.cancel, [&stop] { stop.request_stop(); });
    std::jthread timer;
    if (control.deadline)
      timer = std::jthread([&stop, deadline = *control.deadline](std::stop_token done) {
        std::mutex mu;
        std::condition_variable_any cv;
        std::unique_lock lock(mu);
        cv.wait_until(lock, done, deadline, [] { return false; });
        if (!done.stop_requested()) stop.request_stop();  // the deadline passed first
      });
    auto result = resolve_until(id, allow_pull, stop.get_token());
    if (!result.ok() && control.should_stop()) return control.stop_error(what);
    return result;
  }

 private:
  Result<std::filesystem::path> resolve_until(std::string_view id, bool allow_pull, std::stop_token stop) {
    auto lib = library();
    if (!lib) return lib.error();
    std::string chosen;  // "auto:TASK": the catalog's pick, in the library now (auto_resolve.h)
    if (id.starts_with("auto:")) {
      auto picked = auto_choice(**lib, id, stop);
      if (!picked) return picked.error();
      chosen = "library:" + *picked;
      id = chosen;
    }
    auto model = (*lib)->find(id);
    if (!model && model.error().code() == ErrorCode::model_not_found && allow_pull && id.starts_with("hf:"))
      model = (*lib)->pull(id, {}, std::move(stop));
    if (!model) return model.error();
    std::string backend = settings_.is_object() ? settings_.value("backend", "cpu") : "cpu";
    auto contract = resolve_model_dependency_requirements(**lib, model->id, "", backend);
    if (contract.value("state", "") != "resolved") {
      std::string reasons;
      for (const auto& e : contract["errors"])
        reasons += (reasons.empty() ? "" : "; ") + e.value("message", "");
      return Error(ErrorCode::not_ready, std::string(id) + " is not ready (" + contract.value("state", "") +
                                             "): " + reasons + " (details: xervo models requirements " +
                                             model->id + ")");
    }
    return model->file;
  }

  // The first choice for an "auto:TASK" id holds while the library keeps that model: a load's
  // estimate and the load itself, and every later load in this process, get the same file (free
  // memory changes as models load; vectors of two embedders do not compare).
  Result<std::string> auto_choice(ModelLibrary& lib, std::string_view id, std::stop_token stop) {
    std::string cached;
    {
      std::lock_guard lock(mutex_);
      if (auto it = auto_choices_.find(std::string(id)); it != auto_choices_.end()) cached = it->second;
    }
    if (!cached.empty()) {
      auto model = lib.get(cached);
      if (model && model->state == LibraryModelState::ready) return cached;
    }
    auto picked =
        library::resolve_auto_model(lib, id, settings_, config_file_, auto_context_, std::move(stop));
    if (!picked) return picked.error();
    std::lock_guard lock(mutex_);
    auto_choices_[std::string(id)] = *picked;
    return picked;
  }

  Result<std::shared_ptr<ModelLibrary>> library() const {
    std::lock_guard lock(mutex_);
    if (library_) return library_;
    auto options = library_options_from_json(settings_, config_file_);
    if (!options) return options.error();
    auto lib = ModelLibrary::open(*options);
    if (!lib) return lib.error();
    library_ = *lib;
    return library_;
  }

  nlohmann::json settings_;
  std::filesystem::path config_file_;
  AutoModelContext auto_context_;
  mutable std::mutex mutex_;
  mutable std::shared_ptr<ModelLibrary> library_;  // GUARDED_BY(mutex_), opened on first use
  std::map<std::string, std::string> auto_choices_;  // GUARDED_BY(mutex_): "auto:embed" -> library id
};

}  // namespace

std::shared_ptr<ModelResolver> make_library_resolver(const nlohmann::json& library_settings,
                                                     const std::filesystem::path& config_file,
                                                     AutoModelContext auto_context) {
  return std::make_shared<LibraryResolver>(library_settings, config_file, std::move(auto_context));
}

}  // namespace xervo
