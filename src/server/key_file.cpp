#include "server/key_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "server/model_policy.h"

namespace xervo::server {
namespace {

constexpr size_t kMaxKeysFileBytes = 16u << 20;
constexpr size_t kMaxKeys = 100000;

Error invalid(const std::string& where, const std::string& what) {
  return Error(ErrorCode::config_invalid, where + ": " + what);
}

Result<std::vector<std::string>> strings(const nlohmann::json& v, const std::string& where) {
  if (!v.is_array()) return invalid(where, "must be an array of strings");
  std::vector<std::string> out;
  for (const auto& s : v) {
    if (!s.is_string()) return invalid(where, "must be an array of strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

// An exclusive advisory lock on PATH.lock for as long as it lives.
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path) {
    fd_ = ::open((path.string() + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace

Result<ApiKey> parse_api_key_entry(const nlohmann::json& entry, const std::string& where,
                                   std::string* created) {
  if (!entry.is_object()) return invalid(where, "each key must be a {name, sha256, scopes | roles} table");
  ApiKey key;
  for (const auto& [field, value] : entry.items()) {
    const std::string at = where + "." + field;
    if (field == "name" || field == "sha256") {
      if (!value.is_string()) return invalid(at, "must be a string");
      (field == "name" ? key.name : key.sha256) = value.get<std::string>();
    } else if (field == "scopes" || field == "roles" || field == "allow_ips") {
      auto s = strings(value, at);
      if (!s.ok()) return s.error();
      (field == "scopes" ? key.scopes : field == "roles" ? key.roles : key.allow_ips) = std::move(*s);
    } else if (field == "requests_per_minute" || field == "tokens_per_minute") {
      if (!value.is_number_integer() || value.get<int64_t>() < 0)
        return invalid(at, "must be a non-negative integer");
      (field == "requests_per_minute" ? key.requests_per_minute : key.tokens_per_minute) =
          value.get<int64_t>();
    } else if (field == "allow_model_ids") {
      auto allowance = parse_model_id_allowance(value, at);
      if (!allowance.ok()) return allowance.error();
      key.allow_model_ids = std::move(*allowance);
    } else if (field == "created" && created) {
      if (!value.is_string()) return invalid(at, "must be a string");
      *created = value.get<std::string>();
    } else {
      return invalid(at,
                     "unknown key (expected name, sha256, scopes, roles, allow_ips, requests_per_minute, "
                     "tokens_per_minute, allow_model_ids)");
    }
  }
  return key;
}

nlohmann::json api_key_json(const StoredKey& s) {
  nlohmann::json j = {{"name", s.key.name}, {"sha256", s.key.sha256}, {"created", s.created}};
  if (!s.key.scopes.empty()) j["scopes"] = s.key.scopes;
  if (!s.key.roles.empty()) j["roles"] = s.key.roles;
  if (!s.key.allow_ips.empty()) j["allow_ips"] = s.key.allow_ips;
  if (s.key.requests_per_minute >= 0) j["requests_per_minute"] = s.key.requests_per_minute;
  if (s.key.tokens_per_minute >= 0) j["tokens_per_minute"] = s.key.tokens_per_minute;
  return j;
}

Result<std::optional<std::vector<StoredKey>>> read_keys_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<std::vector<StoredKey>>();
  const std::string where = "keys file " + path.string();
  if (std::filesystem::file_size(path, ec) > kMaxKeysFileBytes)
    return invalid(where, "is larger than 16 MiB");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(ErrorCode::io_error, where + ": cannot be read");
  std::ostringstream ss;
  ss << in.rdbuf();
  auto doc = nlohmann::json::parse(ss.str(), nullptr, false);
  if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array())
    return invalid(where, "is not a keys file ({\"version\": 1, \"keys\": [...]})");
  if (doc.value("version", 0) != 1) return invalid(where, "has an unknown version (expected 1)");
  if (doc["keys"].size() > kMaxKeys) return invalid(where, "holds more than 100000 keys");
  std::vector<StoredKey> out;
  for (const auto& entry : doc["keys"]) {
    StoredKey s;
    auto key = parse_api_key_entry(entry, where + " keys", &s.created);
    if (!key.ok()) return key.error();
    s.key = std::move(*key);
    out.push_back(std::move(s));
  }
  return std::optional<std::vector<StoredKey>>(std::move(out));
}

Result<void> write_file_atomically(const std::filesystem::path& path, const std::string& text) {
  const std::string tmp = path.string() + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error(ErrorCode::io_error, "cannot create " + tmp);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      return Error(ErrorCode::io_error, "cannot write " + tmp);
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Error(ErrorCode::io_error, "cannot replace " + path.string());
  }
  std::filesystem::path folder = path.parent_path().empty() ? "." : path.parent_path();
  if (int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return {};
}

Result<void> update_keys_file(const std::filesystem::path& path,
                              const std::function<Result<void>(std::vector<StoredKey>&)>& change) {
  std::error_code ec;
  if (!path.parent_path().empty()) std::filesystem::create_directories(path.parent_path(), ec);
  FileLock lock(path);
  if (!lock.ok()) return Error(ErrorCode::io_error, "cannot lock " + path.string() + ".lock");
  auto current = read_keys_file(path);
  if (!current.ok()) return current.error();
  std::vector<StoredKey> keys = current->value_or(std::vector<StoredKey>{});
  if (auto r = change(keys); !r.ok()) return r;
  nlohmann::json doc = {{"version", 1}, {"keys", nlohmann::json::array()}};
  for (const auto& k : keys) doc["keys"].push_back(api_key_json(k));
  return write_file_atomically(path, doc.dump(2) + "\n");
}

}  // namespace xervo::server
