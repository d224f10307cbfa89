// Hugging Face Hub references and listings: "hf:ORG/REPO[:QUANT|/FILE.gguf][@REVISION]" parsed,
// the names a listing may contain (hostile input: checked before any path is built from them),
// and the choice of a GGUF file among a repository's files. Stateless.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "xervo/error.h"

namespace xervo::library {

struct HubRef {
  std::string repo;      // "ORG/REPO"
  std::string quant;     // "Q4_K_M" (upper case), may be empty
  std::string file;      // exact file path in the repo, may be empty
  std::string revision;  // empty = main
};
Result<HubRef> parse_hub_ref(std::string_view text);

struct HubFileEntry {
  std::string path;
  uint64_t size = 0;
  std::string sha256;  // LFS oid; empty when the listing has none
};

struct HubListing {
  std::string revision;  // the commit sha the listing is for
  std::vector<HubFileEntry> files;
};

// Chooses the GGUF file a ref asks for among `files`: the exact file, else the one whose name
// carries the quant tag (the first part of a split model, "-00001-of-"), else, without a tag,
// Q4_K_M, then the only GGUF. Errors list what is available.
Result<HubFileEntry> pick_gguf_file(const HubRef& ref, const std::vector<HubFileEntry>& files);

// "ORG/REPO" with each part [A-Za-z0-9._-], at most 96 characters, not "." or "..".
bool valid_repo_part(std::string_view part);
bool valid_repo(std::string_view repo);
// A path inside a repo as a listing names it: relative, no "..", no backslash, no control bytes.
bool valid_repo_path(std::string_view path);
bool is_sha256_hex(std::string_view s);
bool ends_with_ci(std::string_view s, std::string_view suffix);
std::string url_encode_path(std::string_view s);   // keeps '/'
std::string url_encode_query(std::string_view s);  // encodes '/' too

}  // namespace xervo::library
