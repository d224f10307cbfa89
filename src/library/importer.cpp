#include "library/importer.h"

#include <sys/stat.h>

#include <cerrno>

#include "core/log.h"
#include "library/fault_points.h"
#include "library/files.h"
#include "library/import_scan.h"
#include "library/model_file.h"

namespace xervo::library {
namespace fs = std::filesystem;

namespace {

bool same_device(const fs::path& a, const fs::path& b) {
  struct stat sa {
  }, sb{};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev;
}

// The file of `job` made ready for commit(): its kind and sha256 set. A temp file it created is
// removed again on failure.
Result<StagedFile> stage(const ModelStore& store, const ImportJob& job, ImportMode mode, StagedFile staged,
                         const std::string& extension) {
  const LibraryLayout& layout = store.layout();
  fs::path tmp = temp_sibling(layout.staging() / (job.name + extension));
  Result<std::string> sha = std::string();
  if (mode == ImportMode::link) {
    if (faults::link(job.real.c_str(), tmp.c_str()) == 0) {
      staged.kind = StagedFile::Kind::temp;
      staged.file = tmp;
      sha = sha256_file(tmp);
    } else {
      // Another file system (EXDEV) or links not allowed: cache blobs are referenced where they
      // are, anything else is copied.
      mode = job.prefer_reference ? ImportMode::reference : ImportMode::copy;
    }
  }
  if (mode == ImportMode::move && same_device(job.real, layout.models())) {
    // Hashed where it is, then renamed into its model folder by commit() under a placement
    // journal: the user's file is never in a place recovery would clean up.
    auto identity = identify(job.real);
    if (!identity) return identity.error();
    staged.kind = StagedFile::Kind::user_file;
    staged.file = job.real;
    staged.identity = *identity;
    sha = sha256_file(job.real);
  } else if (mode == ImportMode::move || mode == ImportMode::copy) {
    staged.kind = StagedFile::Kind::temp;
    staged.file = tmp;
    sha = copy_and_hash(job.real, tmp);
  } else if (mode == ImportMode::reference) {
    staged.kind = StagedFile::Kind::reference;
    staged.file = job.real;
    sha = sha256_file(job.real);
  }
  faults::crash_point("import.hashed");
  if (!sha) {
    std::error_code ec;
    if (staged.kind == StagedFile::Kind::temp) fs::remove(tmp, ec);
    return sha.error();
  }
  staged.sha256 = *sha;
  return staged;
}

// Unix seconds of the file's last modification (0 when it cannot be read).
int64_t modified_at(const fs::path& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_mtim.tv_sec) : 0;
}

ImportOutcome import_one(ModelStore& store, ImportJob job, const ImportOptions& opts) {
  if (!opts.publisher.empty()) job.publisher = normalize_name(opts.publisher);
  // Checked before anything is written: a bad file never costs a copy.
  auto info = read_model_file(job.real);
  if (!info)
    return import_failure(job.source,
                          Error(info.error().code(),
                                info.error().message() +
                                    (job.real != job.source ? " (from " + job.source.string() + ")" : "")));
  StagedFile staged;
  staged.publisher = job.publisher;
  staged.name = job.name;
  staged.source_kind = job.source_kind;
  staged.source_path = job.source.string();
  if (info->conversion) {
    // The converter writes its output once, atomically: its mtime is when it was converted,
    // unless the caller that converted it says (and names the checkpoint folder).
    staged.converted_at = opts.converted_at ? opts.converted_at : modified_at(job.real);
    if (!opts.converted_from.empty()) {
      staged.converted_from = fs::absolute(opts.converted_from).lexically_normal().string();
      staged.source_path = staged.converted_from;
    }
  }
  staged.hub_repo = job.hub_repo;
  staged.hub_revision = job.hub_revision;
  staged.hub_file = job.hub_file;
  for (const auto& t : opts.tags) staged.tags.push_back(normalize_name(t));
  if (job.source_kind == "ollama") staged.tags.push_back("ollama");

  auto ready = stage(store, job, opts.mode, std::move(staged), model_file_extension(info->format));
  if (!ready) return import_failure(job.source, ready.error());
  auto committed = store.commit(*ready);
  std::error_code ec;
  if (!committed) {
    if (ready->kind == StagedFile::Kind::temp) fs::remove(ready->file, ec);
    return import_failure(job.source, committed.error());
  }
  // A move across file systems copied: the source goes once the library owns the bytes.
  if (opts.mode == ImportMode::move && ready->kind == StagedFile::Kind::temp && committed->model &&
      is_within(store.layout().models(), committed->model->file))
    fs::remove(job.real, ec);
  committed->source = job.source;
  spdlog::info("imported {} as {}{}", ready->source_path, committed->model->id,
               committed->already_present ? " (already present)" : "");
  return std::move(*committed);
}

}  // namespace

std::vector<ImportOutcome> import_paths(ModelStore& store, const std::vector<fs::path>& paths,
                                        const ImportOptions& opts) {
  std::vector<ImportOutcome> out;
  if (auto w = store.require_writable("import"); !w) {
    for (const auto& p : paths) out.push_back(import_failure(p, w.error()));
    return out;
  }
  // Inputs are handled in order, each fully, so outcomes come back in the order given.
  for (const auto& input : paths) {
    std::vector<ImportJob> jobs;
    scan_input(input, store.layout().home, jobs, out);
    for (auto& job : jobs) out.push_back(import_one(store, std::move(job), opts));
  }
  return out;
}

}  // namespace xervo::library
