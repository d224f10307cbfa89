#include "cluster/key_revocations.h"

namespace xervo::cluster {
namespace {
constexpr size_t kMaxRevoked = 1000000;  // a set larger than this is not read (hostile or broken Redis)

bool is_sha256_hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}
}  // namespace

bool KeyRevocations::revoked(const std::string& sha256) const {
  std::shared_ptr<const std::set<std::string>> known;
  {
    std::lock_guard lock(mu_);
    known = known_;
  }
  return known->count(sha256) > 0;
}

void KeyRevocations::revoke(const std::string& sha256) {
  if (!is_sha256_hex(sha256)) return;
  std::lock_guard lock(mu_);
  auto next = std::make_shared<std::set<std::string>>(*known_);
  next->insert(sha256);
  known_ = std::move(next);
  queued_.push_back(sha256);
}

bool KeyRevocations::refresh() {
  std::vector<std::string> queued;
  {
    std::lock_guard lock(mu_);
    queued.swap(queued_);
  }
  if (!queued.empty()) {
    std::vector<std::string> args = {"SADD", key_};
    args.insert(args.end(), queued.begin(), queued.end());
    auto v = redis_.command(args);
    if (!v || v->is_error()) {
      std::lock_guard lock(mu_);
      queued_.insert(queued_.end(), queued.begin(), queued.end());  // again next time
      return false;
    }
  }
  auto size = redis_.command({"SCARD", key_});
  if (!size || size->type != RedisValue::Type::integer || size->integer > static_cast<int64_t>(kMaxRevoked))
    return false;
  auto members = redis_.command({"SMEMBERS", key_});
  if (!members || members->type != RedisValue::Type::array) return false;
  auto next = std::make_shared<std::set<std::string>>();
  for (const auto& m : members->elements)
    if (is_sha256_hex(m.str)) next->insert(m.str);
  std::lock_guard lock(mu_);
  // A hash once seen stays refused by this process (Redis restarted empty must not revive a key).
  next->insert(known_->begin(), known_->end());
  known_ = std::move(next);
  return true;
}

}  // namespace xervo::cluster
