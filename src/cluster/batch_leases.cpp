#include "cluster/batch_leases.h"

namespace xervo::cluster {
namespace {

constexpr const char* kAcquire = R"lua(
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
)lua";

constexpr const char* kRelease = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua";

}  // namespace

bool RedisBatchLeases::acquire(const std::string& batch_id) {
  auto v =
      redis_.command({"EVAL", kAcquire, "1", prefix_ + "batch_lease:" + batch_id, replica_,
                      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(ttl_).count())});
  std::lock_guard lock(mu_);
  if (!v || v->type != RedisValue::Type::integer) return held_.count(batch_id) > 0;  // unknown: keep ours
  if (v->integer == 1) {
    held_.insert(batch_id);
    return true;
  }
  held_.erase(batch_id);
  return false;
}

void RedisBatchLeases::release(const std::string& batch_id) {
  {
    std::lock_guard lock(mu_);
    held_.erase(batch_id);
  }
  (void)redis_.command({"EVAL", kRelease, "1", prefix_ + "batch_lease:" + batch_id, replica_});
}

}  // namespace xervo::cluster
