#include "server/otlp_proto.h"

#include <bit>
#include <cstring>

namespace xervo::server {
namespace {

// Wire types (protobuf encoding): 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
enum Wire : uint32_t { kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5 };

class Writer {
 public:
  void tag(uint32_t field, Wire wire) { varint((uint64_t{field} << 3) | wire); }
  void varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void fixed64(uint32_t field, uint64_t v) {
    tag(field, kFixed64);
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void uint_field(uint32_t field, uint64_t v) {
    if (v == 0) return;  // proto3: a default value is not written
    tag(field, kVarint);
    varint(v);
  }
  void bytes_field(uint32_t field, std::string_view bytes) {
    tag(field, kBytes);
    varint(bytes.size());
    out_.append(bytes);
  }
  void string_field(uint32_t field, std::string_view text) {
    if (text.empty()) return;
    bytes_field(field, valid_utf8(text));
  }
  // A nested message: written by `fill` into its own buffer, then length-prefixed here.
  template <typename Fill>
  void message(uint32_t field, Fill&& fill) {
    Writer inner;
    fill(inner);
    bytes_field(field, inner.out_);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

template <size_t N>
std::string_view id_bytes(const std::array<uint8_t, N>& id) {
  return {reinterpret_cast<const char*>(id.data()), N};
}

bool all_zero(const trace::SpanId& id) {
  for (uint8_t b : id)
    if (b) return false;
  return true;
}

// common.v1.AnyValue: string_value 1, bool_value 2, int_value 3, double_value 4, array_value 5.
void any_value(Writer& w, const trace::AttributeValue& value) {
  struct Visit {
    Writer& w;
    void operator()(const std::string& s) const { w.bytes_field(1, valid_utf8(s)); }
    void operator()(bool b) const {
      w.tag(2, kVarint);
      w.varint(b ? 1 : 0);
    }
    void operator()(int64_t n) const {
      w.tag(3, kVarint);
      w.varint(static_cast<uint64_t>(n));  // int64: two's complement, ten bytes when negative
    }
    void operator()(double d) const { w.fixed64(4, std::bit_cast<uint64_t>(d)); }
    void operator()(const std::vector<std::string>& list) const {
      w.message(5, [&](Writer& array) {  // ArrayValue.values 1
        for (const auto& s : list) array.message(1, [&](Writer& v) { v.bytes_field(1, valid_utf8(s)); });
      });
    }
  };
  std::visit(Visit{w}, value);
}

// common.v1.KeyValue: key 1, value 2.
void key_value(Writer& w, uint32_t field, std::string_view key, const trace::AttributeValue& value) {
  w.message(field, [&](Writer& kv) {
    kv.string_field(1, key);
    kv.message(2, [&](Writer& v) { any_value(v, value); });
  });
}

// trace.v1.Span.
void span(Writer& w, const trace::SpanRecord& s) {
  w.message(2, [&](Writer& m) {  // ScopeSpans.spans 2
    m.bytes_field(1, id_bytes(s.trace_id));
    m.bytes_field(2, id_bytes(s.span_id));
    m.string_field(3, s.tracestate);
    if (!all_zero(s.parent_span_id)) m.bytes_field(4, id_bytes(s.parent_span_id));
    m.string_field(5, s.name);
    m.uint_field(6, static_cast<uint64_t>(s.kind));
    m.fixed64(7, static_cast<uint64_t>(s.start_unix_ns));
    m.fixed64(8, static_cast<uint64_t>(s.end_unix_ns));
    for (const auto& a : s.attributes) key_value(m, 9, a.key, a.value);
    if (s.status != trace::StatusCode::unset || !s.status_message.empty())
      m.message(15, [&](Writer& st) {  // Status: message 2, code 3
        st.string_field(2, s.status_message);
        st.uint_field(3, static_cast<uint64_t>(s.status));
      });
  });
}

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool done() const { return pos_ >= data_.size(); }
  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64 && pos_ < data_.size(); shift += 7) {
      const auto b = static_cast<uint8_t>(data_[pos_++]);
      v |= uint64_t{b & 0x7fu} << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  // Reads one field's tag; the value is then read with value() or skipped with skip().
  bool next(uint32_t& field, uint32_t& wire) {
    uint64_t t = 0;
    if (!varint(t)) return false;
    field = static_cast<uint32_t>(t >> 3);
    wire = static_cast<uint32_t>(t & 7);
    return field != 0;
  }
  bool bytes(std::string_view& out) {
    uint64_t n = 0;
    if (!varint(n) || n > data_.size() - pos_) return false;
    out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool skip(uint32_t wire) {
    uint64_t v = 0;
    std::string_view b;
    switch (wire) {
      case kVarint:
        return varint(v);
      case kBytes:
        return bytes(b);
      case kFixed64:
        return advance(8);
      case kFixed32:
        return advance(4);
      default:
        return false;
    }
  }

 private:
  bool advance(size_t n) {
    if (n > data_.size() - pos_) return false;
    pos_ += n;
    return true;
  }
  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace

std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<uint8_t>(s[i + k]) & 0xc0) == 0x80;
    if (ok && len > 1) {
      // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8 either.
      uint32_t cp = c & (0xff >> (len + 1));
      for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3f);
      const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= min[len] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
    }
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out.append("\xef\xbf\xbd");
      ++i;
    }
  }
  return out;
}

std::string encode_export_request_proto(const std::vector<trace::SpanRecord>& spans,
                                        const OtlpResource& resource) {
  Writer request;
  request.message(1, [&](Writer& rs) {  // ExportTraceServiceRequest.resource_spans 1
    rs.message(1, [&](Writer& res) {    // ResourceSpans.resource 1; Resource.attributes 1
      key_value(res, 1, "service.name", resource.service_name);
      key_value(res, 1, "telemetry.sdk.name", std::string("xervo"));
      key_value(res, 1, "telemetry.sdk.language", std::string("cpp"));
      for (const auto& [k, v] : resource.attributes)
        if (k != "service.name") key_value(res, 1, k, v);
    });
    rs.message(2, [&](Writer& ss) {                                           // ResourceSpans.scope_spans 2
      ss.message(1, [&](Writer& scope) { scope.string_field(1, "xervo"); });  // scope.name 1
      for (const auto& s : spans) span(ss, s);
    });
  });
  return request.take();
}

uint64_t rejected_spans_proto(std::string_view body) {
  Reader r(body);
  uint32_t field = 0, wire = 0;
  while (!r.done() && r.next(field, wire)) {
    if (field == 1 && wire == kBytes) {  // partial_success: ExportTracePartialSuccess
      std::string_view inner;
      if (!r.bytes(inner)) return 0;
      Reader p(inner);
      uint32_t f = 0, w = 0;
      while (!p.done() && p.next(f, w)) {
        if (f == 1 && w == kVarint) {  // rejected_spans
          uint64_t n = 0;
          if (!p.varint(n)) return 0;
          return static_cast<int64_t>(n) < 0 ? 0 : n;
        }
        if (!p.skip(w)) return 0;
      }
      return 0;
    }
    if (!r.skip(wire)) return 0;
  }
  return 0;
}

}  // namespace xervo::server
