// The audit log's hash chain: records chain across rotated files, and verify finds a changed byte,
// a removed line, a cut-off end (at a line boundary and inside a record) and a removed rotated file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "server/audit_log.h"

namespace xervo::server {
namespace {

namespace fs = std::filesystem;

class AuditTest : public ::testing::Test {
 protected:
  fs::path dir =
      fs::temp_directory_path() / ("xervo-audit-" + std::to_string(::getpid()) + "-" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::path path = dir / "audit.log";

  void SetUp() override { fs::create_directories(dir); }
  void TearDown() override { fs::remove_all(dir); }

  void write_records(int n, size_t max_bytes = 64u << 20) {
    AuditOptions o;
    o.path = path;
    o.max_bytes = max_bytes;
    AuditLog log(o);
    for (int i = 0; i < n; ++i)
      ASSERT_TRUE(log.record("admin_action", {{"i", i}, {"actor", "key:ops"}}).ok());
  }
  AuditVerifyReport verify() { return verify_audit_files(audit_files(path), path.string() + ".head", false); }

  static std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  static void write(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
  static std::string problems(const AuditVerifyReport& r) {
    std::string out;
    for (const auto& p : r.problems) out += p + "\n";
    return out;
  }
};

TEST_F(AuditTest, AnIntactLogVerifies) {
  write_records(5);
  auto r = verify();
  EXPECT_TRUE(r.ok) << problems(r);
  EXPECT_EQ(r.records, 5);
  std::istringstream lines(read(path));
  std::string first;
  std::getline(lines, first);
  auto rec = nlohmann::json::parse(first);
  EXPECT_EQ(rec["seq"], 1);
  EXPECT_EQ(rec["event"], "admin_action");
  EXPECT_EQ(rec["prev"], std::string(kAuditGenesis));
  EXPECT_TRUE(rec["time"].is_string());
}

TEST_F(AuditTest, AChangedByteIsDetected) {
  write_records(5);
  std::string s = read(path);
  size_t at = s.find("key:ops");
  s[at + 4] = 'x';  // "key:xps" in the first record
  write(path, s);
  auto r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(problems(r).find(":2: its prev hash does not match"), std::string::npos) << problems(r);
}

TEST_F(AuditTest, AChangedByteInTheLastRecordIsDetectedByTheHead) {
  write_records(3);
  std::string s = read(path);
  size_t at = s.rfind("key:ops");
  s[at + 4] = 'x';
  write(path, s);
  auto r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(problems(r).find("head"), std::string::npos) << problems(r);
}

TEST_F(AuditTest, ARemovedLineIsDetected) {
  write_records(5);
  std::string s = read(path);
  size_t second = s.find('\n') + 1;
  size_t third = s.find('\n', second) + 1;
  write(path, s.substr(0, second) + s.substr(third));
  auto r = verify();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(problems(r).find("records removed"), std::string::npos) << problems(r);
}

TEST_F(AuditTest, ATruncationIsDetectedAtALineBoundaryAndInsideARecord) {
  write_records(5);
  const std::string s = read(path);
  size_t last_line = s.rfind('\n', s.size() - 2) + 1;
  write(path, s.substr(0, last_line));  // the last record removed cleanly
  auto clean = verify();
  EXPECT_FALSE(clean.ok);
  EXPECT_NE(problems(clean).find("cut off"), std::string::npos) << problems(clean);
  write(path, s.substr(0, last_line + 10));  // cut inside the last record
  auto partial = verify();
  EXPECT_FALSE(partial.ok);
  EXPECT_NE(problems(partial).find("truncated"), std::string::npos) << problems(partial);
}

TEST_F(AuditTest, TheChainContinuesAcrossRotatedFiles) {
  write_records(100, 4096);  // about 130 bytes a record: several files
  auto files = audit_files(path);
  ASSERT_GE(files.size(), 2u);
  EXPECT_EQ(files.back(), path);
  auto r = verify();
  EXPECT_TRUE(r.ok) << problems(r);
  EXPECT_EQ(r.records, 100);
  // The oldest file removed: its start is detected, unless told it was pruned on purpose.
  fs::remove(files.front());
  EXPECT_FALSE(verify().ok);
  auto pruned = verify_audit_files(audit_files(path), path.string() + ".head", true);
  EXPECT_TRUE(pruned.ok) << problems(pruned);
  // A middle file removed: the seq gap and the chain break show.
  auto rest = audit_files(path);
  ASSERT_GE(rest.size(), 3u);
  fs::remove(rest[1]);
  std::vector<fs::path> gap = {rest[0], rest[2]};
  EXPECT_FALSE(verify_audit_files(gap, "", true).ok);
}

TEST_F(AuditTest, TwoWritersContinueOneChain) {
  AuditOptions o;
  o.path = path;
  AuditLog a(o), b(o);  // the server and `xervo keys` each have their own
  ASSERT_TRUE(a.record("x", {}).ok());
  ASSERT_TRUE(b.record("y", {}).ok());
  ASSERT_TRUE(a.record("z", {}).ok());
  auto r = verify();
  EXPECT_TRUE(r.ok) << problems(r);
  EXPECT_EQ(r.records, 3);
}

}  // namespace
}  // namespace xervo::server
