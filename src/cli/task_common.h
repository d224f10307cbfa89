// Small pieces shared by the task commands (embed, rerank, generate, chat). Main thread only.
#pragma once

#include <string>
#include <vector>

namespace xervo::cli {

// The task commands print their result on stdout and one error line on stderr; the library's
// info and warning lines would only repeat that. Keeps errors only, unless XERVO_LOG asks for more.
void quiet_library_logs();

// Every line of stdin (without the newline), for texts and documents given through a pipe.
std::vector<std::string> read_stdin_lines();

}  // namespace xervo::cli
