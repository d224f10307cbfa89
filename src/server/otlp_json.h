// OTLP's JSON encoding of spans: an ExportTraceServiceRequest (opentelemetry/proto/collector/trace/v1)
// as the OTLP/HTTP specification maps it to JSON: lowerCamelCase field names, enums as integers,
// 64-bit integers as decimal strings, trace and span ids as lowercase hex (not base64, the one place
// where OTLP departs from protobuf's JSON mapping). Pure functions; safe from any thread.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/trace.h"

namespace xervo::server {

// Who emitted the spans: the resource (service.name and the rest) and the instrumentation scope.
struct OtlpResource {
  std::string service_name = "xervo";
  std::vector<std::pair<std::string, std::string>> attributes;
};

// One export request body holding `spans` (any number, any traces).
std::string encode_export_request(const std::vector<trace::SpanRecord>& spans, const OtlpResource& resource);

// The rejected span count of an ExportTraceServiceResponse body ({"partialSuccess": {"rejectedSpans":
// "3"}}): 0 for an empty body, "{}", or a body this cannot read (a success says nothing else).
uint64_t rejected_spans(const std::string& response_body);

}  // namespace xervo::server
