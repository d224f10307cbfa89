// The times of a transcript segment as remote speech APIs give them: {"start": 1.25, "end": 2.5}
// in seconds (OpenAI's verbose_json, the JSON xervo asks Gemini for). Hostile values never fail the
// call: absent, non-numeric, negative or non-finite times read 0, huge ones are capped at 1e9 s, and
// the end is never before the start. Stateless.
#pragma once

#include <nlohmann/json.hpp>

#include "xervo/transcriber.h"

namespace xervo::net {

void read_segment_times(const nlohmann::json& segment, TranscriptSegment& out);

}  // namespace xervo::net
