// What a pull downloads: the model file a ref picks in a listing (GGUF or whisper.cpp) and, for a
// split GGUF, every "-0000K-of-0000N" part of it, with the names they get in the model's folder.
// Stateless.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "library/hub_ref.h"
#include "xervo/error.h"

namespace xervo::library {

struct PullPlan {
  HubRef ref;
  std::string revision;             // the commit the listing is for
  HubFileEntry picked;              // the file the ref names (part 1 of a split model)
  std::string publisher, name;      // normalized, before an id is chosen
  std::vector<HubFileEntry> parts;  // `picked` first
  uint64_t total_bytes = 0;
};

Result<PullPlan> plan_pull(const HubRef& ref, const HubListing& listing);

// The file names of the plan's parts in the folder of model `name`: "<name>.gguf" ("<name>.bin" for
// a whisper.cpp file) for the first,
// "<stem>-0000K-of-0000N.gguf" for the others, where llama.cpp looks for them.
std::vector<std::string> part_file_names(const PullPlan& plan, const std::string& name);

}  // namespace xervo::library
