// One entry of an `auto` catalog for the tests (docs/auto-model.md): a Q8_0 GGUF of `repo` on the
// stand-in Hub, with its sizes, tier and licence; `sha256` when the test needs a library match.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace xervo::testing {

inline nlohmann::json auto_entry(const std::string& repo, uint64_t file_bytes, uint64_t memory_bytes, int tier,
                                 const std::string& license, const std::string& sha256 = "") {
  nlohmann::json e = {{"model", "hf:" + repo + ":Q8_0"}, {"quantization", "Q8_0"}, {"file_bytes", file_bytes},
                      {"memory_bytes", memory_bytes},    {"tier", tier},           {"license", license}};
  if (!sha256.empty()) e["sha256"] = sha256;
  return e;
}

}  // namespace xervo::testing
