// Dotted key paths as config errors print them ("providers.openai.base_url",
// "models.\"embed/x\".options.threads"), shared by the parser that records Config::locations and by
// whoever looks a key's line up there. Internal to the library.
#pragma once

#include <string>
#include <string_view>

namespace xervo {

// `prefix.key`, with `key` quoted unless it is a bare TOML key (letters, digits, '_', '-').
std::string join_key_path(std::string_view prefix, std::string_view key);

}  // namespace xervo
