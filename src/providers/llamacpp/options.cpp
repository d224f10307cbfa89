#include "providers/llamacpp/options.h"

#include "core/option_fields.h"

namespace xervo::llamacpp {
namespace {

using options::read_bool;
using options::read_int;

constexpr std::string_view kKeys[] = {
    "context_size", "threads",    "batch_size", "parallel",    "mmap", "mlock",     "pooling",
    "normalize",    "gpu_layers", "truncate",   "queue_limit", "pull", "gather_ms", "template_timeout_ms",
    "gpu_margin_mb"};

Result<void> apply(const nlohmann::json& j, std::string_view where, Options& o) {
  if (auto r = options::check_keys(j, where, kKeys); !r) return r;
  if (j.is_null()) return {};
  Result<void> r;
  if (!(r = read_int(j, where, "context_size", 0, 1 << 24, o.context_size))) return r;
  if (!(r = read_int(j, where, "threads", 0, 1024, o.threads))) return r;
  if (!(r = read_int(j, where, "batch_size", 0, 1 << 20, o.batch_size))) return r;
  if (!(r = read_int(j, where, "parallel", 0, 256, o.parallel))) return r;
  if (j.contains("gpu_layers") && j.at("gpu_layers").is_string()) {
    if (j.at("gpu_layers") != "auto")
      return options::option_error(where, "gpu_layers", "expected a number of layers, -1 (all) or \"auto\"");
    o.gpu_layers_auto = true;
  } else {
    o.gpu_layers_auto = o.gpu_layers_auto && !j.contains("gpu_layers");
    if (!(r = read_int(j, where, "gpu_layers", -1, 100000, o.gpu_layers))) return r;
  }
  if (!(r = read_int(j, where, "gpu_margin_mb", 0, 1 << 24, o.gpu_margin_mb))) return r;
  if (!(r = read_int(j, where, "queue_limit", 1, 1 << 20, o.queue_limit))) return r;
  if (!(r = read_int(j, where, "gather_ms", 0, 1000, o.gather_ms))) return r;
  if (!(r = read_int(j, where, "template_timeout_ms", 100, 600000, o.template_timeout_ms))) return r;
  if (!(r = read_bool(j, where, "mmap", o.mmap))) return r;
  if (!(r = read_bool(j, where, "mlock", o.mlock))) return r;
  if (!(r = read_bool(j, where, "normalize", o.normalize))) return r;
  if (!(r = read_bool(j, where, "truncate", o.truncate))) return r;
  if (!(r = read_bool(j, where, "pull", o.pull))) return r;
  if (j.contains("pooling")) {
    const auto& v = j.at("pooling");
    const std::string s = v.is_string() ? v.get<std::string>() : "";
    if (s == "none")
      o.pooling = Pooling::none;
    else if (s == "mean")
      o.pooling = Pooling::mean;
    else if (s == "cls")
      o.pooling = Pooling::cls;
    else if (s == "last")
      o.pooling = Pooling::last;
    else if (s == "rank")
      o.pooling = Pooling::rank;
    else
      return options::option_error(where, "pooling",
                                   "expected one of none, mean, cls, last, rank; got " + v.dump());
  }
  return {};
}

}  // namespace

Result<Options> parse_options(const nlohmann::json& settings, const nlohmann::json& spec_options) {
  Options o;
  if (auto r = apply(settings, "[providers.llamacpp]", o); !r) return r.error();
  if (auto r = apply(spec_options, "model", o); !r) return r.error();
  return o;
}

std::string_view to_string(Pooling pooling) {
  switch (pooling) {
    case Pooling::model:
      return "model";
    case Pooling::none:
      return "none";
    case Pooling::mean:
      return "mean";
    case Pooling::cls:
      return "cls";
    case Pooling::last:
      return "last";
    case Pooling::rank:
      return "rank";
  }
  return "?";
}

}  // namespace xervo::llamacpp
