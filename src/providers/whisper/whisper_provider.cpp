// The whisper provider: speech to text with whisper.cpp (built against llama.cpp's ggml by
// scripts/bootstrap; docs/providers/whisper.md). Model ids are whisper.cpp model files, or ids the
// resolver turns into files ("library:ID").
#include <whisper.h>

#include <array>
#include <string_view>

#include "core/log.h"
#include "core/option_fields.h"
#include "core/whisper_file.h"
#include "providers/llamacpp/llama_backend.h"
#include "providers/whisper/whisper_device.h"
#include "providers/whisper/whisper_model.h"
#include "xervo/providers.h"

namespace xervo::whisper {
namespace {

constexpr std::array<std::string_view, 6> kOptionKeys = {"beam_size", "gpu_margin_mb", "language",
                                                         "max_audio_seconds", "threads", "use_gpu"};

Result<WhisperOptions> parse_options(const nlohmann::json& settings, const nlohmann::json& spec_options,
                                     const std::string& where) {
  WhisperOptions o;
  for (const auto& [table, place] : {std::pair{&settings, std::string("[providers.whisper]")},
                                     std::pair{&spec_options, where + " options"}}) {
    if (table->is_null()) continue;
    if (auto r = options::check_keys(*table, place, kOptionKeys); !r) return r.error();
    if (auto r = options::read_int(*table, place, "threads", 0, 256, o.threads); !r) return r.error();
    if (auto r = options::read_int(*table, place, "beam_size", 0, 8, o.beam_size); !r) return r.error();
    if (auto r = options::read_string(*table, place, "language", o.language, 16); !r) return r.error();
    if (auto r = options::read_bool(*table, place, "use_gpu", o.use_gpu); !r) return r.error();
    if (auto r = options::read_int(*table, place, "gpu_margin_mb", 0, 1 << 24, o.gpu_margin_mb); !r)
      return r.error();
    int max_s = static_cast<int>(o.max_audio_seconds);
    if (auto r = options::read_int(*table, place, "max_audio_seconds", 1, 24 * 3600, max_s); !r)
      return r.error();
    o.max_audio_seconds = max_s;
  }
  return o;
}

// What whisper.cpp allocates besides the weights, for one decoder (greedy) or `beam` decoders: the
// self-attention KV cache per decoder, the cross-attention cache of the encoder output, and compute
// buffers of the encoder (the widest: 1500 positions). An estimate from the shapes (f16 caches).
MemoryEstimate estimate_memory(const WhisperFileFacts& f, const WhisperOptions& o) {
  MemoryEstimate m;
  m.weights = f.file_size;
  const uint64_t decoders = static_cast<uint64_t>(std::max(1, o.beam_size));
  const uint64_t self_kv = 2ull * f.n_text_layer * f.n_text_ctx * f.n_text_state * 2 * decoders;
  const uint64_t cross_kv = 2ull * f.n_text_layer * f.n_audio_ctx * f.n_text_state * 2;
  m.kv_cache = self_kv + cross_kv;
  const uint64_t enc = static_cast<uint64_t>(f.n_audio_ctx) * f.n_audio_state;
  m.compute = enc * 4 * 12 + static_cast<uint64_t>(f.n_audio_head) * f.n_audio_ctx * f.n_audio_ctx * 4 +
              static_cast<uint64_t>(f.n_mels) * 3000 * 4 * 4;
  return m;
}

class WhisperProvider final : public ModelProvider {
 public:
  WhisperProvider(nlohmann::json settings, std::shared_ptr<ModelResolver> resolver)
      : settings_(std::move(settings)), resolver_(std::move(resolver)) {}

  std::string id() const override { return "whisper"; }
  ProviderCapabilities capabilities() const override {
    ProviderCapabilities caps;
    caps.tasks = {ModelTask::transcribe};
    caps.streaming = true;
    return caps;
  }
  std::vector<std::string> setting_keys() const override { return {kOptionKeys.begin(), kOptionKeys.end()}; }

  ProviderHealth health() override {
    ProviderHealth h;
    h.detail = std::string("whisper.cpp ") + whisper_version();
    return h;
  }

  using ModelProvider::load;
  Result<LoadedModel> load(const ModelSpec& spec, const ProgressCallback& progress) override {
    return load(spec, progress, LoadControl{});
  }

  Result<LoadedModel> load(const ModelSpec& spec, const ProgressCallback& progress,
                           const LoadControl& control) override {
    auto prepared = prepare(spec, control);
    if (!prepared) return prepared.error();
    auto& [path, facts, o] = *prepared;
    const std::string name = path.string();
    if (control.should_stop() || !progress(0.0f, "reading")) return control.stop_error("loading " + name);
    ensure_whisper_logging();
    std::string device = o.use_gpu ? gpu_device_name() : "";
    std::string placement = !o.use_gpu        ? "cpu"
                            : device.empty() ? "cpu (no GPU device; use_gpu has no effect)"
                                             : device;
    if (const std::string short_of = device.empty() ? "" : room_on(device, estimate_memory(facts, o).total(),
                                                                    uint64_t(o.gpu_margin_mb) << 20);
        !short_of.empty()) {
      // whisper.cpp does not fit its load to the device: a device short of memory is not tried.
      spdlog::warn("whisper: {} on the CPU: {}", name, short_of);
      placement = "cpu (" + short_of + ")";
      device.clear();
    }
    auto made = create(name, !device.empty());
    if (!made && !device.empty() && !control.should_stop()) {
      // The device failed to initialise or could not hold the model: the CPU still serves.
      spdlog::warn("whisper: loading {} on {} failed ({}); loading it on the CPU", name, device,
                   made.error().message());
      placement = "cpu (fallback: " + made.error().message() + ")";
      made = create(name, false);
    }
    if (!made) return made.error();
    auto& [ctx, state] = *made;
    if (control.should_stop()) return control.stop_error("loading " + name);
    const bool on_gpu = !device.empty() && placement == device;

    LoadedModel loaded;
    loaded.placement = placement;
    loaded.memory = on_device(estimate_memory(facts, o), on_gpu ? device : "");
    loaded.memory_bytes = loaded.memory.total();
    loaded.info = {{"engine", std::string("whisper.cpp ") + whisper_version()},
                   {"file", name},
                   {"file_size", facts.file_size},
                   {"multilingual", facts.multilingual()},
                   {"n_audio_layer", facts.n_audio_layer},
                   {"n_text_layer", facts.n_text_layer},
                   {"n_audio_state", facts.n_audio_state},
                   {"n_mels", facts.n_mels},
                   {"beam_size", o.beam_size},
                   {"use_gpu", o.use_gpu},
                   {"device", on_gpu ? device : "CPU"}};
    std::error_code ec;
    auto mtime = std::filesystem::last_write_time(path, ec).time_since_epoch().count();
    loaded.fingerprint =
        "whisper|" + name + "|" + std::to_string(facts.file_size) + "|" + std::to_string(mtime);
    loaded.transcriber =
        std::make_shared<WhisperTranscriber>(std::move(ctx), std::move(state), facts, o, display_name(spec));
    if (progress) progress(1.0f, "loaded");
    spdlog::info("whisper: loaded {} ({} + {} layers, {}; {})", name, facts.n_audio_layer, facts.n_text_layer,
                 facts.multilingual() ? "multilingual" : "English only", placement);
    return loaded;
  }

  Result<MemoryEstimate> estimate(const ModelSpec& spec, const LoadControl& control) override {
    auto prepared = prepare(spec, control);
    if (!prepared) return prepared.error();
    const auto& o = std::get<2>(*prepared);
    return on_device(estimate_memory(std::get<1>(*prepared), o), o.use_gpu ? gpu_device_name() : "");
  }

 private:
  // whisper.cpp's context and state for `name`, on the GPU device or the CPU; the reason (the first
  // error whisper.cpp or ggml logged) when either is refused.
  static Result<std::pair<ContextPtr, StatePtr>> create(const std::string& name, bool use_gpu) {
    whisper_context_params cp = whisper_context_default_params();
    cp.use_gpu = use_gpu;
    cp.flash_attn = false;
    llamacpp::LogCapture capture;
    ContextPtr ctx(whisper_init_from_file_with_params_no_state(name.c_str(), cp));
    StatePtr state(ctx ? whisper_init_state(ctx.get()) : nullptr);
    llamacpp::route_ggml_log();  // whisper.cpp gave ggml its own log callback again
    if (!ctx) return Error(ErrorCode::model_load_failed, capture.reason("whisper.cpp could not load " + name));
    if (!state)
      return Error(ErrorCode::model_load_failed, capture.reason("whisper.cpp could not allocate its state for " + name));
    return std::pair{std::move(ctx), std::move(state)};
  }

  Result<std::tuple<std::filesystem::path, WhisperFileFacts, WhisperOptions>> prepare(
      const ModelSpec& spec, const LoadControl& control) {
    if (spec.task != ModelTask::transcribe)
      return Error(ErrorCode::capability_mismatch,
                   "the whisper provider transcribes speech; it cannot " + std::string(to_string(spec.task)));
    auto o = parse_options(settings_, spec.options, "alias '" + display_name(spec) + "'");
    if (!o) return o.error();
    std::filesystem::path path = spec.model;
    if (resolver_ && resolver_->handles(spec.model)) {
      auto resolved = resolver_->resolve(spec.model, true, control);
      if (!resolved) return resolved.error();
      path = *resolved;
    }
    auto facts = read_whisper_file(path);
    if (!facts) return facts.error();
    return std::tuple{path, *facts, *o};
  }

  nlohmann::json settings_;
  std::shared_ptr<ModelResolver> resolver_;
};

}  // namespace
}  // namespace xervo::whisper

namespace xervo {

std::shared_ptr<ModelProvider> make_whisper_provider(const nlohmann::json& settings,
                                                     std::shared_ptr<ModelResolver> resolver) {
  return std::make_shared<whisper::WhisperProvider>(settings, std::move(resolver));
}

}  // namespace xervo
