// An incremental parser for server-sent events (text/event-stream) as the remote generation APIs
// stream them: feed it the body in arbitrary pieces, it calls back once per complete event.
// Handles \n, \r\n and \r line ends (even split across pieces), multi-line data, comments, `event:`
// and `id:` fields. Thread-safety: one parser per stream, used by one thread at a time.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace xervo::net {

struct SseEvent {
  std::string event;  // the `event:` field; empty means "message"
  std::string data;   // `data:` lines joined with '\n'
  std::string id;     // the last `id:` field seen on the stream
};

class SseParser {
 public:
  // Return false from the callback to stop: feed() then returns false too.
  using EventCallback = std::function<bool(const SseEvent& event)>;

  // An event (or a single line) larger than max_event_bytes makes feed() fail: a hostile server
  // cannot grow memory without bound.
  explicit SseParser(EventCallback on_event, size_t max_event_bytes = 16u << 20);

  // Consumes one piece of the stream. False when the callback asked to stop or an event is too large
  // (then overflowed() is true); the parser must not be fed again after that.
  bool feed(std::string_view chunk);
  // The stream ended. As the SSE standard says, an event without its terminating blank line is
  // dropped; has_partial_event() tells whether that happened.
  void finish();

  bool overflowed() const { return overflowed_; }
  bool has_partial_event() const { return partial_; }
  size_t events() const { return events_; }

 private:
  bool process_line(std::string_view line);
  bool dispatch();

  EventCallback on_event_;
  size_t max_event_bytes_;
  std::string line_;       // the incomplete line carried over between feeds
  bool after_cr_ = false;  // the last piece ended with '\r': a leading '\n' of the next belongs to it
  bool bom_checked_ = false;
  SseEvent current_;
  bool has_data_ = false;
  bool has_fields_ = false;
  bool partial_ = false;
  bool overflowed_ = false;
  bool stopped_ = false;
  size_t events_ = 0;
};

}  // namespace xervo::net
