#include "library/import_scan.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "library/files.h"
#include "library/model_file.h"

namespace xervo::library {
namespace fs = std::filesystem;

ImportOutcome import_failure(const fs::path& source, Error error) {
  ImportOutcome o;
  o.source = source;
  o.error = std::move(error);
  return o;
}

namespace {

bool is_gguf_name(const fs::path& p) { return lowercase(p.extension().string()) == ".gguf"; }

// What a folder scan imports: GGUF files by name, and ".bin" files that open with whisper.cpp's
// magic (whisper.cpp models; other .bin files, such as PyTorch weights, are not models it holds).
bool is_model_candidate(const fs::path& p) {
  if (is_gguf_name(p)) return true;
  return lowercase(p.extension().string()) == ".bin" && has_whisper_magic(p);
}

// Resolves a path found while scanning `root`: the target must be a regular file inside `root`
// (a symlink pointing out of the scanned folder is refused).
Result<fs::path> resolve_inside(const fs::path& root, const fs::path& path) {
  std::error_code ec;
  fs::path real = fs::canonical(path, ec);
  if (ec)
    return Error(ErrorCode::invalid_input,
                 path.string() + ": broken link or unreadable (" + ec.message() + ")");
  if (!is_within(root, real))
    return Error(ErrorCode::invalid_input, path.string() + ": links to " + real.string() + ", outside " +
                                               root.string() + "; import that file directly if you trust it");
  if (!fs::is_regular_file(real, ec))
    return Error(ErrorCode::invalid_input, path.string() + ": not a regular file");
  return real;
}

void scan_hf_repo(const fs::path& repo_dir, std::vector<ImportJob>& jobs,
                  std::vector<ImportOutcome>& errors) {
  // models--ORG--NAME
  std::string dirname = repo_dir.filename().string();
  std::string rest = dirname.substr(8);
  auto sep = rest.find("--");
  std::string org = sep == std::string::npos ? "huggingface" : rest.substr(0, sep);
  std::string repo_name = sep == std::string::npos ? rest : rest.substr(sep + 2);
  std::error_code ec;
  fs::path snapshots = repo_dir / "snapshots";
  for (auto snap = fs::directory_iterator(snapshots, ec); !ec && snap != fs::directory_iterator();
       snap.increment(ec)) {
    if (!snap->is_directory(ec)) continue;
    for (auto it = fs::recursive_directory_iterator(snap->path(), ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!is_model_candidate(it->path())) continue;
      // Snapshot entries are links into this repo's blobs/: anything else is refused.
      auto real = resolve_inside(repo_dir / "blobs", it->path());
      if (!real) {
        if (!fs::is_regular_file(it->path(), ec) || !is_within(repo_dir, fs::canonical(it->path(), ec))) {
          errors.push_back(import_failure(it->path(), real.error()));
          continue;
        }
        real = fs::canonical(it->path(), ec);  // a plain file inside the snapshot
      }
      ImportJob job;
      job.source = it->path();
      job.real = *real;
      job.publisher = normalize_name(org);
      job.name = normalize_name(it->path().stem().string());
      job.source_kind = "huggingface-cache";
      job.hub_repo = org + "/" + repo_name;
      job.hub_revision = snap->path().filename().string();
      job.hub_file = it->path().lexically_relative(snap->path()).string();
      job.prefer_reference = true;  // a blob of the cache: referenced in place rather than copied
      jobs.push_back(std::move(job));
    }
  }
}

void scan_ollama(const fs::path& root, std::vector<ImportJob>& jobs, std::vector<ImportOutcome>& errors) {
  std::error_code ec;
  fs::path manifests = root / "manifests";
  fs::path blobs = root / "blobs";
  for (auto it = fs::recursive_directory_iterator(manifests, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    auto rel = it->path().lexically_relative(manifests);
    std::vector<std::string> parts;
    for (const auto& p : rel) parts.push_back(p.string());
    if (parts.size() < 2) continue;
    std::string tag = parts[parts.size() - 1];
    std::string model = parts[parts.size() - 2];
    std::string ns = parts.size() >= 3 ? parts[parts.size() - 3] : "library";
    auto text = read_file(it->path());
    if (!text) {
      errors.push_back(import_failure(it->path(), text.error()));
      continue;
    }
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_object() || !j.contains("layers") || !j["layers"].is_array()) {
      errors.push_back(import_failure(
          it->path(), Error(ErrorCode::invalid_input,
                            it->path().string() + ": not an Ollama manifest (no layers array)")));
      continue;
    }
    bool found = false;
    for (const auto& layer : j["layers"]) {
      if (!layer.is_object() || layer.value("mediaType", "") != "application/vnd.ollama.image.model")
        continue;
      found = true;
      std::string digest = layer.value("digest", "");
      std::string hex = digest.starts_with("sha256:") ? digest.substr(7) : "";
      bool ok = hex.size() == 64 && std::all_of(hex.begin(), hex.end(), [](char c) {
                  return std::isxdigit(static_cast<unsigned char>(c));
                });
      if (!ok) {
        errors.push_back(import_failure(
            it->path(), Error(ErrorCode::invalid_input, it->path().string() + ": bad model layer digest '" +
                                                            digest.substr(0, 80) + "'")));
        break;
      }
      fs::path blob = blobs / ("sha256-" + hex);
      auto real = resolve_inside(blobs, blob);
      if (!real) {
        errors.push_back(import_failure(it->path(), real.error()));
        break;
      }
      ImportJob job;
      job.source = blob;
      job.real = *real;
      job.publisher = ns == "library" ? "ollama" : normalize_name(ns);
      job.name = normalize_name(model + "-" + tag);
      job.source_kind = "ollama";
      job.prefer_reference = true;
      jobs.push_back(std::move(job));
      break;
    }
    if (!found)
      errors.push_back(import_failure(
          it->path(),
          Error(ErrorCode::invalid_input, it->path().string() + ": manifest has no model layer")));
  }
}

void scan_folder(const fs::path& root, std::vector<ImportJob>& jobs, std::vector<ImportOutcome>& errors) {
  std::error_code ec;
  std::vector<fs::path> found;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_directory(ec)) continue;
    if (is_model_candidate(it->path())) found.push_back(it->path());
  }
  if (ec)
    errors.push_back(import_failure(root, Error(ErrorCode::io_error, root.string() + ": " + ec.message())));
  std::sort(found.begin(), found.end());
  for (const auto& p : found) {
    auto real = resolve_inside(root, p);
    if (!real) {
      errors.push_back(import_failure(p, real.error()));
      continue;
    }
    ImportJob job;
    job.source = p;
    job.real = *real;
    job.publisher = "local";
    job.name = normalize_name(p.stem().string());
    job.source_kind = "import";
    jobs.push_back(std::move(job));
  }
}

}  // namespace

void scan_input(const fs::path& input, const fs::path& home, std::vector<ImportJob>& jobs,
                std::vector<ImportOutcome>& errors) {
  std::error_code ec;
  fs::path path = fs::absolute(input, ec);
  auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    errors.push_back(import_failure(
        input, Error(ErrorCode::model_not_found, input.string() + ": no such file or folder")));
    return;
  }
  if (is_within(home, path)) {
    errors.push_back(import_failure(
        input, Error(ErrorCode::invalid_input, input.string() + " is inside the library home already")));
    return;
  }
  if (fs::is_directory(st)) {
    if (fs::is_directory(path / "manifests", ec) && fs::is_directory(path / "blobs", ec)) {
      scan_ollama(path, jobs, errors);
    } else if (path.filename().string().starts_with("models--")) {
      scan_hf_repo(path, jobs, errors);
    } else {
      bool hf_root = false;
      for (auto it = fs::directory_iterator(path, ec); !ec && it != fs::directory_iterator();
           it.increment(ec)) {
        if (it->is_directory(ec) && it->path().filename().string().starts_with("models--")) {
          hf_root = true;
          scan_hf_repo(it->path(), jobs, errors);
        }
      }
      if (!hf_root) scan_folder(path, jobs, errors);
    }
    return;
  }
  ImportJob job;
  job.source = path;
  job.real = fs::canonical(path, ec);
  if (ec) {
    errors.push_back(
        import_failure(input, Error(ErrorCode::invalid_input, input.string() + ": " + ec.message())));
    return;
  }
  job.publisher = "local";
  job.name = normalize_name(path.stem().string());
  job.source_kind = "import";
  jobs.push_back(std::move(job));
}

}  // namespace xervo::library
