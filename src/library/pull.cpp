// Pulling models from the Hugging Face Hub: pick the GGUF file(s) of a ref, record the model as
// `downloading`, fetch every part in parallel under a per-file lock (threads and processes download
// a file once), verify sha256, then commit the file into the library.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "core/log.h"
#include "library/files.h"
#include "library/hub_client.h"
#include "library/library_impl.h"

namespace xervo::library {
namespace fs = std::filesystem;

namespace {

// An exclusive flock on `<file>.lock`, held for the life of the object; released by the kernel if
// the process dies, so a crashed download never blocks the next one.
class FileLock {
 public:
  static Result<FileLock> acquire(const fs::path& path, const std::atomic<bool>* cancel) {
    FileLock lock;
    lock.fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock.fd_ < 0)
      return Error(ErrorCode::io_error, "cannot open lock " + path.string() + ": " + std::strerror(errno));
    while (::flock(lock.fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR)
        return Error(ErrorCode::io_error, "cannot lock " + path.string() + ": " + std::strerror(errno));
      if (cancel && cancel->load())
        return Error(ErrorCode::cancelled, "cancelled while waiting for " + path.string());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return lock;
  }
  FileLock() = default;
  FileLock(FileLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  FileLock& operator=(FileLock&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  int fd_ = -1;
};

// "model-00001-of-00003.gguf" -> ("model", 3); otherwise count 0.
std::pair<std::string, int> split_prefix(const std::string& filename) {
  auto pos = filename.rfind("-of-");
  if (pos == std::string::npos || pos < 6 || filename.size() < pos + 4 + 5 + 5) return {filename, 0};
  std::string total = filename.substr(pos + 4, 5);
  std::string index = filename.substr(pos - 5, 5);
  if (filename[pos - 6] != '-' || lowercase(filename.substr(pos + 9)) != ".gguf") return {filename, 0};
  try {
    int n = std::stoi(total);
    (void)std::stoi(index);
    return {filename.substr(0, pos - 6), n};
  } catch (...) {
    return {filename, 0};
  }
}

std::string two_digits_pad(int v, int width) {
  std::string s = std::to_string(v);
  while (static_cast<int>(s.size()) < width) s = "0" + s;
  return s;
}

struct PartJob {
  HubFileEntry entry;
  fs::path final_path;  // where the verified file lands (parts 2..N) or the staging name (part 1)
  std::atomic<uint64_t> done{0};
  std::optional<Error> error;
};

}  // namespace

Result<std::vector<HubModelInfo>> LibraryImpl::hub_search(std::string_view text, int limit) {
  return hub().search(text, limit);
}

Result<LibraryModel> LibraryImpl::pull(std::string_view ref_text, const PullProgressCallback& progress,
                                       const std::atomic<bool>* cancel) {
  auto ref = parse_hub_ref(ref_text);
  if (!ref) return ref.error();
  // Offline first: a ready model for the ref needs no network (pin a revision with @REV to refresh).
  if (ref->revision.empty()) {
    if (auto local =
            find("hf:" + ref->repo +
                 (ref->file.empty() ? (ref->quant.empty() ? "" : ":" + ref->quant) : "/" + ref->file));
        local)
      return local;
  }
  auto listing = hub().list_files(ref->repo, ref->revision);
  if (!listing) return listing.error();
  auto picked = pick_gguf_file(*ref, listing->files);
  if (!picked) return picked.error();

  std::string org = ref->repo.substr(0, ref->repo.find('/'));
  std::string publisher = normalize_name(org);
  std::string basename = fs::path(picked->path).filename().string();
  auto [prefix, parts] = split_prefix(basename);
  std::string name = normalize_name(fs::path(basename).stem().string());

  // One puller per Hub file across threads and processes, taken before the id is chosen: otherwise a
  // second puller that looks while the first inserts its row would pick "name-2" and fetch it again.
  std::error_code lock_dir_ec;  // a missing folder shows up as the open error below
  fs::create_directories(staging_dir(), lock_dir_ec);
  Sha256 file_key;
  const std::string key_text = ref->repo + "\n" + ref->revision + "\n" + picked->path;
  file_key.update(key_text.data(), key_text.size());
  auto pull_lock = FileLock::acquire(staging_dir() / ("pull-" + file_key.hex() + ".lock"), cancel);
  if (!pull_lock) return pull_lock.error();

  // Reuse the id of an earlier pull of the same file, else the first free one.
  std::string id;
  {
    auto prior = with_index([&](ModelIndex& index) { return index.find_by_hub(ref->repo, picked->path); });
    if (!prior) return prior.error();
    if (prior->has_value()) {
      const auto& m = **prior;
      if (m.state == LibraryModelState::ready && m.sha256 == picked->sha256) return m;
      id = m.id;
      name = m.name;
    } else {
      for (int n = 1;; ++n) {
        std::string candidate = name + (n == 1 ? "" : "-" + std::to_string(n));
        auto taken =
            with_index([&](ModelIndex& index) { return index.id_exists(publisher + "/" + candidate); });
        if (!taken) return taken.error();
        if (!*taken) {
          name = candidate;
          break;
        }
      }
      id = publisher + "/" + name;
    }
  }
  fs::path dir = model_dir(publisher, name);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error(ErrorCode::io_error, "cannot create " + dir.string() + ": " + ec.message());
  fs::path final_file = dir / (name + ".gguf");

  auto lock = FileLock::acquire(final_file.string() + ".lock", cancel);
  if (!lock) return lock.error();
  // Someone else may have finished it while we waited for the lock.
  {
    auto done = with_index([&](ModelIndex& index) { return index.get(id); });
    if (!done) return done.error();
    if (done->has_value() && (*done)->state == LibraryModelState::ready && (*done)->sha256 == picked->sha256)
      return **done;
  }

  // The parts: one file, or every "-0000K-of-0000N" sibling of a split model.
  std::vector<std::unique_ptr<PartJob>> jobs;
  if (parts > 1) {
    std::string folder = fs::path(picked->path).parent_path().string();
    std::string local_prefix =
        name.substr(0, name.size() >= 15 ? name.size() - 15 : 0);  // strip "-00001-of-0000n"
    for (int k = 1; k <= parts; ++k) {
      std::string suffix = "-" + two_digits_pad(k, 5) + "-of-" + two_digits_pad(parts, 5) + ".gguf";
      std::string repo_path = (folder.empty() ? "" : folder + "/") + prefix + suffix;
      const HubFileEntry* entry = nullptr;
      for (const auto& f : listing->files)
        if (f.path == repo_path) entry = &f;
      if (!entry)
        return Error(ErrorCode::model_not_found, ref->repo + ": split part " + repo_path + " is missing");
      auto job = std::make_unique<PartJob>();
      job->entry = *entry;
      job->final_path = k == 1 ? final_file : dir / (local_prefix + suffix);
      jobs.push_back(std::move(job));
    }
  } else {
    auto job = std::make_unique<PartJob>();
    job->entry = *picked;
    job->final_path = final_file;
    jobs.push_back(std::move(job));
  }
  uint64_t total = 0;
  for (auto& j : jobs) total += j->entry.size;

  LibraryModel row;
  row.id = id;
  row.publisher = publisher;
  row.name = name;
  row.source_kind = "hub";
  row.source_path = options_.hub_endpoint + "/" + ref->repo;
  row.hub_repo = ref->repo;
  row.hub_revision = listing->revision;
  row.hub_file = picked->path;
  row.size_bytes = total;
  row.state = LibraryModelState::downloading;
  row.file = final_file;
  row.created_at = unix_now();
  if (auto r = with_index([&](ModelIndex& index) { return index.upsert(row); }); !r) return r.error();

  auto fail = [&](const Error& e) -> Error {
    (void)with_index(
        [&](ModelIndex& index) { return index.set_state(id, LibraryModelState::failed, e.message()); });
    return e;
  };

  // Workers download; this thread reports progress, so callbacks never run on a worker.
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::atomic<int> finished{0};
  auto worker = [&] {
    struct Done {
      std::atomic<int>& n;
      ~Done() { ++n; }
    } done_guard{finished};
    for (;;) {
      size_t i = next.fetch_add(1);
      if (i >= jobs.size() || stop.load()) return;
      PartJob& job = *jobs[i];
      std::error_code e2;
      if (i > 0 && fs::exists(job.final_path, e2)) {
        // A verified part from an earlier, interrupted pull.
        if (auto sha = sha256_file(job.final_path); sha && *sha == job.entry.sha256) {
          job.done = job.entry.size;
          continue;
        }
      }
      fs::path incomplete = job.final_path.string() + ".incomplete";
      auto r = hub().download_file(
          ref->repo, listing->revision, job.entry, incomplete,
          [&](const DownloadProgress& p) {
            job.done = p.bytes_done;
            return !stop.load();
          },
          cancel);
      if (!r) {
        job.error = r.error();
        stop = true;
        return;
      }
      job.done = job.entry.size;
      if (i > 0 && ::rename(incomplete.c_str(), job.final_path.c_str()) != 0)
        job.error =
            Error(ErrorCode::io_error, "cannot rename " + incomplete.string() + ": " + std::strerror(errno));
    }
  };
  int n_threads = std::min<int>(options_.parallel_downloads, static_cast<int>(jobs.size()));
  std::vector<std::jthread> threads;
  for (int t = 0; t < n_threads; ++t) threads.emplace_back(worker);

  auto start = std::chrono::steady_clock::now();
  uint64_t start_bytes = 0;
  for (auto& j : jobs) {
    std::error_code e3;
    fs::path inc = j->final_path.string() + ".incomplete";
    if (fs::exists(inc, e3)) start_bytes += fs::file_size(inc, e3);
  }
  auto last_index_update = start;
  auto report = [&](bool final_report) {
    uint64_t done = 0;
    for (auto& j : jobs) done += j->done.load();
    auto now = std::chrono::steady_clock::now();
    double secs = std::chrono::duration<double>(now - start).count();
    if (progress) {
      PullProgress p;
      p.file = picked->path;
      p.bytes_done = done;
      p.bytes_total = total;
      p.bytes_per_second =
          secs > 0.05 && done > start_bytes ? static_cast<double>(done - start_bytes) / secs : 0;
      p.eta_seconds = p.bytes_per_second > 0
                          ? static_cast<double>(total - std::min(done, total)) / p.bytes_per_second
                          : -1;
      progress(p);
    }
    if (final_report || now - last_index_update > std::chrono::milliseconds(250)) {
      last_index_update = now;
      (void)with_index([&](ModelIndex& index) { return index.set_progress(id, done); });
    }
  };
  for (;;) {
    if (finished.load() == n_threads) break;
    report(false);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  threads.clear();  // joins
  report(true);
  for (auto& j : jobs)
    if (j->error) return fail(*j->error);

  StagedFile staged;
  staged.staged = final_file.string() + ".incomplete";
  staged.sha256 = jobs.front()->entry.sha256;
  staged.publisher = publisher;
  staged.name = name;
  staged.source_kind = "hub";
  staged.source_path = row.source_path;
  staged.hub_repo = ref->repo;
  staged.hub_revision = listing->revision;
  staged.hub_file = picked->path;
  staged.tags = {"hub"};
  staged.forced_id = id;
  auto outcome = commit_file(staged);
  if (!outcome) return fail(outcome.error());
  if (outcome->already_present && outcome->model->id != id) {
    // The same bytes were already in the library under another id: keep that one record.
    (void)with_index([&](ModelIndex& index) { return index.remove(id); });
    std::error_code e4;
    fs::remove_all(dir, e4);
  }
  return *outcome->model;
}

}  // namespace xervo::library
