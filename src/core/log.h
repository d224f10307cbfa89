// Logging for the library: spdlog's default logger, level from XERVO_LOG (trace, debug, info, warn,
// error, off; default info). Safe from any thread.
#pragma once

#include <spdlog/spdlog.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace xervo {

// Applies XERVO_LOG once; later calls do nothing. Called by every front door at start.
void init_logging();

// The most bytes of escaped text log_escape() keeps before it cuts the value short.
inline constexpr size_t kLogEscapeMaxBytes = 256;

// `text` made safe to put inside double quotes on one log line, whoever wrote it (a client, a model
// file): backslash and `"` get a backslash, \n \r \t stay readable as such, other control bytes and
// bytes that are not valid UTF-8 become \xHH, and Unicode line/paragraph separators, C1 controls and
// bidirectional overrides become \u{HHHH}, so nothing can forge a line or reorder what a reader sees.
// Valid UTF-8 text is kept. Longer results are cut at kLogEscapeMaxBytes (never inside an escape or
// a character) and end in "…[N bytes]", N the length of the whole input.
std::string log_escape(std::string_view text);

}  // namespace xervo
