// xervo.toml: a valid file builds the same runtime as builder calls; a malformed one names the
// file, the line and the key.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fake_provider.h"
#include "xervo/config.h"
#include "xervo/runtime.h"

namespace xervo {
namespace {

constexpr const char* kValid = R"(
[providers.fake]
base_url = "http://127.0.0.1:9"

[models."embed/fast"]
task = "embed"
provider = "fake"
model = "m1"
warmup = "eager"
fallbacks = ["embed/slow"]
options = { dimensions = 4, threads = 2 }

[models."embed/slow"]
task = "embed"
provider = "fake"
model = "m2"
revision = "v2"
options = { dimensions = 4 }

[models."chat/x"]
task = "generate"
provider = "fake"
model = "g"
warmup = "background"
)";

TEST(Config, ValidFileBuildsTheSameRuntimeAsBuilderCalls) {
  auto dir = std::filesystem::temp_directory_path() / "xervo_config_test";
  std::filesystem::create_directories(dir);
  auto path = dir / "xervo.toml";
  std::ofstream(path) << kValid;
  auto config = load_config_file(path);
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  EXPECT_EQ(config->providers["fake"]["base_url"], "http://127.0.0.1:9");

  auto p1 = std::make_shared<testing::FakeProvider>();
  RuntimeBuilder from_file;
  from_file.add_provider(p1).add_config(*config);
  EXPECT_EQ(from_file.provider_settings("fake")["base_url"], "http://127.0.0.1:9");
  auto rt1 = from_file.build();
  ASSERT_TRUE(rt1.ok()) << rt1.error().to_string();

  ModelSpec fast = testing::fake_spec("embed/fast", ModelTask::embed, "m1");
  fast.warmup = WarmupPolicy::eager;
  fast.fallbacks = {"embed/slow"};
  fast.options = {{"dimensions", 4}, {"threads", 2}};
  ModelSpec slow = testing::fake_spec("embed/slow", ModelTask::embed, "m2");
  slow.revision = "v2";
  slow.options = {{"dimensions", 4}};
  ModelSpec chat = testing::fake_spec("chat/x", ModelTask::generate, "g");
  chat.warmup = WarmupPolicy::background;
  auto p2 = std::make_shared<testing::FakeProvider>();
  RuntimeBuilder by_hand;
  by_hand.add_provider(p2).add_spec(fast).add_spec(slow).add_spec(chat);
  auto rt2 = by_hand.build();
  ASSERT_TRUE(rt2.ok());

  auto s1 = (*rt1)->specs(), s2 = (*rt2)->specs();
  ASSERT_EQ(s1.size(), s2.size());
  for (size_t i = 0; i < s1.size(); ++i) {
    EXPECT_EQ(s1[i].alias, s2[i].alias);
    EXPECT_EQ(s1[i].task, s2[i].task);
    EXPECT_EQ(make_model_key(s1[i]), make_model_key(s2[i]));
    EXPECT_EQ(s1[i].warmup, s2[i].warmup);
    EXPECT_EQ(s1[i].fallbacks, s2[i].fallbacks);
  }
  (*rt1)->wait_for_background_loads();
  (*rt2)->wait_for_background_loads();
  EXPECT_EQ(p1->counters->loads.load(), p2->counters->loads.load());
  std::filesystem::remove_all(dir);
}

void expect_error(const std::string& text, const std::string& needle_line, const std::string& needle_key) {
  auto c = parse_config(text, "my.toml");
  ASSERT_FALSE(c.ok()) << text;
  EXPECT_EQ(c.error().code(), ErrorCode::config_invalid);
  EXPECT_NE(c.error().message().find("my.toml:" + needle_line), std::string::npos) << c.error().message();
  EXPECT_NE(c.error().message().find(needle_key), std::string::npos) << c.error().message();
}

TEST(Config, AnAliasWithoutAProviderGetsTheLocalEngineOfItsTask) {
  auto config = parse_config(R"(
[models.chat]
task = "generate"
model = "/m/chat.gguf"
[models.stt]
task = "transcribe"
model = "/m/ggml-base.bin"
)");
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  std::map<std::string, std::string> providers;
  for (const auto& spec : config->models) providers[spec.alias] = spec.provider;
  EXPECT_EQ(providers["chat"], "llamacpp");
  EXPECT_EQ(providers["stt"], "whisper");
}

TEST(Config, MalformedFilesNameFileLineAndKey) {
  expect_error("[models.\"e\"]\ntask = \"embed\"\nmodel = 3\n", "3", "models.\"e\".model");
  expect_error("[models.\"e\"]\ntask = \"dance\"\nmodel = \"x\"\n", "2", "models.\"e\".task");
  expect_error("[models.\"e\"]\ntask = \"embed\"\n", "1", "models.\"e\".model");
  expect_error("[models.\"e\"]\ntask = \"embed\"\nmodel = \"x\"\nwarmup = \"soon\"\n", "4", "warmup");
  expect_error("[models.\"e\"]\ntask = \"embed\"\nmodel = \"x\"\ncolour = \"red\"\n", "4", "colour");
  expect_error("\n\n[models\nx = 1\n", "3", "");  // TOML syntax error
  expect_error("[weird]\nx = 1\n", "1", "weird");
}

TEST(Config, MissingFileIsAClearError) {
  auto c = load_config_file("/nonexistent/xervo.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("/nonexistent/xervo.toml"), std::string::npos);
}

TEST(Config, LocationsGiveTheLineOfEveryKey) {
  auto c = parse_config(kValid, "conf/x.toml");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->where("providers.fake.base_url"), "conf/x.toml:3");
  EXPECT_EQ(c->where("models.\"embed/fast\".warmup"), "conf/x.toml:9");
  EXPECT_EQ(c->where("models.\"embed/fast\".options.threads"), "conf/x.toml:11");
  EXPECT_EQ(c->where("models.\"chat/x\""), "conf/x.toml:20");
  EXPECT_EQ(c->where("no.such.key"), "");  // parsed from text: no file to fall back to
}

// A provider that names its keys gets every other key refused by build(), with its line.
class KeyedProvider : public testing::FakeProvider {
 public:
  std::vector<std::string> setting_keys() const override { return {"base_url", "dimensions"}; }
};

TEST(Config, KeysAProviderDoesNotReadFailBuildWithTheirLine) {
  auto c = parse_config(kValid, "x.toml");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  RuntimeBuilder b;
  b.add_config(*c).add_provider(std::make_shared<KeyedProvider>());
  auto rt = b.build();
  ASSERT_FALSE(rt.ok());
  EXPECT_EQ(rt.error().code(), ErrorCode::config_invalid);
  EXPECT_EQ(
      rt.error().message(),
      "x.toml:11: models.\"embed/fast\".options.threads: unknown key (known keys: base_url, dimensions)");

  auto text = parse_config("[providers.fake]\nbase_url = \"x\"\nbase_ulr = \"y\"\n", "y.toml");
  ASSERT_TRUE(text.ok());
  RuntimeBuilder b2;
  b2.add_config(*text).add_provider(std::make_shared<KeyedProvider>());
  auto rt2 = b2.build();
  ASSERT_FALSE(rt2.ok());
  EXPECT_EQ(rt2.error().message(),
            "y.toml:3: providers.fake.base_ulr: unknown key (known keys: base_url, dimensions)");

  // Options of specs added without a config are checked too, named by alias.
  auto spec = testing::fake_spec("embed/q");
  spec.options = {{"dimension", 4}};
  RuntimeBuilder b3;
  b3.add_provider(std::make_shared<KeyedProvider>()).add_spec(spec);
  auto rt3 = b3.build();
  ASSERT_FALSE(rt3.ok());
  EXPECT_NE(rt3.error().message().find("alias 'embed/q': models.\"embed/q\".options.dimension: unknown key"),
            std::string::npos)
      << rt3.error().message();
}

}  // namespace
}  // namespace xervo
