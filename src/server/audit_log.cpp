#include "server/audit_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "core/log.h"
#include "server/auth.h"
#include "server/key_file.h"

namespace xervo::server {
namespace {

namespace fs = std::filesystem;

std::string now_iso() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t s = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

fs::path head_path(const fs::path& path) { return path.string() + ".head"; }
fs::path rotated(const fs::path& path, int n) { return path.string() + "." + std::to_string(n); }

struct Head {
  int64_t seq = 0;
  std::string hash{kAuditGenesis};
};

Head read_head(const fs::path& path) {
  std::ifstream in(head_path(path));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto j = nlohmann::json::parse(text, nullptr, false);
  Head h;
  if (j.is_object() && j["seq"].is_number_integer() && j["hash"].is_string()) {
    h.seq = j["seq"].get<int64_t>();
    h.hash = j["hash"].get<std::string>();
  }
  return h;
}

class LockFd {
 public:
  explicit LockFd(const fs::path& path) {
    fd_ = ::open((path.string() + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~LockFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  LockFd(const LockFd&) = delete;
  LockFd& operator=(const LockFd&) = delete;
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// PATH -> PATH.1, PATH.1 -> PATH.2 ...; beyond keep_files the oldest goes.
void rotate(const AuditOptions& o) {
  std::error_code ec;
  fs::remove(rotated(o.path, o.keep_files), ec);
  for (int n = o.keep_files - 1; n >= 1; --n)
    if (fs::exists(rotated(o.path, n), ec)) fs::rename(rotated(o.path, n), rotated(o.path, n + 1), ec);
  if (o.keep_files >= 1)
    fs::rename(o.path, rotated(o.path, 1), ec);
  else
    fs::remove(o.path, ec);
}

Result<void> append_line(const fs::path& path, const std::string& line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Error(ErrorCode::io_error, "cannot open the audit log " + path.string());
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  const bool ok = done == line.size() && ::fdatasync(fd) == 0;
  ::close(fd);
  if (!ok) return Error(ErrorCode::io_error, "cannot write the audit log " + path.string());
  return {};
}

}  // namespace

Result<void> AuditLog::record(const std::string& event, nlohmann::json fields) {
  if (!enabled()) return {};
  std::lock_guard one(mu_);
  const fs::path& path = options_.path;
  std::error_code ec;
  if (!path.parent_path().empty()) fs::create_directories(path.parent_path(), ec);
  LockFd lock(path);
  if (!lock.ok()) {
    spdlog::error("audit log {}: cannot take its lock; event '{}' not recorded", path.string(), event);
    return Error(ErrorCode::io_error, "cannot lock the audit log");
  }
  Head head = read_head(path);
  if (fs::exists(path, ec) && fs::file_size(path, ec) >= options_.max_bytes) rotate(options_);
  nlohmann::ordered_json rec;
  rec["seq"] = head.seq + 1;
  rec["time"] = now_iso();
  rec["event"] = event;
  if (fields.is_object())
    for (auto& [k, v] : fields.items())
      if (k != "seq" && k != "time" && k != "event" && k != "prev") rec[k] = v;
  rec["prev"] = head.hash;
  const std::string line = rec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  auto written = append_line(path, line + "\n");
  if (!written.ok()) {
    spdlog::error("{}; event '{}' not recorded", written.error().message(), event);
    return written;
  }
  nlohmann::json next = {{"seq", head.seq + 1}, {"hash", sha256_hex(line)}};
  auto saved = write_file_atomically(head_path(path), next.dump() + "\n");
  if (!saved.ok()) spdlog::error("audit log head: {}", saved.error().message());
  return saved;
}

std::vector<fs::path> audit_files(const fs::path& path) {
  std::vector<fs::path> out;
  std::error_code ec;
  int n = 1;
  while (n < 100000 && fs::exists(rotated(path, n), ec)) ++n;
  for (int i = n - 1; i >= 1; --i) out.push_back(rotated(path, i));
  if (fs::exists(path, ec)) out.push_back(path);
  return out;
}

AuditVerifyReport verify_audit_files(const std::vector<fs::path>& files, const fs::path& head,
                                     bool allow_cut_start) {
  AuditVerifyReport report;
  std::string prev_hash;
  int64_t prev_seq = -1;
  auto problem = [&](const fs::path& f, int64_t line, const std::string& what) {
    if (report.problems.size() < 100)
      report.problems.push_back(f.string() + ":" + std::to_string(line) + ": " + what);
  };
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      problem(file, 0, "cannot be read");
      continue;
    }
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!content.empty() && content.back() != '\n') problem(file, 0, "ends inside a record (truncated)");
    int64_t line_no = 0;
    size_t pos = 0;
    while (pos < content.size()) {
      size_t nl = content.find('\n', pos);
      const bool complete = nl != std::string::npos;
      std::string line = content.substr(pos, complete ? nl - pos : std::string::npos);
      pos = complete ? nl + 1 : content.size();
      ++line_no;
      if (!complete) break;  // already reported
      auto rec = nlohmann::json::parse(line, nullptr, false);
      if (!rec.is_object() || !rec["seq"].is_number_integer() || !rec["prev"].is_string()) {
        problem(file, line_no, "is not an audit record (edited?)");
        prev_hash = sha256_hex(line);
        prev_seq = -1;
        continue;
      }
      const int64_t seq = rec["seq"].get<int64_t>();
      const std::string prev = rec["prev"].get<std::string>();
      if (prev_seq < 0 && report.records == 0 && prev_hash.empty()) {
        if (prev != kAuditGenesis && !allow_cut_start)
          problem(file, line_no, "the chain does not start at the first record (older files removed?)");
      } else {
        if (prev != prev_hash)
          problem(file, line_no,
                  "its prev hash does not match the record before (a record edited or removed)");
        if (prev_seq >= 0 && seq != prev_seq + 1)
          problem(
              file, line_no,
              "seq " + std::to_string(seq) + " follows " + std::to_string(prev_seq) + " (records removed)");
      }
      prev_hash = sha256_hex(line);
      prev_seq = seq;
      ++report.records;
    }
  }
  if (!head.empty()) {
    std::ifstream in(head);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto h = nlohmann::json::parse(text, nullptr, false);
    if (!in || !h.is_object()) {
      problem(head, 0, "the head file is missing or unreadable");
    } else if (h.value("hash", "") != prev_hash || h.value("seq", int64_t{-1}) != prev_seq) {
      problem(head, 0,
              "the log ends at seq " + std::to_string(prev_seq) + " but the head says seq " +
                  std::to_string(h.value("seq", int64_t{-1})) + " (records cut off or edited at the end)");
    }
  }
  report.ok = report.problems.empty();
  return report;
}

}  // namespace xervo::server
