#include "library/pull_plan.h"

#include <filesystem>

#include "library/files.h"

namespace xervo::library {
namespace fs = std::filesystem;

namespace {

constexpr size_t kSplitSuffix = 15;  // "-00001-of-00003"

// "model-00001-of-00003.gguf" -> ("model", 3); otherwise count 0.
std::pair<std::string, int> split_prefix(const std::string& filename) {
  auto pos = filename.rfind("-of-");
  if (pos == std::string::npos || pos < 6 || filename.size() < pos + 4 + 5 + 5) return {filename, 0};
  if (filename[pos - 6] != '-' || lowercase(filename.substr(pos + 9)) != ".gguf") return {filename, 0};
  std::string total = filename.substr(pos + 4, 5);
  std::string index = filename.substr(pos - 5, 5);
  if (total.find_first_not_of("0123456789") != std::string::npos ||
      index.find_first_not_of("0123456789") != std::string::npos)
    return {filename, 0};
  return {filename.substr(0, pos - 6), std::stoi(total)};
}

std::string pad5(int v) {
  std::string s = std::to_string(v);
  while (s.size() < 5) s = "0" + s;
  return s;
}

std::string part_suffix(int k, int n) { return "-" + pad5(k) + "-of-" + pad5(n) + ".gguf"; }

}  // namespace

Result<PullPlan> plan_pull(const HubRef& ref, const HubListing& listing) {
  auto picked = pick_model_file(ref, listing.files);
  if (!picked) return picked.error();
  PullPlan plan;
  plan.ref = ref;
  plan.revision = listing.revision;
  plan.picked = *picked;
  plan.publisher = normalize_name(ref.repo.substr(0, ref.repo.find('/')));
  std::string basename = fs::path(picked->path).filename().string();
  plan.name = normalize_name(fs::path(basename).stem().string());
  auto [prefix, parts] = split_prefix(basename);
  if (parts > 1) {
    std::string folder = fs::path(picked->path).parent_path().string();
    for (int k = 1; k <= parts; ++k) {
      std::string repo_path = (folder.empty() ? "" : folder + "/") + prefix + part_suffix(k, parts);
      const HubFileEntry* entry = nullptr;
      for (const auto& f : listing.files)
        if (f.path == repo_path) entry = &f;
      if (!entry)
        return Error(ErrorCode::model_not_found, ref.repo + ": split part " + repo_path + " is missing");
      plan.parts.push_back(*entry);
    }
  } else {
    plan.parts.push_back(*picked);
  }
  for (const auto& p : plan.parts) plan.total_bytes += p.size;
  return plan;
}

std::vector<std::string> part_file_names(const PullPlan& plan, const std::string& name) {
  // A whisper.cpp file keeps its .bin (commit() names the placed file by its content, the same way).
  std::vector<std::string> out = {name + (ends_with_ci(plan.picked.path, ".bin") ? ".bin" : ".gguf")};
  const int n = static_cast<int>(plan.parts.size());
  std::string stem = name.substr(0, name.size() >= kSplitSuffix ? name.size() - kSplitSuffix : 0);
  for (int k = 2; k <= n; ++k) out.push_back(stem + part_suffix(k, n));
  return out;
}

}  // namespace xervo::library
