// parse_api_settings: the timeouts every remote provider reads are bounded, so a hostile value is a
// clear config error, never an overflowing deadline.
#include <gtest/gtest.h>

#include "net/api_client.h"

namespace xervo::net {
namespace {

ApiDefaults defaults() {
  ApiDefaults d;
  d.service = "test";
  d.base_url = "http://127.0.0.1:9";
  return d;
}

TEST(ApiSettings, TimeoutsAreBoundedAndHostileOnesNamed) {
  for (const char* key : {"timeout_ms", "connect_timeout_ms", "stream_idle_timeout_ms", "queue_timeout_ms"}) {
    auto ok = parse_api_settings({{key, 604800000}}, nlohmann::json::object(), defaults());
    EXPECT_TRUE(ok.ok()) << key << ": " << ok.error().to_string();
    for (const nlohmann::json& bad : {nlohmann::json(604800001), nlohmann::json(INT64_MAX), nlohmann::json(-1),
                                      nlohmann::json(UINT64_MAX), nlohmann::json("10"), nlohmann::json(1.5)}) {
      auto r = parse_api_settings({{key, bad}}, nlohmann::json::object(), defaults());
      ASSERT_FALSE(r.ok()) << key << " = " << bad.dump();
      EXPECT_EQ(r.error().code(), ErrorCode::config_invalid);
      EXPECT_NE(r.error().message().find(key), std::string::npos) << r.error().message();
    }
  }
}

}  // namespace
}  // namespace xervo::net
