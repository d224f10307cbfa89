// The Hub client and pull against a fake Hub on 127.0.0.1: file choice, resume after a dropped
// connection, hash mismatch, one download for concurrent pulls, HTTP errors (429 and its
// Retry-After, redirect loops), a full disk, hostile listings, the search cache and the
// `downloading` state.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <latch>
#include <thread>

#include "gguf_writer.h"
#include "hub_server.h"
#include "library/fault_points.h"
#include "library_fixture.h"

namespace xervo::testing {
namespace {
namespace fs = std::filesystem;

std::string gguf_bytes(GgufSpec spec) {
  TempDir d;
  write_test_gguf(d.path / "f.gguf", spec);
  std::ifstream in(d.path / "f.gguf", std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class Hub : public ::testing::Test {
 protected:
  void SetUp() override {
    content = gguf_bytes({.seed = 1, .elements = 200000});  // ~800 KB
    hub.add_file("TheOrg/Tiny-GGUF", "tiny.Q4_K_M.gguf", content);
    hub.add_file("TheOrg/Tiny-GGUF", "tiny.Q8_0.gguf", gguf_bytes({.file_type = 7, .seed = 2}));
    hub.add_file("TheOrg/Tiny-GGUF", "README.md", "# readme");
    lib = open_test_library(home.path, hub.endpoint());
    ASSERT_TRUE(lib);
  }
  std::vector<fs::path> files_under(const fs::path& dir, const std::string& ext) {
    std::vector<fs::path> out;
    for (auto& e : fs::recursive_directory_iterator(dir))
      if (e.path().string().ends_with(ext)) out.push_back(e.path());
    return out;
  }

  FakeHub hub;
  TempDir home;
  std::string content;
  std::shared_ptr<ModelLibrary> lib;
};

TEST_F(Hub, PullDownloadsVerifiesAndIndexesWithProgress) {
  std::vector<PullProgress> seen;
  auto m = lib->pull("hf:TheOrg/Tiny-GGUF:Q4_K_M", [&](const PullProgress& p) { seen.push_back(p); });
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(m->id, "theorg/tiny.q4_k_m");
  EXPECT_EQ(m->state, LibraryModelState::ready);
  EXPECT_EQ(m->sha256, FakeHub::sha256_hex(content));
  EXPECT_EQ(m->hub_repo, "TheOrg/Tiny-GGUF");
  EXPECT_EQ(m->hub_file, "tiny.Q4_K_M.gguf");
  EXPECT_EQ(m->hub_revision, "c0ffee0000000000000000000000000000000001");
  EXPECT_EQ(fs::file_size(m->file), content.size());
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().bytes_done, content.size());
  EXPECT_EQ(seen.back().bytes_total, content.size());
  EXPECT_TRUE(files_under(home.path, ".incomplete").empty());
  // A second pull is answered from the library without touching the network.
  int before = hub.listing_requests.load();
  auto again = lib->pull("hf:TheOrg/Tiny-GGUF:Q4_K_M");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(hub.listing_requests.load(), before);
  // find() resolves hf: ids to the pulled model.
  EXPECT_EQ(lib->find("hf:TheOrg/Tiny-GGUF:Q4_K_M")->id, m->id);
  EXPECT_EQ(lib->find("hf:TheOrg/Tiny-GGUF:Q8_0").error().code(), ErrorCode::model_not_found);
}

TEST_F(Hub, PicksTheFileByQuantTagOrExactName) {
  auto q8 = lib->pull("hf:TheOrg/Tiny-GGUF:q8_0");
  ASSERT_TRUE(q8.ok()) << q8.error().to_string();
  EXPECT_EQ(q8->hub_file, "tiny.Q8_0.gguf");
  EXPECT_EQ(q8->quantization, "Q8_0");
  auto exact = lib->pull("hf:TheOrg/Tiny-GGUF/tiny.Q4_K_M.gguf");
  ASSERT_TRUE(exact.ok()) << exact.error().to_string();
  EXPECT_EQ(exact->hub_file, "tiny.Q4_K_M.gguf");
  auto none = lib->pull("hf:TheOrg/Tiny-GGUF:Q2_K");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), ErrorCode::model_not_found);
  EXPECT_NE(none.error().message().find("tiny.Q8_0.gguf"), std::string::npos) << "lists what is there";
}

TEST_F(Hub, SplitModelsDownloadEveryPartInParallel) {
  std::string part1 = gguf_bytes({.seed = 5, .elements = 50000});
  std::string part2(300000, 'x');  // later parts are only hashed
  hub.add_file("TheOrg/Big-GGUF", "Q4_K_M/big-Q4_K_M-00001-of-00002.gguf", part1);
  hub.add_file("TheOrg/Big-GGUF", "Q4_K_M/big-Q4_K_M-00002-of-00002.gguf", part2);
  PullProgress last;
  auto m = lib->pull("hf:TheOrg/Big-GGUF:Q4_K_M", [&](const PullProgress& p) { last = p; });
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(m->hub_file, "Q4_K_M/big-Q4_K_M-00001-of-00002.gguf");
  EXPECT_EQ(hub.blob_requests.load(), 2);
  EXPECT_EQ(last.bytes_total, part1.size() + part2.size());
  EXPECT_EQ(last.bytes_done, last.bytes_total);
  // llama.cpp finds the other parts next to the first by their "-0000K-of-0000N" names.
  EXPECT_EQ(m->file.filename(), "big-q4_k_m-00001-of-00002.gguf");
  EXPECT_EQ(fs::file_size(m->file.parent_path() / "big-q4_k_m-00002-of-00002.gguf"), part2.size());
}

TEST_F(Hub, ResumesAfterADroppedConnectionAndVerifiesTheWhole) {
  hub.drop_after_bytes = static_cast<int>(content.size() / 2);
  auto m = lib->pull("hf:TheOrg/Tiny-GGUF:Q4_K_M");
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(m->sha256, FakeHub::sha256_hex(content));
  auto ranges = hub.ranges();
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[0], "");
  EXPECT_EQ(ranges[1], "bytes=" + std::to_string(content.size() / 2) + "-");
  EXPECT_EQ(hub.blob_bytes_sent.load(), content.size()) << "no byte downloaded twice";
}

TEST_F(Hub, CancelledDownloadResumesOnTheNextPull) {
  // The server holds the download at a quarter, so the stop lands while it is in flight.
  const uint64_t quarter = content.size() / 4;
  hub.hold_blobs_after(quarter);
  std::stop_source stop;
  auto first = lib->pull(
      "hf:TheOrg/Tiny-GGUF:Q4_K_M",
      [&](const PullProgress& p) {
        if (p.bytes_done >= quarter) stop.request_stop();
      },
      stop.get_token());
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().code(), ErrorCode::cancelled) << first.error().to_string();
  EXPECT_NE(first.error().message().find("to resume"), std::string::npos) << first.error().message();
  auto partial = files_under(home.path, ".incomplete");
  ASSERT_EQ(partial.size(), 1u);
  EXPECT_EQ(fs::file_size(partial[0]), quarter);
  hub.release_blobs();
  auto second = lib->pull("hf:TheOrg/Tiny-GGUF:Q4_K_M");
  ASSERT_TRUE(second.ok()) << second.error().to_string();
  EXPECT_EQ(hub.ranges().back(), "bytes=" + std::to_string(quarter) + "-");
  EXPECT_EQ(second->sha256, FakeHub::sha256_hex(content));
}

TEST_F(Hub, HashMismatchDeletesTheFileAndNamesBothHashes) {
  hub.corrupt = true;
  auto m = lib->pull("hf:TheOrg/Tiny-GGUF:Q4_K_M");
  ASSERT_FALSE(m.ok());
  std::string expected = FakeHub::sha256_hex(content);
  std::string bad = content;
  bad[bad.size() / 2] ^= 0x5a;
  EXPECT_NE(m.error().message().find(expected), std::string::npos) << m.error().message();
  EXPECT_NE(m.error().message().find(FakeHub::sha256_hex(bad)), std::string::npos) << m.error().message();
  EXPECT_TRUE(files_under(home.path / "models", ".incomplete").empty());
  EXPECT_TRUE(files_under(home.path / "models", ".gguf").empty());
  auto failed = lib->search({.state = LibraryModelState::failed});
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_TRUE(lib->search({.state = LibraryModelState::ready})->empty());
}

TEST_F(Hub, ConcurrentPullsOfOneFileDownloadItOnce) {
  hub.blob_delay_ms = 1;
  std::vector<std::thread> threads;
  std::vector<Result<LibraryModel>> results(4, Error(ErrorCode::internal, "not run"));
  // Each thread opens its own library, as separate processes would.
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      results[i] = open_test_library(home.path, hub.endpoint())->pull("hf:TheOrg/Tiny-GGUF:Q4_K_M");
    });
  for (auto& t : threads) t.join();
  for (auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->id, "theorg/tiny.q4_k_m");
  }
  EXPECT_EQ(hub.blob_requests.load(), 1);
  EXPECT_EQ(lib->search({})->size(), 1u);
}

TEST_F(Hub, ConcurrentPullsFromTwoProcessesDownloadOnce) {
  hub.blob_delay_ms = 1;
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto l = open_test_library(home.path, hub.endpoint());
    ::_exit(l && l->pull("hf:TheOrg/Tiny-GGUF:Q4_K_M").ok() ? 0 : 1);
  }
  auto m = lib->pull("hf:TheOrg/Tiny-GGUF:Q4_K_M");
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(hub.blob_requests.load(), 1);
}

TEST_F(Hub, DownloadInProgressIsInTheIndex) {
  // Held at 64 KiB until released: the pull is in flight for as long as the test looks at it.
  hub.hold_blobs_after(64 * 1024);
  std::latch first_bytes(1);
  bool signalled = false;
  std::thread puller([&] {
    (void)lib->pull("hf:TheOrg/Tiny-GGUF:Q4_K_M", [&](const PullProgress& p) {
      // The index learns the first bytes before the callback hears of them.
      if (p.bytes_done > 0 && !signalled) {
        signalled = true;
        first_bytes.count_down();
      }
    });
  });
  first_bytes.wait();
  auto observer = open_test_library(home.path, hub.endpoint());
  auto rows = observer->search({.state = LibraryModelState::downloading});
  hub.release_blobs();
  puller.join();
  ASSERT_TRUE(rows.ok()) << rows.error().to_string();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_GT(rows->front().downloaded_bytes, 0u);
  EXPECT_LE(rows->front().downloaded_bytes, 64u * 1024);
  EXPECT_EQ(rows->front().size_bytes, content.size());
  EXPECT_EQ(observer->get("theorg/tiny.q4_k_m")->state, LibraryModelState::ready);
}

TEST_F(Hub, RateLimitedFileRequestWaitsWhatRetryAfterAsks) {
  hub.rate_limit_once_retry_after = 1;
  auto m = lib->pull("hf:TheOrg/Tiny-GGUF:Q4_K_M");
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  auto times = hub.resolve_times();
  ASSERT_EQ(times.size(), 2u) << "one 429, then the retry";
  // What the server saw: the retry came no sooner than the second it asked for.
  EXPECT_GE(times[1] - times[0], std::chrono::seconds(1));
}

TEST_F(Hub, RedirectLoopIsNotRetried) {
  hub.add_file("Loop/Repo-GGUF", "loop.Q4_K_M.gguf", content);
  hub.set_redirect_loop("Loop/Repo-GGUF");
  auto m = lib->pull("hf:Loop/Repo-GGUF");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("redirect"), std::string::npos) << m.error().message();
  // One request and the redirects libcurl follows (10), not one round per retry.
  EXPECT_LE(hub.resolve_requests.load(), 11);
  EXPECT_EQ(lib->search({.state = LibraryModelState::failed})->size(), 1u);
}

TEST_F(Hub, FullDiskFailsThePullWithItsErrnoAndKeepsWhatWasWritten) {
  // The disk "fills" at a third: the write that crosses it is short, the next one fails ENOSPC.
  const uint64_t room = content.size() / 3;
  library::faults::install({.pwrite = [room](int fd, const void* data, size_t size, off_t offset) -> ssize_t {
    if (static_cast<uint64_t>(offset) + size <= room) return ::pwrite(fd, data, size, offset);
    if (static_cast<uint64_t>(offset) < room) return ::pwrite(fd, data, room - offset, offset);
    errno = ENOSPC;
    return -1;
  }});
  struct Restore {
    ~Restore() { library::faults::install({}); }
  } restore;
  auto m = lib->pull("hf:TheOrg/Tiny-GGUF:Q4_K_M");
  library::faults::install({});
  ASSERT_FALSE(m.ok());
  const std::string& msg = m.error().message();
  EXPECT_EQ(m.error().code(), ErrorCode::io_error);
  EXPECT_NE(msg.find(std::strerror(ENOSPC)), std::string::npos) << msg;
  EXPECT_EQ(msg.find("Success"), std::string::npos) << msg;
  EXPECT_NE(msg.find("kept " + std::to_string(room) + " bytes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("xervo models pull hf:TheOrg/Tiny-GGUF/tiny.Q4_K_M.gguf"), std::string::npos) << msg;
  auto failed = lib->search({.state = LibraryModelState::failed});
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_NE(failed->front().error.find(std::strerror(ENOSPC)), std::string::npos) << failed->front().error;
  auto partial = files_under(home.path, ".incomplete");
  ASSERT_EQ(partial.size(), 1u);
  EXPECT_EQ(fs::file_size(partial[0]), room);
  // Space again: the next pull resumes where the disk stopped it.
  auto again = lib->pull("hf:TheOrg/Tiny-GGUF:Q4_K_M");
  ASSERT_TRUE(again.ok()) << again.error().to_string();
  EXPECT_EQ(hub.ranges().back(), "bytes=" + std::to_string(room) + "-");
  EXPECT_EQ(again->state, LibraryModelState::ready);
}

TEST_F(Hub, HttpErrorsBecomeClearCodes) {
  EXPECT_EQ(lib->pull("hf:TheOrg/Missing").error().code(), ErrorCode::model_not_found);
  ::setenv("HF_TOKEN", "hf_secret_value_123", 1);
  hub.fail_status = 401;
  auto unauthorized = lib->pull("hf:TheOrg/Tiny-GGUF:Q8_0");
  ::unsetenv("HF_TOKEN");
  ASSERT_FALSE(unauthorized.ok());
  EXPECT_EQ(unauthorized.error().code(), ErrorCode::unauthorized);
  EXPECT_NE(unauthorized.error().message().find("HF_TOKEN"), std::string::npos);
  EXPECT_EQ(unauthorized.error().message().find("hf_secret_value_123"), std::string::npos);
  EXPECT_EQ(hub.auth_headers().back(), "Bearer hf_secret_value_123");
  hub.fail_status = 429;
  EXPECT_EQ(lib->pull("hf:TheOrg/Tiny-GGUF:Q8_0").error().code(), ErrorCode::rate_limited);
  EXPECT_EQ(lib->hub_search("tiny").error().code(), ErrorCode::rate_limited);
  hub.fail_status = 0;
  EXPECT_EQ(lib->pull("hf:../etc").error().code(), ErrorCode::invalid_input);
  EXPECT_EQ(lib->pull("hf:TheOrg/Tiny-GGUF/../../x.gguf").error().code(), ErrorCode::invalid_input);
}

TEST_F(Hub, HostileListingsWriteNothingOutsideTheLibrary) {
  auto listing = [](nlohmann::json sibling) {
    return nlohmann::json{{"sha", "c0ffee"}, {"siblings", {sibling}}};
  };
  std::string sha(64, 'a');
  struct Case {
    nlohmann::json sibling;
    std::string expect;
  };
  std::vector<Case> cases = {
      {{{"rfilename", "../../../escape.Q4_K_M.gguf"}, {"lfs", {{"sha256", sha}, {"size", 10}}}}, "unsafe"},
      {{{"rfilename", "/etc/abs.Q4_K_M.gguf"}, {"lfs", {{"sha256", sha}, {"size", 10}}}}, "unsafe"},
      {{{"rfilename", "huge.Q4_K_M.gguf"}, {"lfs", {{"sha256", sha}, {"size", 1ull << 60}}}},
       "over the limit"},
      {{{"rfilename", "nohash.Q4_K_M.gguf"}, {"size", 10}}, "no sha256"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string repo = "Bad/Repo" + std::to_string(i);
    hub.set_listing(repo, listing(cases[i].sibling));
    auto r = lib->pull("hf:" + repo + ":Q4_K_M");
    ASSERT_FALSE(r.ok()) << repo;
    EXPECT_NE(r.error().message().find(cases[i].expect), std::string::npos) << r.error().message();
  }
  hub.set_listing("Bad/Shape", nlohmann::json::array({1, 2}));
  EXPECT_FALSE(lib->pull("hf:Bad/Shape").ok());
  EXPECT_FALSE(fs::exists(home.path.parent_path() / "escape.Q4_K_M.gguf"));
  EXPECT_TRUE(files_under(home.path / "models", ".gguf").empty());
  EXPECT_EQ(hub.blob_requests.load(), 0);
}

TEST_F(Hub, SearchIsCachedForItsTtl) {
  hub.set_search_result(nlohmann::json::array(
      {{{"id", "TheOrg/Tiny-GGUF"}, {"downloads", 42}, {"likes", 3}, {"tags", {"gguf"}}},
       {{"id", "../bad"}}}));
  auto first = lib->hub_search("tiny");
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  ASSERT_EQ(first->size(), 1u);  // the malformed id is dropped
  EXPECT_EQ(first->at(0).repo, "TheOrg/Tiny-GGUF");
  EXPECT_EQ(first->at(0).downloads, 42);
  ASSERT_TRUE(lib->hub_search("tiny").ok());
  EXPECT_EQ(hub.search_requests.load(), 1);
  LibraryOptions o = lib->options();
  o.hub_search_ttl_s = -1;  // everything is stale
  auto fresh = ModelLibrary::open(o);
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE((*fresh)->hub_search("tiny").ok());
  EXPECT_EQ(hub.search_requests.load(), 2);
}

}  // namespace
}  // namespace xervo::testing

namespace xervo::testing {
namespace {

// What a lazy load inside an HTTP request does: the runtime's resolver pulls under the request's
// bounds, and a stop request ends the pull midway (what was downloaded stays for the next pull).
TEST_F(Hub, ResolverPullStopsWithTheLoadsStopRequest) {
  const uint64_t quarter = content.size() / 4;
  hub.hold_blobs_after(quarter);
  auto resolver = make_library_resolver({{"home", home.path.string()}, {"hub_endpoint", hub.endpoint()}});
  std::stop_source stop;
  std::thread stopper([&] {
    // Stop once the held download has its first quarter on disk.
    for (int i = 0; i < 2000 && files_under(home.path, ".incomplete").empty(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    for (int i = 0; i < 2000; ++i) {
      auto partial = files_under(home.path, ".incomplete");
      if (!partial.empty() && fs::file_size(partial[0]) >= quarter) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    stop.request_stop();
  });
  LoadControl control;
  control.cancel = stop.get_token();
  auto r = resolver->resolve("hf:TheOrg/Tiny-GGUF:Q4_K_M", true, control);
  stopper.join();
  hub.release_blobs();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::cancelled) << r.error().to_string();
  EXPECT_EQ(files_under(home.path, ".incomplete").size(), 1u);
}

TEST_F(Hub, ResolverPullStopsAtTheLoadsDeadline) {
  hub.hold_blobs_after(content.size() / 4);
  auto resolver = make_library_resolver({{"home", home.path.string()}, {"hub_endpoint", hub.endpoint()}});
  LoadControl control;
  control.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  auto r = resolver->resolve("hf:TheOrg/Tiny-GGUF:Q4_K_M", true, control);
  hub.release_blobs();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::timeout) << r.error().to_string();
}

}  // namespace
}  // namespace xervo::testing
