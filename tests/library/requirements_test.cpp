// The requirements contract and the resolver that enforces it.
#include <gtest/gtest.h>

#include <fstream>

#include "gguf_writer.h"
#include "library_fixture.h"

namespace xervo::testing {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

const json* find_requirement(const json& contract, const std::string& name) {
  for (const auto& g : contract["groups"])
    for (const auto& r : g["requirements"])
      if (r["name"] == name) return &r;
  return nullptr;
}

class Requirements : public ::testing::Test {
 protected:
  void SetUp() override {
    lib = open_test_library(home.path);
    ASSERT_TRUE(lib);
    // A real vocabulary file of llama.cpp: architecture llama with hyper-parameters and tokenizer.
    fs::copy_file(fs::path(XERVO_VOCAB_DIR) / "ggml-vocab-llama-spm.gguf", src.path / "spm.gguf");
    write_test_gguf(src.path / "alien.gguf", {.architecture = "nosucharch", .seed = 9});
    for (auto& o :
         lib->import_paths({src.path / "spm.gguf", src.path / "alien.gguf"}, {.mode = ImportMode::copy}))
      ASSERT_TRUE(o.model) << o.error->to_string();
  }
  TempDir home, src;
  std::shared_ptr<ModelLibrary> lib;
};

TEST_F(Requirements, ResolvedForAModelTheLinkedLlamaCppReads) {
  auto c = resolve_model_dependency_requirements(*lib, "library:local/spm");
  EXPECT_EQ(c["contract_version"], 1);
  EXPECT_EQ(c["state"], "resolved") << c.dump(2);
  EXPECT_TRUE(c["ready"].get<bool>());
  EXPECT_EQ(c["profile"]["backend"], "cpu");
  for (const char* name : {"model_in_library", "files_present", "files_verified", "backend_available",
                           "architecture_supported", "memory"}) {
    const json* r = find_requirement(c, name);
    ASSERT_TRUE(r) << name;
    EXPECT_TRUE((*r)["ok"].get<bool>()) << name << ": " << (*r)["detail"];
  }
  EXPECT_TRUE(c["errors"].empty());
}

TEST_F(Requirements, ProfilesAreCheckedBeforeTheModel) {
  EXPECT_EQ(resolve_model_dependency_requirements(*lib, "local/spm", "Linux x86", "cpu")["state"],
            "invalid_profile");
  EXPECT_EQ(resolve_model_dependency_requirements(*lib, "local/spm", "", "cpu; rm")["state"],
            "invalid_profile");
  EXPECT_EQ(resolve_model_dependency_requirements(*lib, "local/spm", "plan9-vax", "cpu")["state"],
            "unknown_profile");
  EXPECT_EQ(resolve_model_dependency_requirements(*lib, "local/spm", "", "tpu")["state"], "unknown_profile");
  auto metal = resolve_model_dependency_requirements(*lib, "local/spm", "linux-x86_64", "metal");
  EXPECT_EQ(metal["state"], "profile_conflict");
  ASSERT_FALSE(metal["errors"].empty());
  EXPECT_EQ(metal["errors"][0]["code"], "profile_conflict");
  auto elsewhere = resolve_model_dependency_requirements(*lib, "local/spm", "windows-aarch64", "cpu");
  EXPECT_EQ(elsewhere["state"], "profile_conflict");
  EXPECT_FALSE(elsewhere["ready"].get<bool>());
}

TEST_F(Requirements, MissingRequirementsAreListedOneByOne) {
  auto missing = resolve_model_dependency_requirements(*lib, "local/not-there");
  EXPECT_EQ(missing["state"], "missing_requirements");
  EXPECT_FALSE((*find_requirement(missing, "model_in_library"))["ok"].get<bool>());

  auto alien = resolve_model_dependency_requirements(*lib, "local/alien");
  EXPECT_EQ(alien["state"], "missing_requirements");
  const json* arch = find_requirement(alien, "architecture_supported");
  ASSERT_TRUE(arch);
  EXPECT_FALSE((*arch)["ok"].get<bool>());
  EXPECT_EQ((*arch)["architecture"], "nosucharch");
  EXPECT_TRUE((*find_requirement(alien, "files_verified"))["ok"].get<bool>());

  // A file changed behind the library's back is not verified any more.
  fs::path file = lib->get("local/spm")->file;
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x01');
  }
  auto drift = resolve_model_dependency_requirements(*lib, "local/spm");
  EXPECT_EQ(drift["state"], "missing_requirements");
  EXPECT_FALSE((*find_requirement(drift, "files_verified"))["ok"].get<bool>());
}

TEST_F(Requirements, RemoteBackendsNeedTheirApiKeyVariable) {
  ::unsetenv("GEMINI_API_KEY");
  auto without = resolve_model_dependency_requirements(*lib, "gemini-embedding-001", "", "gemini");
  EXPECT_EQ(without["state"], "missing_requirements");
  const json* key = find_requirement(without, "api_key_env");
  ASSERT_TRUE(key);
  EXPECT_EQ((*key)["variable"], "GEMINI_API_KEY");
  ::setenv("GEMINI_API_KEY", "secret-value", 1);
  auto with = resolve_model_dependency_requirements(*lib, "gemini-embedding-001", "", "gemini");
  ::unsetenv("GEMINI_API_KEY");
  EXPECT_EQ(with["state"], "resolved");
  EXPECT_EQ(with.dump().find("secret-value"), std::string::npos);
}

TEST_F(Requirements, ResolverRefusesModelsThatAreNotReady) {
  auto resolver =
      make_library_resolver({{"home", home.path.string()}, {"hub_endpoint", "http://127.0.0.1:1"}});
  EXPECT_TRUE(resolver->handles("library:local/spm"));
  EXPECT_TRUE(resolver->handles("hf:org/repo:Q4_K_M"));
  EXPECT_FALSE(resolver->handles("/models/x.gguf"));
  auto good = resolver->resolve("library:local/spm", false);
  ASSERT_TRUE(good.ok()) << good.error().to_string();
  EXPECT_EQ(*good, lib->get("local/spm")->file);
  auto alien = resolver->resolve("library:local/alien", false);
  ASSERT_FALSE(alien.ok());
  EXPECT_EQ(alien.error().code(), ErrorCode::not_ready);
  EXPECT_NE(alien.error().message().find("architecture_supported"), std::string::npos)
      << alien.error().message();
  EXPECT_EQ(resolver->resolve("library:local/none", false).error().code(), ErrorCode::model_not_found);
  EXPECT_EQ(resolver->resolve("hf:org/repo:Q4_K_M", false).error().code(), ErrorCode::model_not_found);
}

TEST_F(Requirements, RemoteBackendsHonourTheConfiguredApiKeyEnv) {
  ::unsetenv("GEMINI_API_KEY");
  ::setenv("XERVO_TEST_GEMINI_KEY", "secret-value", 1);
  RequirementsQuery q{"", "gemini", {{"api_key_env", "XERVO_TEST_GEMINI_KEY"}}};
  auto with = resolve_model_dependency_requirements(*lib, "gemini-embedding-001", q);
  EXPECT_EQ(with["state"], "resolved") << with.dump(2);
  EXPECT_EQ((*find_requirement(with, "api_key_env"))["variable"], "XERVO_TEST_GEMINI_KEY");
  EXPECT_EQ(with.dump().find("secret-value"), std::string::npos);
  // The default variable does not stand in for the configured one.
  ::unsetenv("XERVO_TEST_GEMINI_KEY");
  ::setenv("GEMINI_API_KEY", "other-value", 1);
  auto without = resolve_model_dependency_requirements(*lib, "gemini-embedding-001", q);
  ::unsetenv("GEMINI_API_KEY");
  EXPECT_EQ(without["state"], "missing_requirements");
  ASSERT_FALSE(without["errors"].empty());
  EXPECT_NE(without["errors"][0]["message"].get<std::string>().find("XERVO_TEST_GEMINI_KEY"),
            std::string::npos)
      << without.dump(2);
}

TEST_F(Requirements, OpenAiServerOfOnesOwnNeedsNoKey) {
  ::unsetenv("OPENAI_API_KEY");
  ::unsetenv("OPENAI_BASE_URL");
  auto official =
      resolve_model_dependency_requirements(*lib, "gpt-4o-mini", RequirementsQuery{"", "openai", {}});
  EXPECT_EQ(official["state"], "missing_requirements");
  auto own = resolve_model_dependency_requirements(
      *lib, "qwen", RequirementsQuery{"", "openai", {{"base_url", "http://127.0.0.1:8081/v1"}}});
  EXPECT_EQ(own["state"], "resolved") << own.dump(2);
}

TEST_F(Requirements, ResolverTakesTheIdsModelsListPrints) {
  auto resolver =
      make_library_resolver({{"home", home.path.string()}, {"hub_endpoint", "http://127.0.0.1:1"}});
  EXPECT_TRUE(resolver->handles("local/spm"));
  EXPECT_FALSE(resolver->handles("local/not-there")) << "not in the library: left to the provider as a path";
  EXPECT_FALSE(resolver->handles("models/spm.gguf"));
  auto file = resolver->resolve("local/spm", false);
  ASSERT_TRUE(file.ok()) << file.error().to_string();
  EXPECT_EQ(*file, lib->get("local/spm")->file);
}

}  // namespace
}  // namespace xervo::testing
