// default_home(): the one resolution of XERVO_HOME that the library, the demo models and the CLI share.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "xervo/config.h"

namespace xervo {
namespace {

// Sets (or unsets, with nullopt) an environment variable for one test and restores it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value->c_str(), 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(DefaultHome, XervoHomeWins) {
  ScopedEnv home("HOME", "/home/someone");
  ScopedEnv xervo("XERVO_HOME", "/data/xervo");
  EXPECT_EQ(default_home(), std::filesystem::path("/data/xervo"));
}

TEST(DefaultHome, EmptyXervoHomeFallsBackToHome) {
  ScopedEnv home("HOME", "/home/someone");
  ScopedEnv xervo("XERVO_HOME", "");
  EXPECT_EQ(default_home(), std::filesystem::path("/home/someone/.local/share/xervo"));
}

TEST(DefaultHome, UnsetXervoHomeFallsBackToHome) {
  ScopedEnv home("HOME", "/home/someone");
  ScopedEnv xervo("XERVO_HOME", std::nullopt);
  EXPECT_EQ(default_home(), std::filesystem::path("/home/someone/.local/share/xervo"));
}

TEST(DefaultHome, EmptyWhenNeitherIsSet) {
  ScopedEnv home("HOME", std::nullopt);
  ScopedEnv xervo("XERVO_HOME", std::nullopt);
  EXPECT_TRUE(default_home().empty());
}

}  // namespace
}  // namespace xervo
