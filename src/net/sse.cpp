#include "net/sse.h"

namespace xervo::net {

SseParser::SseParser(EventCallback on_event, size_t max_event_bytes)
    : on_event_(std::move(on_event)), max_event_bytes_(max_event_bytes) {}

bool SseParser::feed(std::string_view chunk) {
  if (overflowed_ || stopped_) return false;
  size_t start = 0;
  for (size_t i = 0; i < chunk.size(); ++i) {
    const char c = chunk[i];
    if (c != '\n' && c != '\r') {
      after_cr_ = false;
      continue;
    }
    if (c == '\n' && after_cr_ && i == start && line_.empty()) {
      // The '\n' of a "\r\n" pair, possibly split across two pieces.
      after_cr_ = false;
      start = i + 1;
      continue;
    }
    line_.append(chunk.substr(start, i - start));
    after_cr_ = c == '\r';
    start = i + 1;
    std::string line = std::move(line_);
    line_.clear();
    if (!process_line(line)) return false;
  }
  line_.append(chunk.substr(start));
  if (line_.size() + current_.data.size() > max_event_bytes_) {
    overflowed_ = true;
    return false;
  }
  return true;
}

void SseParser::finish() {
  if (!line_.empty() || has_fields_) partial_ = true;
  line_.clear();
  current_.data.clear();
  current_.event.clear();
  has_data_ = has_fields_ = false;
}

bool SseParser::process_line(std::string_view line) {
  if (!bom_checked_) {
    bom_checked_ = true;
    if (line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
  }
  if (line.empty()) return dispatch();
  if (line.front() == ':') return true;  // comment (keep-alive pings)
  std::string_view field = line;
  std::string_view value;
  if (auto colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (value.starts_with(' ')) value.remove_prefix(1);
  }
  has_fields_ = true;
  if (field == "data") {
    if (has_data_) current_.data += '\n';
    current_.data.append(value);
    has_data_ = true;
    if (current_.data.size() > max_event_bytes_) {
      overflowed_ = true;
      return false;
    }
  } else if (field == "event") {
    current_.event.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) current_.id.assign(value);
  }
  // "retry" and unknown fields are ignored, as the standard says.
  return true;
}

bool SseParser::dispatch() {
  const bool had_data = has_data_;
  has_data_ = has_fields_ = false;
  if (!had_data) {  // an event without data is not dispatched
    current_.event.clear();
    return true;
  }
  ++events_;
  const bool go_on = on_event_(current_);
  current_.data.clear();
  current_.event.clear();
  if (!go_on) stopped_ = true;
  return go_on;
}

}  // namespace xervo::net
