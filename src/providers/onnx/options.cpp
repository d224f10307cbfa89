#include "providers/onnx/options.h"

#include "core/option_fields.h"

namespace xervo::onnx {
namespace {

using options::read_bool;
using options::read_int;
using options::read_string;

constexpr std::string_view kKeys[] = {"library",  "threads", "context_size", "batch_size", "max_inputs",
                                      "truncate", "pooling", "normalize",    "output",     "queue_limit"};

Result<void> apply(const nlohmann::json& j, std::string_view where, Options& o) {
  if (auto r = options::check_keys(j, where, kKeys); !r) return r;
  if (j.is_null()) return {};
  Result<void> r;
  if (!(r = read_string(j, where, "library", o.library))) return r;
  if (!(r = read_string(j, where, "output", o.output))) return r;
  if (!(r = read_int(j, where, "threads", 0, 1024, o.threads))) return r;
  if (!(r = read_int(j, where, "context_size", 0, 1 << 16, o.context_size))) return r;
  if (!(r = read_int(j, where, "batch_size", 1, 4096, o.batch_size))) return r;
  if (!(r = read_int(j, where, "max_inputs", 1, 1 << 20, o.max_inputs))) return r;
  if (!(r = read_int(j, where, "queue_limit", 1, 1 << 20, o.queue_limit))) return r;
  if (!(r = read_bool(j, where, "truncate", o.truncate))) return r;
  if (j.contains("normalize")) {
    bool n = true;
    if (!(r = read_bool(j, where, "normalize", n))) return r;
    o.normalize = n;
  }
  if (j.contains("pooling")) {
    const auto& v = j.at("pooling");
    const std::string s = v.is_string() ? v.get<std::string>() : "";
    if (s == "model")
      o.pooling = Pooling::model;
    else if (s == "mean")
      o.pooling = Pooling::mean;
    else if (s == "cls")
      o.pooling = Pooling::cls;
    else
      return options::option_error(where, "pooling", "expected one of model, mean, cls; got " + v.dump());
  }
  return {};
}

}  // namespace

const std::vector<std::string>& option_keys() {
  static const std::vector<std::string> keys(std::begin(kKeys), std::end(kKeys));
  return keys;
}

Result<Options> parse_options(const nlohmann::json& settings, const nlohmann::json& spec_options,
                              std::string_view default_library) {
  Options o;
  if (auto r = apply(settings, "[providers.onnx]", o); !r) return r.error();
  if (auto r = apply(spec_options, "model", o); !r) return r.error();
  if (o.library.empty()) o.library = std::string(default_library);
  return o;
}

std::string_view to_string(Pooling pooling) {
  switch (pooling) {
    case Pooling::model:
      return "model";
    case Pooling::mean:
      return "mean";
    case Pooling::cls:
      return "cls";
  }
  return "?";
}

}  // namespace xervo::onnx
