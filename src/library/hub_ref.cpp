#include "library/hub_ref.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "library/files.h"

namespace xervo::library {
namespace fs = std::filesystem;

bool valid_repo_part(std::string_view s) {
  if (s.empty() || s.size() > 96 || s == "." || s == "..") return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

bool valid_repo(std::string_view repo) {
  auto slash = repo.find('/');
  if (slash == std::string_view::npos) return false;
  return valid_repo_part(repo.substr(0, slash)) && valid_repo_part(repo.substr(slash + 1));
}

bool valid_repo_path(std::string_view path) {
  if (path.empty() || path.size() > 1024 || path.front() == '/') return false;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (!is_safe_component(path.substr(i, j - i))) return false;
    i = j + 1;
  }
  return true;
}

bool is_sha256_hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

std::string url_encode_path(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(hex[u >> 4]);
      out.push_back(hex[u & 15]);
    }
  }
  return out;
}

std::string url_encode_query(std::string_view s) {
  std::string out = url_encode_path(s);
  std::string res;
  for (char c : out) {
    if (c == '/')
      res += "%2F";
    else
      res.push_back(c);
  }
  return res;
}

bool ends_with_ci(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && lowercase(s.substr(s.size() - suffix.size())) == lowercase(suffix);
}

namespace {

// The quant tag as a whole token of the file name ("model.Q4_K_M.gguf", "model-q4_k_m.gguf").
bool name_has_quant(std::string_view path, std::string_view quant) {
  std::string name = lowercase(fs::path(std::string(path)).filename().string());
  std::string q = lowercase(quant);
  size_t pos = 0;
  while ((pos = name.find(q, pos)) != std::string::npos) {
    bool left = pos == 0 || !std::isalnum(static_cast<unsigned char>(name[pos - 1]));
    size_t end = pos + q.size();
    bool right = end >= name.size() || !std::isalnum(static_cast<unsigned char>(name[end])) ||
                 name.compare(end, 5, ".gguf") == 0;
    if (left && right) return true;
    ++pos;
  }
  return false;
}

std::string file_name(std::string_view path) {
  return lowercase(fs::path(std::string(path)).filename().string());
}

bool is_split_tail(std::string_view path) {
  std::string name = lowercase(fs::path(std::string(path)).filename().string());
  auto pos = name.find("-of-");
  return pos != std::string::npos && pos >= 6 && name.compare(pos - 6, 6, "-00001") != 0;
}

}  // namespace

Result<HubRef> parse_hub_ref(std::string_view text) {
  std::string_view s = text;
  if (s.starts_with("hf:")) s.remove_prefix(3);
  HubRef ref;
  if (auto at = s.rfind('@'); at != std::string_view::npos) {
    ref.revision = std::string(s.substr(at + 1));
    s = s.substr(0, at);
    if (!valid_repo_part(ref.revision))
      return Error(ErrorCode::invalid_input, "bad revision in '" + std::string(text) + "'");
  }
  auto slash = s.find('/');
  if (slash == std::string_view::npos)
    return Error(ErrorCode::invalid_input, "'" + std::string(text) +
                                               "' is not a Hub reference: use hf:ORG/REPO[:QUANT|/FILE.gguf]"
                                               " (whisper.cpp: hf:ORG/REPO:MODEL for ggml-MODEL.bin)");
  auto second = s.find('/', slash + 1);
  if (second != std::string_view::npos) {
    ref.repo = std::string(s.substr(0, second));
    ref.file = std::string(s.substr(second + 1));
    if (!valid_repo_path(ref.file))
      return Error(ErrorCode::invalid_input, "bad file path in '" + std::string(text) + "'");
  } else if (auto colon = s.find(':'); colon != std::string_view::npos) {
    ref.repo = std::string(s.substr(0, colon));
    ref.quant = std::string(s.substr(colon + 1));
    for (auto& c : ref.quant) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!valid_repo_part(ref.quant))
      return Error(ErrorCode::invalid_input, "bad quant tag in '" + std::string(text) + "'");
  } else {
    ref.repo = std::string(s);
  }
  if (!valid_repo(ref.repo))
    return Error(ErrorCode::invalid_input,
                 "bad repository name in '" + std::string(text) + "': want ORG/REPO");
  return ref;
}

bool is_whisper_file_name(std::string_view path) {
  std::string name = file_name(path);
  return name.size() > 9 && name.starts_with("ggml-") && name.ends_with(".bin");
}

Result<HubFileEntry> pick_model_file(const HubRef& ref, const std::vector<HubFileEntry>& files) {
  std::vector<const HubFileEntry*> ggufs, whispers;
  for (const auto& f : files) {
    if (ends_with_ci(f.path, ".gguf")) ggufs.push_back(&f);
    if (is_whisper_file_name(f.path)) whispers.push_back(&f);
  }
  auto available = [&] {
    std::string list;
    for (auto* f : ggufs) list += (list.empty() ? "" : ", ") + f->path;
    for (auto* f : whispers) list += (list.empty() ? "" : ", ") + f->path;
    return list.empty() ? std::string("no .gguf or whisper.cpp ggml-*.bin files") : list;
  };
  if (!ref.file.empty()) {
    // Only model files: a GGUF, or a .bin (whisper.cpp's; its content is checked before import).
    if (!ends_with_ci(ref.file, ".gguf") && !ends_with_ci(ref.file, ".bin"))
      return Error(ErrorCode::invalid_input, "'" + ref.file +
                                                 "' is not a model file the library holds (a .gguf file, "
                                                 "or a whisper.cpp .bin file)");
    for (const auto& f : files)
      if (f.path == ref.file) return f;
    return Error(ErrorCode::model_not_found,
                 ref.repo + " has no file " + ref.file + " (available: " + available() + ")");
  }
  std::vector<const HubFileEntry*> matches;
  std::string quant = ref.quant.empty() ? "Q4_K_M" : ref.quant;
  for (auto* f : ggufs)
    if (name_has_quant(f->path, quant) && !is_split_tail(f->path)) matches.push_back(f);
  if (matches.empty() && !ref.quant.empty()) {
    // whisper.cpp's naming: ":tiny.en" is ggml-tiny.en.bin, ":base.en-q5_1" ggml-base.en-q5_1.bin.
    const std::string wanted = "ggml-" + lowercase(ref.quant) + ".bin";
    for (auto* f : whispers)
      if (file_name(f->path) == wanted) matches.push_back(f);
  }
  if (matches.empty() && ref.quant.empty()) {
    for (auto* f : ggufs)
      if (!is_split_tail(f->path)) matches.push_back(f);
    for (auto* f : whispers) matches.push_back(f);
    if (matches.size() > 1)
      return Error(ErrorCode::invalid_input, ref.repo + " has several model files; name one with :QUANT (" +
                                                 "or :MODEL for whisper.cpp's ggml-MODEL.bin) or /FILE (" +
                                                 available() + ")");
  }
  if (matches.empty())
    return Error(ErrorCode::model_not_found,
                 ref.repo + " has no model file for " + quant + " (available: " + available() + ")");
  std::sort(matches.begin(), matches.end(), [](auto* a, auto* b) { return a->path < b->path; });
  return *matches.front();
}

}  // namespace xervo::library
