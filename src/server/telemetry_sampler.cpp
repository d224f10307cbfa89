#include "server/telemetry_sampler.h"

#include <algorithm>
#include <cmath>

namespace xervo::server {
namespace {
constexpr uint64_t kRandomSpace = uint64_t{1} << 56;
}

TraceSampler::TraceSampler(const std::string& name, double ratio) {
  std::string root = name;
  if (root.starts_with("parentbased_")) {
    parent_based_ = true;
    root = root.substr(12);
  }
  root_ = root == "always_off" ? Root::off : root == "traceidratio" ? Root::ratio : Root::on;
  ratio = std::clamp(ratio, 0.0, 1.0);
  threshold_ = ratio >= 1.0 ? kRandomSpace : static_cast<uint64_t>(std::ldexp(ratio, 56));
}

bool TraceSampler::should_sample(const trace::TraceId& id,
                                 const std::optional<trace::SpanContext>& parent) const {
  if (parent_based_ && parent) return parent->sampled;
  switch (root_) {
    case Root::on:
      return true;
    case Root::off:
      return false;
    case Root::ratio: {
      // W3C Trace Context level 2 makes the rightmost 7 bytes of a trace id the random part.
      uint64_t r = 0;
      for (size_t i = 9; i < 16; ++i) r = r << 8 | id[i];
      return r < threshold_;
    }
  }
  return false;
}

}  // namespace xervo::server
