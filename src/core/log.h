// Logging for the library: spdlog's default logger, level from XERVO_LOG (trace, debug, info, warn,
// error, off; default info). Safe from any thread.
#pragma once

#include <spdlog/spdlog.h>

namespace xervo {

// Applies XERVO_LOG once; later calls do nothing. Called by every front door at start.
void init_logging();

}  // namespace xervo
