// OTLP's binary encoding of spans (OTLP/HTTP with Content-Type application/x-protobuf, the
// OpenTelemetry SDKs' default): an ExportTraceServiceRequest written field by field against the
// published opentelemetry-proto schema (collector/trace/v1, trace/v1, common/v1, resource/v1), so no
// protobuf runtime or generated code is linked. Strings that are not UTF-8 (protobuf requires it)
// have their bad bytes replaced by U+FFFD. Pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/trace.h"
#include "server/otlp_json.h"

namespace xervo::server {

std::string encode_export_request_proto(const std::vector<trace::SpanRecord>& spans,
                                        const OtlpResource& resource);

// partial_success.rejected_spans of an ExportTraceServiceResponse; 0 for an empty body or one this
// cannot read (truncated, wrong wire types).
uint64_t rejected_spans_proto(std::string_view response_body);

// `text` with every byte that does not start or continue a valid UTF-8 sequence replaced by U+FFFD.
std::string valid_utf8(std::string_view text);

}  // namespace xervo::server
