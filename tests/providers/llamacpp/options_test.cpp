#include "providers/llamacpp/options.h"
#include "helpers.h"

namespace xervo::testing {
namespace {

using llamacpp::parse_options;

TEST(LlamaOptions, SpecOverridesProviderSettings) {
  auto o = parse_options({{"threads", 3}, {"context_size", 256}}, {{"threads", 5}, {"pooling", "cls"}});
  ASSERT_TRUE(o.ok()) << o.error().to_string();
  EXPECT_EQ(o->threads, 5);
  EXPECT_EQ(o->context_size, 256);
  EXPECT_EQ(o->pooling, llamacpp::Pooling::cls);
  EXPECT_TRUE(o->normalize);
  EXPECT_EQ(o->queue_limit, 64);
}

TEST(LlamaOptions, WrongTypesRangesAndUnknownKeysAreConfigInvalid) {
  for (const auto& bad : {nlohmann::json{{"threads", "two"}}, nlohmann::json{{"context_size", -1}},
                          nlohmann::json{{"pooling", "max"}}, nlohmann::json{{"mmap", 1}},
                          nlohmann::json{{"contxt_size", 512}}, nlohmann::json{{"parallel", 100000}}}) {
    auto o = parse_options(nlohmann::json::object(), bad);
    ASSERT_FALSE(o.ok()) << bad.dump();
    EXPECT_EQ(o.error().code(), ErrorCode::config_invalid);
    EXPECT_NE(o.error().message().find(bad.begin().key()), std::string::npos) << o.error().message();
  }
}

TEST(LlamaOptions, BadOptionFailsTheLoad) {
  auto provider = make_llamacpp_provider(nlohmann::json::object(), nullptr);
  auto r =
      provider->load(spec_for(ModelTask::embed, test_model("embedder"), {{"batch_size", "big"}}), nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::config_invalid);
}

TEST(LlamaOptions, PoolingNoneCannotEmbed) {
  auto provider = make_llamacpp_provider(nlohmann::json::object(), nullptr);
  auto r = provider->load(spec_for(ModelTask::embed, test_model("embedder"), {{"pooling", "none"}}), nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::config_invalid);
}

}  // namespace
}  // namespace xervo::testing
