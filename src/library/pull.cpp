#include "library/pull.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <thread>

#include "core/log.h"
#include "library/files.h"
#include "library/model_lookup.h"
#include "library/progress_board.h"

namespace xervo::library {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// How often the index learns a running pull's progress (other processes read it from there).
constexpr auto kIndexProgressEvery = std::chrono::milliseconds(250);

uint64_t size_or_zero(const fs::path& path) {
  std::error_code ec;
  uint64_t size = fs::file_size(path, ec);
  return ec ? 0 : size;
}

fs::path incomplete_of(const fs::path& file) { return file.string() + ".incomplete"; }

// Part `i` of the plan into `final_path`: parts after the first are renamed into place once
// verified; the first stays .incomplete for commit().
Result<void> fetch_part(HubClient& hub, const PullPlan& plan, size_t i, const fs::path& final_path,
                        ProgressBoard& board, std::stop_token stop) {
  const HubFileEntry& entry = plan.parts[i];
  std::error_code ec;
  if (i > 0 && fs::exists(final_path, ec)) {
    // A verified part from an earlier, interrupted pull.
    if (auto sha = sha256_file(final_path); sha && *sha == entry.sha256) {
      board.post(i, entry.size);
      return {};
    }
  }
  fs::path incomplete = incomplete_of(final_path);
  auto r = hub.download_file(
      plan.ref.repo, plan.revision, entry, incomplete, [&](uint64_t bytes) { board.post(i, bytes); }, stop);
  if (!r) return r;
  board.post(i, entry.size);
  if (i > 0 && ::rename(incomplete.c_str(), final_path.c_str()) != 0)
    return errno_error("cannot rename", incomplete, errno);
  return {};
}

// Board snapshots -> the index's progress column (the first bytes at once, then a few times a
// second, and the last count) and the caller's callback, in that order.
class ProgressReporter {
 public:
  ProgressReporter(ModelStore& store, const std::string& id, const PullPlan& plan, uint64_t start_bytes,
                   const PullProgressCallback& callback)
      : store_(store), id_(id), plan_(plan), start_bytes_(start_bytes), callback_(callback) {}

  void report(const ProgressBoard::Snapshot& snap) {
    const auto now = Clock::now();
    if (snap.bytes_done != in_index_ &&
        (snap.finished || in_index_ == 0 || now - last_index_write_ >= kIndexProgressEvery)) {
      (void)store_.with_index([&](ModelIndex& index) { return index.set_progress(id_, snap.bytes_done); });
      in_index_ = snap.bytes_done;
      last_index_write_ = now;
    }
    if (!callback_) return;
    const double secs = std::chrono::duration<double>(now - started_).count();
    const uint64_t fresh = snap.bytes_done > start_bytes_ ? snap.bytes_done - start_bytes_ : 0;
    PullProgress p;
    p.file = plan_.picked.path;
    p.bytes_done = snap.bytes_done;
    p.bytes_total = plan_.total_bytes;
    p.bytes_per_second = secs > 0.05 ? static_cast<double>(fresh) / secs : 0;
    const uint64_t left = plan_.total_bytes - std::min(snap.bytes_done, plan_.total_bytes);
    p.eta_seconds = p.bytes_per_second > 0 ? static_cast<double>(left) / p.bytes_per_second : -1;
    callback_(p);
  }

 private:
  ModelStore& store_;
  const std::string& id_;
  const PullPlan& plan_;
  const uint64_t start_bytes_;
  const PullProgressCallback& callback_;
  const Clock::time_point started_ = Clock::now();
  Clock::time_point last_index_write_ = started_;
  uint64_t in_index_ = 0;
};

}  // namespace

Result<LibraryModel> Puller::pull(std::string_view ref_text, const PullProgressCallback& progress,
                                  std::stop_token stop) {
  auto ref = parse_hub_ref(ref_text);
  if (!ref) return ref.error();
  // Offline first: a ready model for the ref needs no network (pin a revision with @REV to refresh).
  if (ref->revision.empty()) {
    std::string local_ref =
        "hf:" + ref->repo +
        (ref->file.empty() ? (ref->quant.empty() ? "" : ":" + ref->quant) : "/" + ref->file);
    if (auto local = find_model(store_, local_ref); local) return local;
  }
  if (auto w = store_.require_writable("pull"); !w) return w.error();
  auto listing = hub_.list_files(ref->repo, ref->revision);
  if (!listing) return listing.error();
  auto plan = plan_pull(*ref, *listing);
  if (!plan) return plan.error();

  auto reserved = reserve(*plan, stop);
  if (!reserved) return reserved.error();
  if (auto* ready = std::get_if<LibraryModel>(&*reserved)) return *ready;
  const Target& target = std::get<Target>(*reserved);

  // One download of a model at a time, across threads and processes; the kernel drops the lock
  // of a process that dies, so a crashed pull never blocks the next.
  auto lock = FileLock::acquire(target.files.front().string() + ".lock", stop);
  if (!lock) return lock.error();
  // Someone else may have finished it while we waited for the lock.
  auto done = store_.row(target.id);
  if (!done) return done.error();
  if (done->has_value() && (*done)->state == LibraryModelState::ready &&
      (*done)->sha256 == plan->picked.sha256)
    return **done;
  (void)store_.with_index(
      [&](ModelIndex& index) { return index.set_state(target.id, LibraryModelState::downloading, ""); });

  if (auto r = download(*plan, target, progress, stop); !r) return fail(target, r.error());
  auto model = commit(*plan, target);
  if (!model) {
    // Verified bytes that are no model the library holds (not GGUF, a damaged whisper.cpp file):
    // a resume would only fetch them again, so they go, as a download with the wrong hash does.
    if (model.error().code() == ErrorCode::invalid_input)
      for (const auto& f : target.files) {
        std::error_code ec;
        fs::remove(incomplete_of(f), ec);
      }
    return fail(target, model.error());
  }
  return model;
}

Result<Puller::Reserved> Puller::reserve(const PullPlan& plan, std::stop_token stop) {
  auto held = store_.lock_commits(stop);
  if (!held) return held.error();
  auto prior = store_.with_index(
      [&](ModelIndex& index) { return index.find_by_hub(plan.ref.repo, plan.picked.path); });
  if (!prior) return prior.error();
  Target t;
  t.ref_text = "hf:" + plan.ref.repo + "/" + plan.picked.path +
               (plan.ref.revision.empty() ? "" : "@" + plan.ref.revision);
  if (prior->has_value()) {
    // Reuse the id of an earlier pull of the same file (and resume what it kept).
    const LibraryModel& m = **prior;
    if (m.state == LibraryModelState::ready && m.sha256 == plan.picked.sha256) return Reserved(m);
    t.id = m.id;
    t.publisher = m.publisher;
    t.name = m.name;
  } else {
    auto name = store_.allocate_name(*held, plan.publisher, plan.name);
    if (!name) return name.error();
    t.publisher = plan.publisher;
    t.name = *name;
    t.id = t.publisher + "/" + t.name;
  }
  t.dir = store_.layout().model_dir(t.publisher, t.name);
  std::error_code ec;
  fs::create_directories(t.dir, ec);
  if (ec) return Error(ErrorCode::io_error, "cannot create " + t.dir.string() + ": " + ec.message());
  for (const auto& file : part_file_names(plan, t.name)) t.files.push_back(t.dir / file);
  if (prior->has_value() && (*prior)->state == LibraryModelState::downloading)
    return Reserved(t);  // another puller's row

  LibraryModel row;
  row.id = t.id;
  row.publisher = t.publisher;
  row.name = t.name;
  row.source_kind = "hub";
  row.source_path = store_.options().hub_endpoint + "/" + plan.ref.repo;
  row.hub_repo = plan.ref.repo;
  row.hub_revision = plan.revision;
  row.hub_file = plan.picked.path;
  row.size_bytes = plan.total_bytes;
  row.state = LibraryModelState::downloading;
  row.file = t.files.front();
  row.created_at = unix_now();
  if (auto r = store_.with_index([&](ModelIndex& index) { return index.upsert(row); }); !r) return r.error();
  return Reserved(std::move(t));
}

Result<void> Puller::download(const PullPlan& plan, const Target& target,
                              const PullProgressCallback& progress, std::stop_token stop) {
  const size_t n = plan.parts.size();
  const int n_threads = std::clamp(store_.options().parallel_downloads, 1, static_cast<int>(n));
  ProgressBoard board(n, n_threads);
  // A part that fails stops the others, and so does the caller.
  std::stop_source halt;
  std::stop_callback forward(stop, [&] { halt.request_stop(); });
  std::vector<std::optional<Error>> errors(n);
  std::atomic<size_t> next{0};
  auto worker = [&] {
    struct Done {
      ProgressBoard& board;
      ~Done() { board.worker_done(); }
    } done{board};
    for (;;) {
      size_t i = next.fetch_add(1);
      if (i >= n || halt.stop_requested()) return;
      if (auto r = fetch_part(hub_, plan, i, target.files[i], board, halt.get_token()); !r) {
        errors[i] = r.error();
        halt.request_stop();
      }
    }
  };
  uint64_t start_bytes = 0;
  for (const auto& f : target.files) start_bytes += size_or_zero(incomplete_of(f));
  std::vector<std::jthread> threads;
  for (int t = 0; t < n_threads; ++t) threads.emplace_back(worker);

  // Progress is reported here, on the caller's thread, never on a worker.
  ProgressReporter reporter(store_, target.id, plan, start_bytes, progress);
  bool stopping = false;
  for (;;) {
    auto snap = board.wait(stopping ? std::stop_token{} : stop);
    stopping = stopping || stop.stop_requested();
    reporter.report(snap);
    if (snap.finished) break;
  }
  threads.clear();  // joins
  for (auto& e : errors)
    if (e && e->code() != ErrorCode::cancelled) return *e;  // the cause, not the parts it stopped
  for (auto& e : errors)
    if (e) return *e;
  if (stop.stop_requested()) return Error(ErrorCode::cancelled, "pull of " + target.ref_text + " cancelled");
  return {};
}

Result<LibraryModel> Puller::commit(const PullPlan& plan, const Target& target) {
  StagedFile staged;
  staged.kind = StagedFile::Kind::download;
  staged.file = incomplete_of(target.files.front());
  staged.sha256 = plan.picked.sha256;
  staged.publisher = target.publisher;
  staged.name = target.name;
  staged.source_kind = "hub";
  staged.source_path = store_.options().hub_endpoint + "/" + plan.ref.repo;
  staged.hub_repo = plan.ref.repo;
  staged.hub_revision = plan.revision;
  staged.hub_file = plan.picked.path;
  staged.tags = {"hub"};
  staged.forced_id = target.id;
  auto outcome = store_.commit(staged);
  if (!outcome) return outcome.error();
  if (outcome->already_present && outcome->model->id != target.id) {
    // The same bytes were already in the library under another id: keep that one record.
    if (auto row = store_.row(target.id); row && row->has_value()) (void)store_.remove(**row);
  }
  return *outcome->model;
}

Error Puller::fail(const Target& target, const Error& error) {
  std::string message = error.message();
  uint64_t kept = 0;
  for (const auto& f : target.files) kept += size_or_zero(incomplete_of(f));
  if (kept > 0) message += "; run `xervo models pull " + target.ref_text + "` to resume";
  auto marked = store_.with_index(
      [&](ModelIndex& index) { return index.set_state(target.id, LibraryModelState::failed, message); });
  if (!marked)
    spdlog::warn("could not mark {} failed ({}); the next xervo command will", target.id,
                 marked.error().message());
  return Error(error.code(), message);
}

}  // namespace xervo::library
