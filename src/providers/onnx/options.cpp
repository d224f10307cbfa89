#include "providers/onnx/options.h"

namespace xervo::onnx {
namespace {

Error bad(std::string_view where, std::string_view key, std::string_view what) {
  return Error(ErrorCode::config_invalid,
               std::string(where) + " option '" + std::string(key) + "': " + std::string(what));
}

Result<void> read_int(const nlohmann::json& j, std::string_view where, const char* key, int lo, int hi,
                      int& out) {
  if (!j.contains(key)) return {};
  const auto& v = j.at(key);
  if (!v.is_number_integer()) return bad(where, key, "expected an integer, got " + v.dump());
  const auto x = v.get<int64_t>();
  if (x < lo || x > hi)
    return bad(
        where, key,
        "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(x));
  out = static_cast<int>(x);
  return {};
}

Result<void> read_bool(const nlohmann::json& j, std::string_view where, const char* key, bool& out) {
  if (!j.contains(key)) return {};
  const auto& v = j.at(key);
  if (!v.is_boolean()) return bad(where, key, "expected true or false, got " + v.dump());
  out = v.get<bool>();
  return {};
}

Result<void> read_string(const nlohmann::json& j, std::string_view where, const char* key, std::string& out) {
  if (!j.contains(key)) return {};
  const auto& v = j.at(key);
  if (!v.is_string() || v.get<std::string>().size() > 4096)
    return bad(where, key, "expected a string (at most 4096 bytes), got " + v.dump().substr(0, 80));
  out = v.get<std::string>();
  return {};
}

Result<void> apply(const nlohmann::json& j, std::string_view where, Options& o) {
  if (j.is_null()) return {};
  if (!j.is_object()) return Error(ErrorCode::config_invalid, std::string(where) + " must be a table/object");
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (const auto& k : option_keys()) known = known || k == key;
    if (!known) {
      std::string list;
      for (const auto& k : option_keys()) list += (list.empty() ? "" : ", ") + k;
      return bad(where, key, "unknown option (known: " + list + ")");
    }
  }
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
      return bad(where, "pooling", "expected one of model, mean, cls; got " + v.dump());
  }
  return {};
}

}  // namespace

const std::vector<std::string>& option_keys() {
  static const std::vector<std::string> keys = {"library",    "threads",    "context_size", "batch_size",
                                                "max_inputs", "truncate",   "pooling",      "normalize",
                                                "output",     "queue_limit"};
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
