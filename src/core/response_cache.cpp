#include "core/response_cache.h"

#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <system_error>
#include <vector>

#include "core/log.h"

namespace xervo {
namespace fs = std::filesystem;

namespace {

// Disk entry: magic, the digest it was written under, creation time (unix seconds), the value's
// length and XXH3-64, then one zstd frame of the value. All integers little-endian (x86 and ARM).
constexpr char kMagic[8] = {'X', 'V', 'C', 'A', 'C', 'H', 'E', '1'};
constexpr size_t kHeaderBytes = 8 + 16 + 8 + 8 + 8;
constexpr size_t kMaxScannedFiles = 1'000'000;
// Past the bound, the oldest disk entries go until this share of it is used, so that trimming (a
// sort of the index) runs once per many writes rather than on each.
constexpr double kTrimTo = 0.9;

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::optional<ResponseCache::Digest> parse_hex(std::string_view hex) {
  if (hex.size() != 32) return std::nullopt;
  ResponseCache::Digest d{0, 0};
  for (size_t i = 0; i < 32; ++i) {
    char c = hex[i];
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v < 0) return std::nullopt;
    d[i / 16] = (d[i / 16] << 4) | static_cast<uint64_t>(v);
  }
  return d;
}

size_t entry_overhead() { return sizeof(ResponseCache::Digest) * 3 + 64; }  // list node + map slot, roughly

}  // namespace

ResponseCache::Digest ResponseCache::digest(std::string_view material) {
  XXH128_hash_t h = XXH3_128bits(material.data(), material.size());
  return {h.high64, h.low64};
}

std::string ResponseCache::to_hex(const Digest& d) {
  static const char* kHex = "0123456789abcdef";
  std::string out(32, '0');
  for (size_t i = 0; i < 32; ++i) out[i] = kHex[(d[i / 16] >> (4 * (15 - i % 16))) & 0xf];
  return out;
}

ResponseCache::ResponseCache(CacheOptions options) : options_(std::move(options)) {
  stats_.enabled = options_.enabled;
  if (disk_enabled()) disk_scan();
}

fs::path ResponseCache::file_for(const Digest& key) const {
  std::string hex = to_hex(key);
  return options_.dir / hex.substr(0, 2) / (hex + ".zst");
}

void ResponseCache::disk_scan() {
  std::error_code ec;
  if (!fs::is_directory(options_.dir, ec)) return;
  size_t seen = 0;
  for (auto it =
           fs::recursive_directory_iterator(options_.dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (++seen > kMaxScannedFiles) break;
    if (it.depth() != 1 || !it->is_regular_file(ec)) continue;
    const fs::path& p = it->path();
    if (p.extension() != ".zst") continue;
    auto key = parse_hex(p.stem().string());
    if (!key) continue;
    DiskEntry e;
    e.bytes = it->file_size(ec);
    auto mtime = it->last_write_time(ec);
    e.created = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::file_clock::to_sys(mtime).time_since_epoch())
                    .count();
    disk_[*key] = e;
    disk_bytes_ += e.bytes;
  }
  std::vector<fs::path> remove;
  disk_trim_locked(&remove);
  for (const auto& p : remove) fs::remove(p, ec);
}

std::optional<std::string> ResponseCache::memory_get_locked(const Digest& key) {
  auto it = memory_.find(key);
  if (it == memory_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->value;
}

void ResponseCache::memory_put_locked(const Digest& key, std::string value) {
  if (options_.memory_bytes == 0) return;
  const uint64_t cost = value.size() + entry_overhead();
  if (cost > options_.memory_bytes / 4) return;  // one answer may not take the whole tier
  if (auto it = memory_.find(key); it != memory_.end()) {
    memory_bytes_ -= it->second->value.size() + entry_overhead();
    lru_.erase(it->second);
    memory_.erase(it);
  }
  lru_.push_front(MemoryEntry{key, std::move(value)});
  memory_[key] = lru_.begin();
  memory_bytes_ += cost;
  while (memory_bytes_ > options_.memory_bytes && !lru_.empty()) {
    const MemoryEntry& last = lru_.back();
    memory_bytes_ -= last.value.size() + entry_overhead();
    memory_.erase(last.key);
    lru_.pop_back();
    ++stats_.memory.evictions;
  }
}

void ResponseCache::disk_drop(const Digest& key, const fs::path& file, bool corrupt) {
  std::error_code ec;
  fs::remove(file, ec);
  std::lock_guard lock(mu_);
  if (auto it = disk_.find(key); it != disk_.end()) {
    disk_bytes_ -= it->second.bytes;
    disk_.erase(it);
  }
  if (corrupt) ++stats_.disk.corrupt;
}

std::optional<std::string> ResponseCache::disk_get(const Digest& key) {
  const fs::path file = file_for(key);
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::string blob;
  {
    in.seekg(0, std::ios::end);
    const auto size = static_cast<int64_t>(in.tellg());
    if (size < static_cast<int64_t>(kHeaderBytes) ||
        static_cast<uint64_t>(size) > options_.max_entry_bytes + kHeaderBytes + 1024) {
      disk_drop(key, file, true);
      return std::nullopt;
    }
    blob.resize(static_cast<size_t>(size));
    in.seekg(0);
    in.read(blob.data(), size);
    if (!in) {
      disk_drop(key, file, true);
      return std::nullopt;
    }
  }
  const char* p = blob.data();
  const bool header_ok =
      std::memcmp(p, kMagic, 8) == 0 && get_u64(p + 8) == key[0] && get_u64(p + 16) == key[1];
  const auto created = static_cast<int64_t>(get_u64(p + 24));
  const uint64_t length = get_u64(p + 32);
  const uint64_t checksum = get_u64(p + 40);
  if (!header_ok || length > options_.max_entry_bytes) {
    disk_drop(key, file, true);
    return std::nullopt;
  }
  if (unix_now() - created > options_.ttl.count()) {
    disk_drop(key, file, false);  // expired: a plain miss
    return std::nullopt;
  }
  std::string value(length, '\0');
  const size_t got =
      ZSTD_decompress(value.data(), value.size(), p + kHeaderBytes, blob.size() - kHeaderBytes);
  if (ZSTD_isError(got) || got != length || XXH3_64bits(value.data(), value.size()) != checksum) {
    disk_drop(key, file, true);
    return std::nullopt;
  }
  return value;
}

void ResponseCache::disk_trim_locked(std::vector<fs::path>* remove) {
  if (disk_bytes_ <= options_.disk_bytes) return;
  std::vector<std::pair<int64_t, Digest>> by_age;
  by_age.reserve(disk_.size());
  for (const auto& [key, e] : disk_) by_age.emplace_back(e.created, key);
  std::sort(by_age.begin(), by_age.end());
  const auto target = static_cast<uint64_t>(static_cast<double>(options_.disk_bytes) * kTrimTo);
  for (const auto& [created, key] : by_age) {
    if (disk_bytes_ <= target) break;
    auto it = disk_.find(key);
    disk_bytes_ -= it->second.bytes;
    disk_.erase(it);
    remove->push_back(file_for(key));
    ++stats_.disk.evictions;
  }
}

void ResponseCache::disk_put(const Digest& key, const std::string& value) {
  std::string blob(kMagic, 8);
  put_u64(blob, key[0]);
  put_u64(blob, key[1]);
  put_u64(blob, static_cast<uint64_t>(unix_now()));
  put_u64(blob, value.size());
  put_u64(blob, XXH3_64bits(value.data(), value.size()));
  const size_t header = blob.size();
  blob.resize(header + ZSTD_compressBound(value.size()));
  const size_t n = ZSTD_compress(blob.data() + header, blob.size() - header, value.data(), value.size(),
                                 options_.zstd_level);
  if (ZSTD_isError(n)) return;
  blob.resize(header + n);

  const fs::path file = file_for(key);
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  static std::atomic<uint64_t> serial{0};
  const fs::path tmp =
      file.parent_path() / (".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(serial.fetch_add(1)));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(blob.data(), static_cast<std::streamsize>(blob.size()));
    if (!out) {
      out.close();
      fs::remove(tmp, ec);
      spdlog::debug("cache: cannot write {}", tmp.string());
      return;
    }
  }
  fs::rename(tmp, file, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return;
  }
  std::vector<fs::path> remove;
  {
    std::lock_guard lock(mu_);
    auto& e = disk_[key];
    disk_bytes_ -= e.bytes;
    e.bytes = blob.size();
    e.created = unix_now();
    disk_bytes_ += e.bytes;
    disk_trim_locked(&remove);
  }
  for (const auto& p : remove) fs::remove(p, ec);
}

std::optional<std::string> ResponseCache::get(const Digest& key) {
  bool on_disk = false;
  {
    std::lock_guard lock(mu_);
    if (auto v = memory_get_locked(key)) {
      ++stats_.memory.hits;
      return v;
    }
    ++stats_.memory.misses;
    on_disk = disk_enabled() && disk_.find(key) != disk_.end();
    if (disk_enabled() && !on_disk) ++stats_.disk.misses;
  }
  if (on_disk) {
    auto v = disk_get(key);
    std::lock_guard lock(mu_);
    if (v) {
      ++stats_.disk.hits;
      memory_put_locked(key, *v);
      return v;
    }
    ++stats_.disk.misses;
  }
  return shared_get(key);
}

std::optional<std::string> ResponseCache::shared_get(const Digest& key) {
  if (!shared_) return std::nullopt;
  auto v = shared_->get(to_hex(key));
  if (!v || v->size() > options_.max_entry_bytes) return std::nullopt;
  std::lock_guard lock(mu_);
  memory_put_locked(key, *v);
  return v;
}

void ResponseCache::put(const Digest& key, std::string value) {
  if (value.size() > options_.max_entry_bytes) return;
  if (disk_enabled()) disk_put(key, value);
  if (shared_) shared_->put(to_hex(key), value);
  std::lock_guard lock(mu_);
  ++stats_.stores;
  memory_put_locked(key, std::move(value));
}

std::optional<std::string> ResponseCache::join_or_run(
    const Digest& key, const std::function<std::optional<std::string>()>& compute, bool* joined) {
  *joined = false;
  std::shared_ptr<Flight> flight;
  {
    std::unique_lock lock(mu_);
    if (auto it = flights_.find(key); it != flights_.end()) {
      auto other = it->second;
      ++stats_.joined;
      other->cv.wait(lock, [&] { return other->done; });
      if (other->value) {
        *joined = true;
        return other->value;
      }
      // The other call failed: this one tries on its own (and leads the next joiners).
    }
    if (flights_.find(key) == flights_.end()) {
      flight = std::make_shared<Flight>();
      flights_[key] = flight;
    }
  }
  auto finish = [&](std::optional<std::string> value) {
    if (!flight) return;
    std::lock_guard lock(mu_);
    flight->done = true;
    flight->value = std::move(value);
    flights_.erase(key);
    flight->cv.notify_all();
  };
  std::optional<std::string> value;
  try {
    value = compute();
  } catch (...) {
    finish(std::nullopt);
    throw;
  }
  finish(value);
  return value;
}

std::optional<std::string> ResponseCache::compute_once(
    const Digest& key, const CachePolicy& policy, const std::function<std::optional<std::string>()>& compute,
    bool* hit) {
  *hit = false;
  if (policy.read) {
    if (auto v = get(key)) {
      *hit = true;
      return v;
    }
  } else {
    // no-cache: this call computes fresh, whatever else is in flight.
    auto value = compute();
    if (value && policy.write) put(key, *value);
    return value;
  }
  bool joined = false;
  auto value = join_or_run(
      key,
      [&]() -> std::optional<std::string> {
        auto v = compute();
        if (v && policy.write) put(key, *v);
        return v;
      },
      &joined);
  *hit = joined;
  return value;
}

CacheStats ResponseCache::stats() const {
  std::lock_guard lock(mu_);
  CacheStats s = stats_;
  s.memory.entries = memory_.size();
  s.memory.bytes = memory_bytes_;
  s.disk.entries = disk_.size();
  s.disk.bytes = disk_bytes_;
  return s;
}

void ResponseCache::clear() {
  std::vector<fs::path> remove;
  {
    std::lock_guard lock(mu_);
    lru_.clear();
    memory_.clear();
    memory_bytes_ = 0;
    for (const auto& [key, e] : disk_) remove.push_back(file_for(key));
    disk_.clear();
    disk_bytes_ = 0;
  }
  std::error_code ec;
  for (const auto& p : remove) fs::remove(p, ec);
  if (shared_) shared_->clear();
}

}  // namespace xervo
