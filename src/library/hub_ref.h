// Hugging Face Hub references and listings: "hf:ORG/REPO[:TAG|/FILE][@REVISION]" parsed, the names
// a listing may contain (hostile input: checked before any path is built from them), and the
// choice of a model file among a repository's files: a GGUF file by quantization tag, or a
// whisper.cpp file ("ggml-tiny.en.bin") by its model name. Stateless.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "xervo/error.h"

namespace xervo::library {

struct HubRef {
  std::string repo;      // "ORG/REPO"
  std::string quant;     // "Q4_K_M" or "TINY.EN" (upper case), may be empty
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

// Chooses the model file a ref asks for among `files`: the exact file (a .gguf or .bin), else the
// GGUF whose name carries the quant tag (the first part of a split model, "-00001-of-"), else the
// whisper.cpp file named "ggml-<tag>.bin" (":tiny.en", ":base.en-q5_1"), else, without a tag,
// Q4_K_M, then the only model file. Errors list what is available.
Result<HubFileEntry> pick_model_file(const HubRef& ref, const std::vector<HubFileEntry>& files);

// A file name whisper.cpp's Hub repository uses for a model: "ggml-<model>.bin".
bool is_whisper_file_name(std::string_view path);

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
