// [server] keys of the Batch API: read by name, defaults in place, out-of-range values refused.
#include <gtest/gtest.h>

#include "xervo/config.h"
#include "xervo/server.h"

namespace xervo {
namespace {

Result<ServerOptions> parse(const std::string& toml) {
  auto config = parse_config(toml);
  if (!config.ok()) return config.error();
  return parse_server_options(config->server);
}

TEST(BatchOptions, DefaultsAndEveryKey) {
  auto d = parse("");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->batch_dir.empty());
  EXPECT_EQ(d->max_upload_bytes, 100u << 20);
  EXPECT_EQ(d->batch_concurrency, 1);
  EXPECT_EQ(d->batch_max_attempts, 3);
  auto o = parse(R"(
[server]
batch_dir = "/srv/batches"
max_upload_bytes = 2048
max_batch_lines = 10
max_files = 5
batch_concurrency = 4
batch_max_attempts = 7
batch_retry_backoff_ms = 250
)");
  ASSERT_TRUE(o.ok()) << o.error().to_string();
  EXPECT_EQ(o->batch_dir, "/srv/batches");
  EXPECT_EQ(o->max_upload_bytes, 2048u);
  EXPECT_EQ(o->max_batch_lines, 10u);
  EXPECT_EQ(o->max_files, 5u);
  EXPECT_EQ(o->batch_concurrency, 4);
  EXPECT_EQ(o->batch_max_attempts, 7);
  EXPECT_EQ(o->batch_retry_backoff.count(), 250);
}

TEST(BatchOptions, BadValuesNameTheKey) {
  for (const char* line : {"batch_dir = \"\"", "batch_concurrency = 0", "max_upload_bytes = 10",
                           "batch_max_attempts = \"3\"", "batch_retry_backoff_ms = 0"}) {
    auto o = parse(std::string("[server]\n") + line + "\n");
    ASSERT_FALSE(o.ok()) << line;
    std::string key = std::string(line).substr(0, std::string(line).find(' '));
    EXPECT_NE(o.error().message().find(key), std::string::npos) << o.error().message();
  }
}

}  // namespace
}  // namespace xervo
