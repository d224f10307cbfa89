#include "server/otlp_json.h"

#include <cmath>
#include <nlohmann/json.hpp>

namespace xervo::server {
namespace {

using nlohmann::json;

json any_value(const trace::AttributeValue& v) {
  struct Visit {
    json operator()(const std::string& s) const { return {{"stringValue", s}}; }
    json operator()(int64_t n) const { return {{"intValue", std::to_string(n)}}; }
    json operator()(bool b) const { return {{"boolValue", b}}; }
    json operator()(double d) const {
      // protobuf's JSON mapping spells the values JSON numbers cannot hold as strings.
      if (std::isnan(d)) return {{"doubleValue", "NaN"}};
      if (std::isinf(d)) return {{"doubleValue", d > 0 ? "Infinity" : "-Infinity"}};
      return {{"doubleValue", d}};
    }
    json operator()(const std::vector<std::string>& list) const {
      json values = json::array();
      for (const auto& s : list) values.push_back({{"stringValue", s}});
      return {{"arrayValue", {{"values", values}}}};
    }
  };
  return std::visit(Visit{}, v);
}

json key_value(const std::string& key, const trace::AttributeValue& v) {
  return {{"key", key}, {"value", any_value(v)}};
}

bool is_root(const trace::SpanId& id) {
  for (uint8_t b : id)
    if (b) return false;
  return true;
}

json span_json(const trace::SpanRecord& s) {
  json out = {{"traceId", trace::to_hex(s.trace_id)},
              {"spanId", trace::to_hex(s.span_id)},
              {"name", s.name},
              {"kind", static_cast<int>(s.kind)},
              {"startTimeUnixNano", std::to_string(s.start_unix_ns)},
              {"endTimeUnixNano", std::to_string(s.end_unix_ns)}};
  if (!is_root(s.parent_span_id)) out["parentSpanId"] = trace::to_hex(s.parent_span_id);
  if (!s.tracestate.empty()) out["traceState"] = s.tracestate;
  json attrs = json::array();
  for (const auto& a : s.attributes) attrs.push_back(key_value(a.key, a.value));
  if (!attrs.empty()) out["attributes"] = std::move(attrs);
  if (s.status != trace::StatusCode::unset) {
    json status = {{"code", static_cast<int>(s.status)}};
    if (!s.status_message.empty()) status["message"] = s.status_message;
    out["status"] = std::move(status);
  }
  return out;
}

}  // namespace

std::string encode_export_request(const std::vector<trace::SpanRecord>& spans, const OtlpResource& resource) {
  json attrs = json::array({key_value("service.name", resource.service_name),
                            key_value("telemetry.sdk.name", std::string("xervo")),
                            key_value("telemetry.sdk.language", std::string("cpp"))});
  for (const auto& [k, v] : resource.attributes)
    if (k != "service.name") attrs.push_back(key_value(k, v));
  json list = json::array();
  for (const auto& s : spans) list.push_back(span_json(s));
  json body = {
      {"resourceSpans",
       json::array({{{"resource", {{"attributes", attrs}}},
                     {"scopeSpans", json::array({{{"scope", {{"name", "xervo"}}}, {"spans", list}}})}}})}};
  // Names and attribute values may hold what a client sent: bytes that are not UTF-8 are replaced.
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

uint64_t rejected_spans(const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  if (!j.is_object()) return 0;
  auto p = j.find("partialSuccess");
  if (p == j.end() || !p->is_object()) return 0;
  auto r = p->find("rejectedSpans");
  if (r == p->end()) return 0;
  if (r->is_number_unsigned()) return r->get<uint64_t>();
  if (r->is_string()) {
    const std::string s = r->get<std::string>();
    if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos) return 0;
    return std::stoull(s);
  }
  return 0;
}

}  // namespace xervo::server
