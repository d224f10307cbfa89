#include "net/segment_times.h"

#include <algorithm>
#include <cmath>

namespace xervo::net {
namespace {

int64_t millis(const nlohmann::json& segment, const char* key) {
  auto it = segment.find(key);
  if (it == segment.end() || !it->is_number()) return 0;
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < 0) return 0;
  return static_cast<int64_t>(std::min(v, 1e9) * 1000.0 + 0.5);
}

}  // namespace

void read_segment_times(const nlohmann::json& segment, TranscriptSegment& out) {
  out.start_ms = millis(segment, "start");
  out.end_ms = std::max(out.start_ms, millis(segment, "end"));
}

}  // namespace xervo::net
