// Shared pieces of the `xervo models ...` subcommands: opening the library named by the config,
// table and size formatting, and the terminal check for progress bars.
#pragma once

#if XERVO_HAVE_LIBRARY

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "xervo/config.h"
#include "xervo/library.h"

namespace xervo::cli {

// The library of the config's [library] table (XERVO_HOME otherwise); throws on failure.
std::shared_ptr<ModelLibrary> open_library(const Config& config);
std::shared_ptr<ModelLibrary> open_library(const GlobalOptions& globals);
// The [library] options of the config; throws config_invalid naming file, line and key.
LibraryOptions library_options(const Config& config);
// "1.2 GiB", "830 MiB", "12 KiB".
std::string human_size(uint64_t bytes);
// "4.2G", "500M", "1024" -> bytes; throws invalid_input.
uint64_t parse_size(const std::string& text);
// Prints rows with columns padded to the widest cell (first row is the header).
void print_table(const std::vector<std::vector<std::string>>& rows);
bool stderr_is_terminal();
void print_json(const nlohmann::json& j);

}  // namespace xervo::cli

#endif
